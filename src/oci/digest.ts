// Content digests: parsing the `algorithm:encoded` strings clients send (URLs, query parameters, manifest
// descriptors), hashing bytes with WebCrypto, and comparing secrets in constant time. Pure logic, no I/O;
// runs in workerd and in Node (tests) alike, so only WebCrypto and TextEncoder are used.

import { OciError } from "./errors";

export type DigestAlgorithm = "sha256" | "sha512";

/**
 * A parsed, validated digest. A plain object (not a class, no methods) so it survives structured clone
 * and Durable Object RPC unchanged; use formatDigest() to get the canonical string.
 */
export interface Digest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex: 64 characters for sha256, 128 for sha512. */
  hex: string;
}

/** Hex length of each supported algorithm (image-spec: sha256 /[a-f0-9]{64}/, sha512 /[a-f0-9]{128}/). */
const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

const WEBCRYPTO_NAME: Record<DigestAlgorithm, string> = { sha256: "SHA-256", sha512: "SHA-512" };

// image-spec descriptor.md grammar. Neither pattern nests quantifiers, so they match in linear time.
const ALGORITHM_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const ENCODED_GRAMMAR = /^[a-zA-Z0-9=_-]+$/;

/** Longer than any digest we could accept (sha512 is 135 chars); checked first so huge input fails fast. */
const MAX_DIGEST_LENGTH = 256;

/** Canonical string form, e.g. "sha256:e3b0…". */
export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

export function isSupportedAlgorithm(a: string): a is DigestAlgorithm {
  return a === "sha256" || a === "sha512";
}

/** Shortened, printable copy of client input for error messages. */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

/**
 * Parses `algorithm:encoded`. Throws OciError DIGEST_INVALID (400) when the string breaks the image-spec
 * grammar, uses an algorithm other than sha256/sha512 (message starts "unsupported digest algorithm"), or
 * the encoded part is not exactly the right number of lowercase hex digits. Uppercase hex is refused: the
 * image-spec pins sha256/sha512 to lowercase, and accepting it would give one blob two names.
 */
export function parseDigest(raw: string): Digest {
  if (typeof raw !== "string" || raw.length === 0) {
    throw new OciError("DIGEST_INVALID", "invalid digest: empty");
  }
  if (raw.length > MAX_DIGEST_LENGTH) {
    throw new OciError("DIGEST_INVALID", `invalid digest: longer than ${MAX_DIGEST_LENGTH} characters`);
  }
  const colon = raw.indexOf(":");
  if (colon < 0) {
    throw new OciError("DIGEST_INVALID", `invalid digest ${shown(raw)}: expected <algorithm>:<encoded>`);
  }
  const algorithm = raw.slice(0, colon);
  const encoded = raw.slice(colon + 1);
  if (!ALGORITHM_GRAMMAR.test(algorithm) || !ENCODED_GRAMMAR.test(encoded)) {
    throw new OciError("DIGEST_INVALID", `invalid digest ${shown(raw)}: does not match <algorithm>:<encoded>`);
  }
  if (!isSupportedAlgorithm(algorithm)) throw unsupportedAlgorithm(algorithm);
  const want = HEX_LENGTH[algorithm];
  if (encoded.length !== want || !isLowerHex(encoded)) {
    throw new OciError(
      "DIGEST_INVALID",
      `invalid ${algorithm} digest ${shown(raw)}: expected ${want} lowercase hex characters`,
    );
  }
  return { algorithm, hex: encoded };
}

/**
 * The `digest-algorithm` of an upload POST (the spec's end-4c): which hash the session runs while bytes arrive.
 * Throws DIGEST_INVALID (400) for anything but sha256 and sha512: the spec asks for a 400 when a digest "uses
 * an unsupported algorithm", and DIGEST_INVALID is its one code about digests. sha384 is refused too: the
 * image-spec registers only sha256 and sha512, and a blob Berth cannot verify must not be accepted.
 */
export function parseAlgorithm(raw: string): DigestAlgorithm {
  if (isSupportedAlgorithm(raw)) return raw;
  if (!ALGORITHM_GRAMMAR.test(raw)) {
    throw new OciError("DIGEST_INVALID", `invalid digest algorithm ${shown(raw)}: does not match the image-spec's grammar`);
  }
  throw unsupportedAlgorithm(raw);
}

function unsupportedAlgorithm(algorithm: string): OciError {
  return new OciError("DIGEST_INVALID", `unsupported digest algorithm ${JSON.stringify(algorithm)} (supported: sha256, sha512)`);
}

/** WebCrypto's (and workerd DigestStream's) name of a supported algorithm. */
export function webCryptoName(algorithm: DigestAlgorithm): string {
  return WEBCRYPTO_NAME[algorithm];
}

/** The digest of a supported algorithm with a well-formed hex part (as read back from a key), else null. */
export function digestFromParts(algorithm: string, hex: string): Digest | null {
  if (!isSupportedAlgorithm(algorithm) || hex.length !== HEX_LENGTH[algorithm] || !isLowerHex(hex)) return null;
  return { algorithm, hex };
}

function isLowerHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const digit = c >= 48 && c <= 57; // 0-9
    const lower = c >= 97 && c <= 102; // a-f
    if (!digit && !lower) return false;
  }
  return true;
}

/** Hashes a whole buffer. For streams use the upload session's incremental hasher instead. */
export async function digestBytes(algorithm: DigestAlgorithm, bytes: Uint8Array | ArrayBuffer): Promise<Digest> {
  const hash = await crypto.subtle.digest(WEBCRYPTO_NAME[algorithm], bytes);
  return { algorithm, hex: hexOf(hash) };
}

const HEX_TABLE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of the bytes. */
export function hexOf(buf: ArrayBuffer | Uint8Array): string {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX_TABLE[bytes[i]!]!;
  return out;
}

const encoder = new TextEncoder();

/**
 * Compares two strings (tokens, HMACs, passwords) without an early exit, so the time taken does not reveal
 * where they first differ. The loop runs over the longer input; only the lengths can leak, which is the
 * usual accepted bound for secrets of fixed, public length.
 */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.max(x.length, y.length);
  let diff = x.length ^ y.length;
  for (let i = 0; i < n; i++) {
    // Out-of-range reads give undefined; `| 0` turns that into 0 without a data-dependent branch.
    diff |= (x[i]! | 0) ^ (y[i]! | 0);
  }
  return diff === 0;
}
