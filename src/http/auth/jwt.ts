// JSON Web Tokens of the Docker token flow: signing Berth's own access and refresh tokens, and verifying
// bearer tokens — Berth's or an external issuer's — the way Distribution's token access controller does:
// the algorithm must be on an allow-list (never "none", never HS*), the key must be one the operator
// trusts (by `x5c` leaf certificate, embedded `jwk`, or `kid`), and `iss`, `aud`, `exp` and `nbf` must hold,
// with Distribution's 60 s leeway for clock skew. jose signs and checks signatures; which key, and the claims,
// are decided here. A token is parsed once (parseJwt): the caller reads `iss` from it to choose the keys, then
// verifies the same parse. Errors say what failed, never the token.

import { decode as fromB64url, encode as b64url } from "jose/base64url";
import { CompactSign } from "jose/jws/compact/sign";
import { flattenedVerify } from "jose/jws/flattened/verify";
import { ALLOWED_ALGS, type JwsAlg } from "../../config/keys";
import { thumbprint, type LoadedSigningKey, type TrustedKey } from "./keys";

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

/** Signs `claims` with Berth's key; the header names the algorithm and the key id. */
export function signJwt(claims: Record<string, unknown>, key: LoadedSigningKey): Promise<string> {
  return new CompactSign(enc.encode(JSON.stringify(claims)))
    .setProtectedHeader({ typ: "JWT", alg: key.alg, kid: key.kid })
    .sign(key.privateKey);
}

/** A random JWT id (128 bits). */
export function newJti(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(16)));
}

/** A compact JWS, split and decoded but not verified: what `iss` says only chooses the keys to verify with. */
export interface ParsedJwt {
  header: Record<string, unknown>;
  claims: JwtClaims;
  /** The three encoded parts, as signed. */
  parts: { protected: string; payload: string; signature: string };
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    if (part === "" || !B64URL.test(part)) throw new Error();
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(fromB64url(part)));
  } catch {
    throw new JwtError(`malformed ${what}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new JwtError(`malformed ${what}`);
  return v as Record<string, unknown>;
}

/** Splits and decodes a compact JWT; throws JwtError when it is not one. */
export function parseJwt(token: string): ParsedJwt {
  if (token.length > MAX_TOKEN_LENGTH) throw new JwtError("too long");
  const split = token.split(".");
  if (split.length !== 3) throw new JwtError("not a signed JWT");
  const [h, c, s] = split as [string, string, string];
  // An empty signature is well-formed (and then wrong); a length of 4n+1 is no base64 at all.
  if (!B64URL.test(s) || s.length % 4 === 1) throw new JwtError("malformed signature");
  return { header: decodeJson(h, "header"), claims: decodeJson(c, "claims"), parts: { protected: h, payload: c, signature: s } };
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
 * (must be one of the trusted keys: never trusted for being embedded), or a `kid`.
 */
async function findKey(header: Record<string, unknown>, keys: readonly TrustedKey[]): Promise<TrustedKey> {
  if (header.x5c !== undefined) {
    const leaf = Array.isArray(header.x5c) ? standardBase64(header.x5c[0]) : null;
    if (leaf === null) throw new JwtError("malformed x5c header");
    const k = keys.find((t) => t.cert !== undefined && sameBytes(t.cert, leaf));
    if (!k) throw new JwtError("signing certificate is not trusted");
    return k;
  }
  if (header.jwk !== undefined) {
    if (typeof header.jwk !== "object" || header.jwk === null) throw new JwtError("malformed jwk header");
    // A JWK jose cannot take a thumbprint of (no such key type, members missing) is no key of ours either.
    const thumb = await thumbprint(header.jwk as { kty: string }).catch(() => null);
    const k = keys.find((t) => t.thumbprint === thumb);
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

/** Verifies signature and standard claims of a token (or of its parse); returns the claims or throws JwtError. */
export async function verifyJwt(token: string | ParsedJwt, opts: VerifyOptions): Promise<JwtClaims> {
  const { header, claims, parts } = typeof token === "string" ? parseJwt(token) : token;
  const alg = header.alg;
  if (typeof alg !== "string" || !(ALLOWED_ALGS as readonly string[]).includes(alg)) {
    throw new JwtError(`algorithm ${JSON.stringify(String(alg)).slice(0, 20)} is not accepted`);
  }
  // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
  if (header.crit !== undefined) throw new JwtError("unsupported critical header");
  const key = await findKey(header, opts.keys);
  if (!key.fits(alg as JwsAlg)) throw new JwtError("algorithm does not fit the signing key");
  try {
    await flattenedVerify(parts, await key.key(alg as JwsAlg), { algorithms: [alg] });
  } catch {
    throw new JwtError("bad signature");
  }

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
