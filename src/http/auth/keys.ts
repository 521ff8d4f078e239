// The keys of token authentication, from configuration text to WebCrypto keys: Berth's own signing key
// (PKCS#8 PEM, EC or RSA, or a private JWK), and an external issuer's public keys (a JWKS, or a PEM bundle of
// X.509 certificates as Distribution's `rootcertbundle`; der.ts cuts out their SubjectPublicKeyInfo, which
// WebCrypto imports). Parsing is synchronous (startup validation); importing is asynchronous (on first use,
// then cached).

import { ConfigError } from "../../config/values";
import { b64url, certificateSpki, fromB64url, pemBlocks, pkcs8Type, type KeyType } from "./der";

export { b64url, certificateSpki, fromB64url } from "./der";

// WebCrypto types spelled through the global `crypto` itself: src/ compiles with Workers' types, the tests with
// Node's, and the two name these types differently (or not at all).
type Subtle = typeof crypto.subtle;
/** A WebCrypto key. */
export type Key = Awaited<ReturnType<Subtle["importKey"]>>;
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
const MIN_RSA_BITS = 2048;

/** A public key from configuration: a JWK (from a JWKS) or the DER of a certificate. */
export interface PublicKeySpec {
  kid?: string;
  jwk?: Jwk;
  cert?: Uint8Array;
}

/** Berth's own private key, as configured; `alg` follows from the key type. */
export interface PrivateKeySpec {
  alg: JwsAlg;
  kid?: string;
  pkcs8?: Uint8Array;
  jwk?: Jwk;
}

// ---- configuration parsing (synchronous) ------------------------------------------------------------------

function isB64url(v: unknown): v is string {
  return typeof v === "string" && v !== "" && /^[A-Za-z0-9_-]+$/.test(v);
}

/** Checks a JWK's public members; returns its type, or a reason it is unusable. */
function jwkType(k: Record<string, unknown>): KeyType | string {
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

function defaultAlg(type: KeyType): JwsAlg {
  return type.kty === "EC" ? EC_ALG[type.crv]! : "RS256";
}

/** The algorithm a key is used with: its JWK `alg` when given (it must fit the key), else the key type's. */
function algFor(type: KeyType, declared: unknown, setting: string, where = ""): JwsAlg {
  if (declared === undefined) return defaultAlg(type);
  if (typeof declared !== "string" || !(ALLOWED_ALGS as readonly string[]).includes(declared) || !algMatchesKey(declared as JwsAlg, type)) {
    throw new ConfigError(setting, `${where}alg ${JSON.stringify(String(declared)).slice(0, 20)} does not fit a ${type.kty} key (accepted: ${ALLOWED_ALGS.join(", ")})`);
  }
  return declared as JwsAlg;
}

export function algMatchesKey(alg: JwsAlg, type: KeyType): boolean {
  return type.kty === "EC" ? EC_ALG[type.crv] === alg : alg.startsWith("RS") || alg.startsWith("PS");
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
    const alg = algFor(type, jwk.alg, setting);
    // Only the key's own members: a stray "ext", "key_ops" or "use" would make WebCrypto refuse the import.
    const members = type.kty === "EC" ? ["kty", "crv", "x", "y", "d"] : ["kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"];
    const clean = Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as unknown as Jwk;
    return { alg, kid: typeof jwk.kid === "string" && jwk.kid !== "" ? jwk.kid : undefined, jwk: clean };
  }
  let blocks: { label: string; der: Uint8Array }[];
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
  return { alg: defaultAlg(type), pkcs8: block.der };
}

/** REGISTRY_AUTH_TOKEN_JWKS: `{"keys": [...]}` of public keys. Unusable entries (enc keys, OKP) are skipped. */
export function parseJwks(text: string, setting: string): PublicKeySpec[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConfigError(setting, "is not valid JSON");
  }
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
    algFor(type, jwk.alg, setting, `keys[${i}]: `);
    out.push({ kid: typeof jwk.kid === "string" && jwk.kid !== "" ? jwk.kid : undefined, jwk: jwk as unknown as Jwk });
  });
  if (out.length === 0) throw new ConfigError(setting, "holds no usable signing key (EC or RSA)");
  return out;
}

/** REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: PEM certificates; other PEM blocks are ignored, as Distribution does. */
export function parseCertBundle(text: string, setting: string): PublicKeySpec[] {
  let blocks: { label: string; der: Uint8Array }[];
  try {
    blocks = pemBlocks(text);
  } catch (e) {
    throw new ConfigError(setting, `is not a valid PEM bundle (${e instanceof Error ? e.message : "unreadable"})`);
  }
  const out: PublicKeySpec[] = [];
  blocks.forEach((b, i) => {
    if (b.label !== "CERTIFICATE") return;
    try {
      certificateSpki(b.der); // validates: the key must be one WebCrypto can use
      out.push({ cert: b.der });
    } catch (e) {
      throw new ConfigError(setting, `certificate ${i + 1}: ${e instanceof Error ? e.message : "unreadable"}`);
    }
  });
  if (out.length === 0) throw new ConfigError(setting, "holds no PEM CERTIFICATE");
  return out;
}

// ---- importing (asynchronous) -----------------------------------------------------------------------------

type ImportParams = Parameters<Subtle["importKey"]>[2];
type SignParams = Parameters<Subtle["sign"]>[0];

function importParams(alg: JwsAlg, type: KeyType): ImportParams {
  const hash = `SHA-${alg.slice(2)}`;
  if (type.kty === "EC") return { name: "ECDSA", namedCurve: type.crv };
  return { name: alg.startsWith("PS") ? "RSA-PSS" : "RSASSA-PKCS1-v1_5", hash };
}

/** The public members only, as RFC 7638 orders them for thumbprints. */
function publicJwk(k: Jwk): Jwk {
  return k.kty === "EC" ? { crv: k.crv, kty: "EC", x: k.x, y: k.y } : { e: k.e, kty: "RSA", n: k.n };
}

async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** RFC 7638 thumbprint: what Distribution v3 uses as the key id of certificate keys. */
export async function thumbprint(jwk: Jwk): Promise<string> {
  return b64url(await sha256(JSON.stringify(publicJwk(jwk))));
}

/** libtrust's key id (Distribution v2, GitLab, docker_auth): base32 of SHA-256(SPKI)[:30] in groups of 4. */
export async function libtrustKeyId(spki: Uint8Array): Promise<string> {
  const h = (await sha256(spki)).slice(0, 30);
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let s = "";
  for (const b of h) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      s += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return s.match(/.{4}/g)!.join(":");
}

/** A trusted public key with every id it is known by; Keys are imported per algorithm on demand. */
export class TrustedKey {
  private readonly imported = new Map<JwsAlg, Promise<Key>>();
  constructor(
    readonly jwk: Jwk,
    readonly type: KeyType,
    readonly ids: readonly string[],
    readonly cert: Uint8Array | undefined,
    /** Set when the key may only be used with one algorithm (a JWK's `alg`). */
    readonly onlyAlg: JwsAlg | undefined,
  ) {}

  fits(alg: JwsAlg): boolean {
    return (this.onlyAlg === undefined || this.onlyAlg === alg) && algMatchesKey(alg, this.type);
  }

  key(alg: JwsAlg): Promise<Key> {
    let p = this.imported.get(alg);
    if (!p) {
      p = crypto.subtle.importKey("jwk", this.jwk, importParams(alg, this.type), false, ["verify"]);
      this.imported.set(alg, p);
    }
    return p;
  }

  /** Same public key (used for a token's embedded `jwk` header, which must be one of ours). */
  sameAs(jwk: Jwk): boolean {
    return JSON.stringify(publicJwk(jwk)) === JSON.stringify(publicJwk(this.jwk));
  }
}

function checkRsaSize(jwk: Jwk): void {
  if (jwk.kty === "RSA" && fromB64url(jwk.n ?? "").length * 8 < MIN_RSA_BITS) {
    throw new Error(`RSA keys must have at least ${MIN_RSA_BITS} bits`);
  }
}

/** Imports configured public keys and indexes them by kid, RFC 7638 thumbprint and libtrust id. */
export async function loadTrustedKeys(specs: readonly PublicKeySpec[]): Promise<TrustedKey[]> {
  const out: TrustedKey[] = [];
  for (const spec of specs) {
    let jwk: Jwk;
    let type: KeyType;
    let spki: Uint8Array;
    if (spec.cert) {
      ({ spki, type } = certificateSpki(spec.cert));
      const k = await crypto.subtle.importKey("spki", spki, importParams(defaultAlg(type), type), true, ["verify"]);
      jwk = publicJwk((await crypto.subtle.exportKey("jwk", k)) as Jwk);
    } else {
      const t = jwkType((spec.jwk ?? {}) as Record<string, unknown>);
      if (typeof t === "string") throw new Error(t);
      type = t;
      jwk = publicJwk(spec.jwk!);
      const k = await crypto.subtle.importKey("jwk", jwk, importParams(defaultAlg(type), type), true, ["verify"]);
      spki = new Uint8Array((await crypto.subtle.exportKey("spki", k)) as ArrayBuffer);
    }
    checkRsaSize(jwk);
    const ids = new Set<string>();
    if (spec.kid) ids.add(spec.kid);
    if (!spec.kid || spec.cert) {
      ids.add(await thumbprint(jwk));
      ids.add(await libtrustKeyId(spki));
    }
    const declared = spec.jwk?.alg as JwsAlg | undefined;
    out.push(new TrustedKey(jwk, type, [...ids], spec.cert, declared));
  }
  return out;
}

/** Berth's own key, imported for signing, with its public half for verifying what it signed. */
export interface LoadedSigningKey {
  alg: JwsAlg;
  kid: string;
  privateKey: Key;
  publicKey: TrustedKey;
}

export async function loadSigningKey(spec: PrivateKeySpec): Promise<LoadedSigningKey> {
  const type: KeyType = spec.jwk
    ? (jwkType(spec.jwk as unknown as Record<string, unknown>) as KeyType)
    : pkcs8Type(spec.pkcs8!);
  const params = importParams(spec.alg, type);
  // Imported once extractable only to read the public half; the signing key itself is not extractable.
  const extractable = spec.jwk
    ? await crypto.subtle.importKey("jwk", spec.jwk, params, true, ["sign"])
    : await crypto.subtle.importKey("pkcs8", spec.pkcs8!, params, true, ["sign"]);
  const pub = publicJwk((await crypto.subtle.exportKey("jwk", extractable)) as Jwk);
  checkRsaSize(pub);
  const privateKey = spec.jwk
    ? await crypto.subtle.importKey("jwk", spec.jwk, params, false, ["sign"])
    : await crypto.subtle.importKey("pkcs8", spec.pkcs8!, params, false, ["sign"]);
  const kid = spec.kid ?? (await thumbprint(pub));
  return { alg: spec.alg, kid, privateKey, publicKey: new TrustedKey(pub, type, [kid], undefined, spec.alg) };
}

/** Parameters of sign/verify for an algorithm. */
export function signParams(alg: JwsAlg): SignParams {
  const hash = `SHA-${alg.slice(2)}`;
  if (alg.startsWith("ES")) return { name: "ECDSA", hash };
  if (alg.startsWith("PS")) return { name: "RSA-PSS", saltLength: Number(alg.slice(2)) / 8 };
  return { name: "RSASSA-PKCS1-v1_5" };
}
