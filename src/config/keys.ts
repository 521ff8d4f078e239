// The key settings of token authentication, read and validated at startup: Berth's own signing key
// (BERTH_AUTH_TOKEN_KEY: PKCS#8 PEM, EC or RSA, or a private JWK), and an external issuer's public keys
// (REGISTRY_AUTH_TOKEN_JWKS, a JWK set; REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE, PEM certificates as Distribution's
// `rootcertbundle`). Parsing only, synchronous, and it settles each key's algorithm; importing the keys (with
// jose, asynchronously, on first use) is http/auth/keys.ts's. Errors name the setting and never quote it.

import { certificateSpki, pemBlocks, pkcs8Type, type KeyType, type PemBlock } from "./der";
import { ConfigError, parseJsonSetting } from "./values";

export type { KeyType } from "./der";

/** The JWK members Berth reads and writes (EC and RSA keys). */
export interface Jwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  d?: string;
  alg?: string;
  kid?: string;
  [member: string]: unknown;
}

export type JwsAlg = "ES256" | "ES384" | "ES512" | "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512";
/** Every algorithm Berth accepts. Never "none", never HS*: a public key must not double as an HMAC secret. */
export const ALLOWED_ALGS: readonly JwsAlg[] = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

const EC_ALG: Record<string, JwsAlg> = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };

/** A trusted public key from configuration: a JWK (from a JWKS) or a certificate (from the bundle). */
export interface PublicKeySpec {
  type: KeyType;
  /** A JWK's declared `alg`: then the only algorithm the key may verify. */
  alg?: JwsAlg;
  kid?: string;
  /** The published JWK (JWKS entries). */
  jwk?: Jwk;
  /** The certificate's DER (bundle entries): a token's x5c leaf must be exactly this. */
  cert?: Uint8Array;
  /** The same certificate as PEM, for importing. */
  certPem?: string;
}

/** Berth's own private key, as configured; `alg` follows from the key type (or a JWK's `alg`). A secret. */
export interface PrivateKeySpec {
  alg: JwsAlg;
  type: KeyType;
  kid?: string;
  /** PKCS#8 "PRIVATE KEY" PEM. */
  pkcs8Pem?: string;
  /** A private JWK, reduced to the key's own members. */
  jwk?: Jwk;
}

function isB64url(v: unknown): v is string {
  return typeof v === "string" && v !== "" && /^[A-Za-z0-9_-]+$/.test(v);
}

/** Checks a JWK's public members; returns its type, or a reason it is unusable. */
export function jwkType(k: Record<string, unknown>): KeyType | string {
  if (k.kty === "EC") {
    if (typeof k.crv !== "string" || !EC_ALG[k.crv]) return "EC keys must use crv P-256, P-384 or P-521";
    if (!isB64url(k.x) || !isB64url(k.y)) return "EC key without x and y";
    return { kty: "EC", crv: k.crv };
  }
  if (k.kty === "RSA") {
    if (!isB64url(k.n) || !isB64url(k.e)) return "RSA key without n and e";
    return { kty: "RSA" };
  }
  return `kty ${JSON.stringify(String(k.kty))} is not supported (use EC or RSA)`;
}

/** The algorithm a key of this type is used with unless it says otherwise (RSA: RS256). */
export function defaultAlg(type: KeyType): JwsAlg {
  return type.kty === "EC" ? EC_ALG[type.crv]! : "RS256";
}

export function algMatchesKey(alg: JwsAlg, type: KeyType): boolean {
  return type.kty === "EC" ? EC_ALG[type.crv] === alg : alg.startsWith("RS") || alg.startsWith("PS");
}

/** A JWK's declared `alg`, which must fit the key; undefined when it declares none. */
function declaredAlg(type: KeyType, declared: unknown, setting: string, where = ""): JwsAlg | undefined {
  if (declared === undefined) return undefined;
  if (typeof declared !== "string" || !(ALLOWED_ALGS as readonly string[]).includes(declared) || !algMatchesKey(declared as JwsAlg, type)) {
    throw new ConfigError(setting, `${where}alg ${JSON.stringify(String(declared)).slice(0, 20)} does not fit a ${type.kty} key (accepted: ${ALLOWED_ALGS.join(", ")})`);
  }
  return declared as JwsAlg;
}

function kidOf(jwk: Record<string, unknown>): string | undefined {
  return typeof jwk.kid === "string" && jwk.kid !== "" ? jwk.kid : undefined;
}

/**
 * BERTH_AUTH_TOKEN_KEY: a PKCS#8 PEM ("BEGIN PRIVATE KEY") of an EC (P-256/384/521) or RSA key, or a private
 * JWK. Errors describe the problem and never quote the value.
 */
export function parsePrivateKey(text: string, setting: string): PrivateKeySpec {
  const t = text.trim();
  if (t.startsWith("{")) {
    let k: unknown;
    try {
      k = JSON.parse(t);
    } catch {
      throw new ConfigError(setting, "looks like a JWK but is not valid JSON");
    }
    if (typeof k !== "object" || k === null || Array.isArray(k)) throw new ConfigError(setting, "must be a JWK object");
    const jwk = k as Record<string, unknown>;
    const type = jwkType(jwk);
    if (typeof type === "string") throw new ConfigError(setting, type);
    if (!isB64url(jwk.d)) throw new ConfigError(setting, "is a public JWK; the signing key needs its private part (d)");
    const alg = declaredAlg(type, jwk.alg, setting) ?? defaultAlg(type);
    // Only the key's own members: a stray "ext", "key_ops" or "use" would make the import refuse it.
    const members = type.kty === "EC" ? ["kty", "crv", "x", "y", "d"] : ["kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"];
    const clean = Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as unknown as Jwk;
    return { alg, type, kid: kidOf(jwk), jwk: clean };
  }
  let blocks: PemBlock[];
  try {
    blocks = pemBlocks(t);
  } catch (e) {
    throw new ConfigError(setting, `is not a valid PEM key (${e instanceof Error ? e.message : "unreadable"})`);
  }
  const block = blocks[0];
  if (!block || blocks.length !== 1) throw new ConfigError(setting, "must hold exactly one PEM private key or a JWK");
  if (block.label === "EC PRIVATE KEY" || block.label === "RSA PRIVATE KEY") {
    throw new ConfigError(setting, `is in ${block.label.split(" ")[0]}-specific form; convert it with \`openssl pkcs8 -topk8 -nocrypt -in key.pem\``);
  }
  if (block.label !== "PRIVATE KEY") throw new ConfigError(setting, `must be an unencrypted PKCS#8 "PRIVATE KEY", got "${block.label}"`);
  let type: KeyType;
  try {
    type = pkcs8Type(block.der);
  } catch (e) {
    throw new ConfigError(setting, `unusable key: ${e instanceof Error ? e.message : "unreadable"}`);
  }
  return { alg: defaultAlg(type), type, pkcs8Pem: block.pem };
}

/** REGISTRY_AUTH_TOKEN_JWKS: `{"keys": [...]}` of public keys. Unusable entries (enc keys, OKP) are skipped. */
export function parseJwks(text: string, setting: string): PublicKeySpec[] {
  const doc = parseJsonSetting(setting, text);
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new ConfigError(setting, 'must be a JWK set: {"keys": [...]}');
  const out: PublicKeySpec[] = [];
  keys.forEach((k: unknown, i) => {
    if (typeof k !== "object" || k === null) throw new ConfigError(setting, `keys[${i}] is not an object`);
    const jwk = k as Record<string, unknown>;
    if (jwk.d !== undefined) throw new ConfigError(setting, `keys[${i}] contains a private key; publish only public keys`);
    if (jwk.use !== undefined && jwk.use !== "sig") return;
    const type = jwkType(jwk);
    if (typeof type === "string") return;
    const alg = declaredAlg(type, jwk.alg, setting, `keys[${i}]: `);
    out.push({ type, alg, kid: kidOf(jwk), jwk: jwk as unknown as Jwk });
  });
  if (out.length === 0) throw new ConfigError(setting, "holds no usable signing key (EC or RSA)");
  return out;
}

/** REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: PEM certificates; other PEM blocks are ignored, as Distribution does. */
export function parseCertBundle(text: string, setting: string): PublicKeySpec[] {
  let blocks: PemBlock[];
  try {
    blocks = pemBlocks(text);
  } catch (e) {
    throw new ConfigError(setting, `is not a valid PEM bundle (${e instanceof Error ? e.message : "unreadable"})`);
  }
  const out: PublicKeySpec[] = [];
  blocks.forEach((b, i) => {
    if (b.label !== "CERTIFICATE") return;
    let type: KeyType;
    try {
      ({ type } = certificateSpki(b.der)); // validates: the key must be one Berth can use
    } catch (e) {
      throw new ConfigError(setting, `certificate ${i + 1}: ${e instanceof Error ? e.message : "unreadable"}`);
    }
    out.push({ type, cert: b.der, certPem: b.pem });
  });
  if (out.length === 0) throw new ConfigError(setting, "holds no PEM CERTIFICATE");
  return out;
}
