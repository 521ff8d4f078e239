// JSON Web Tokens of the Docker token flow: signing Berth's own access and refresh tokens, and verifying
// bearer tokens — Berth's or an external issuer's — the way Distribution's token access controller does:
// the algorithm must be on an allow-list (never "none", never HS*), the key must be one the operator
// trusts (by `x5c` leaf certificate, embedded `jwk`, or `kid`), and `iss`, `aud`, `exp` and `nbf` must hold,
// with Distribution's 60 s leeway for clock skew. Errors say what failed, never the token.

import { ALLOWED_ALGS, b64url, fromB64url, signParams, type Jwk, type JwsAlg, type LoadedSigningKey, type TrustedKey } from "./keys";

export interface JwtClaims {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  jti?: unknown;
  [claim: string]: unknown;
}

/** A token that must not be accepted; `reason` is safe to show (it never quotes the token). */
export class JwtError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = "JwtError";
  }
}

/** Clock skew tolerated on exp and nbf, as Distribution's token.Leeway. */
export const LEEWAY_SECONDS = 60;
/** Longer tokens are refused before any parsing (a real one is well under 4 KiB; Berth's own stay under 32). */
const MAX_TOKEN_LENGTH = 64 * 1024;

const enc = new TextEncoder();

function b64json(v: unknown): string {
  return b64url(enc.encode(JSON.stringify(v)));
}

/** Signs `claims` with Berth's key; the header names the algorithm and the key id. */
export async function signJwt(claims: Record<string, unknown>, key: LoadedSigningKey): Promise<string> {
  const data = `${b64json({ typ: "JWT", alg: key.alg, kid: key.kid })}.${b64json(claims)}`;
  const sig = await crypto.subtle.sign(signParams(key.alg), key.privateKey, enc.encode(data));
  return `${data}.${b64url(new Uint8Array(sig))}`;
}

/** A random JWT id (128 bits). */
export function newJti(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(16)));
}

interface Parsed {
  header: Record<string, unknown>;
  claims: JwtClaims;
  signingInput: string;
  signature: Uint8Array;
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(fromB64url(part)));
  } catch {
    throw new JwtError(`malformed ${what}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new JwtError(`malformed ${what}`);
  return v as Record<string, unknown>;
}

function parse(token: string): Parsed {
  if (token.length > MAX_TOKEN_LENGTH) throw new JwtError("too long");
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtError("not a signed JWT");
  const [h, c, s] = parts as [string, string, string];
  let signature: Uint8Array;
  try {
    signature = fromB64url(s);
  } catch {
    throw new JwtError("malformed signature");
  }
  return { header: decodeJson(h, "header"), claims: decodeJson(c, "claims"), signingInput: `${h}.${c}`, signature };
}

/**
 * The `iss` claim, unverified: only to choose which keys to verify with (Berth's own or the external
 * issuer's). Undefined when the token cannot be parsed.
 */
export function peekIssuer(token: string): string | undefined {
  try {
    const { claims } = parse(token);
    return typeof claims.iss === "string" ? claims.iss : undefined;
  } catch {
    return undefined;
  }
}

function standardBase64(s: unknown): Uint8Array | null {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  try {
    return Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Which trusted key signed the token, in Distribution's order of preference: an `x5c` chain (its leaf must be
 * one of the trusted certificates — Berth does not build chains through intermediates), an embedded `jwk`
 * (must be one of the trusted keys), or a `kid`.
 */
function findKey(header: Record<string, unknown>, keys: readonly TrustedKey[]): TrustedKey {
  if (header.x5c !== undefined) {
    const leaf = Array.isArray(header.x5c) ? standardBase64(header.x5c[0]) : null;
    if (leaf === null) throw new JwtError("malformed x5c header");
    const k = keys.find((t) => t.cert !== undefined && sameBytes(t.cert, leaf));
    if (!k) throw new JwtError("signing certificate is not trusted");
    return k;
  }
  if (header.jwk !== undefined) {
    if (typeof header.jwk !== "object" || header.jwk === null) throw new JwtError("malformed jwk header");
    const k = keys.find((t) => t.sameAs(header.jwk as Jwk));
    if (!k) throw new JwtError("signing key is not trusted");
    return k;
  }
  if (typeof header.kid === "string" && header.kid !== "") {
    const k = keys.find((t) => t.ids.includes(header.kid as string));
    if (!k) throw new JwtError("unknown key id");
    return k;
  }
  throw new JwtError("no key id");
}

export interface VerifyOptions {
  /** The keys trusted for this issuer. */
  keys: readonly TrustedKey[];
  issuer: string;
  audience: string;
  /** Current time in milliseconds. */
  nowMs: number;
  leewaySeconds?: number;
}

/** Verifies signature and standard claims; returns the claims or throws JwtError. */
export async function verifyJwt(token: string, opts: VerifyOptions): Promise<JwtClaims> {
  const { header, claims, signingInput, signature } = parse(token);
  const alg = header.alg;
  if (typeof alg !== "string" || !(ALLOWED_ALGS as readonly string[]).includes(alg)) {
    throw new JwtError(`algorithm ${JSON.stringify(String(alg)).slice(0, 20)} is not accepted`);
  }
  // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
  if (header.crit !== undefined) throw new JwtError("unsupported critical header");
  const key = findKey(header, opts.keys);
  if (!key.fits(alg as JwsAlg)) throw new JwtError("algorithm does not fit the signing key");
  let ok: boolean;
  try {
    ok = await crypto.subtle.verify(signParams(alg as JwsAlg), await key.key(alg as JwsAlg), signature, enc.encode(signingInput));
  } catch {
    ok = false;
  }
  if (!ok) throw new JwtError("bad signature");

  if (claims.iss !== opts.issuer) throw new JwtError("untrusted issuer");
  const aud = claims.aud;
  if (!(aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience)))) {
    throw new JwtError("token is meant for another service");
  }
  const now = opts.nowMs / 1000;
  const leeway = opts.leewaySeconds ?? LEEWAY_SECONDS;
  if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) throw new JwtError("no expiry");
  if (now > claims.exp + leeway) throw new JwtError("expired");
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== "number" || !Number.isFinite(claims.nbf)) throw new JwtError("malformed nbf");
    if (now < claims.nbf - leeway) throw new JwtError("not valid yet");
  }
  return claims;
}
