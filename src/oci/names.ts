// Validation of what clients put in URL paths: repository names (`<name>`), tags and the `<reference>`
// of /manifests/ (a tag or a digest). The router hands over RAW path segments (not percent-decoded), so
// anything encoded — `%2F`, `%2e%2e` — fails the grammar here instead of being smuggled into S3 keys.
// Matching is done by hand-written linear scans: no regex with nested quantifiers, no backtracking.

import { OciError } from "./errors";
import { parseDigest, type Digest } from "./digest";

/** Distribution's reference.NameTotalLengthMax; the spec's old text said "less than 256 characters". */
export const MAX_NAME_LENGTH = 255;
export const MAX_TAG_LENGTH = 128;

function isLowerAlnum(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57); // a-z 0-9
}

const ONLY_DASHES = /^-+$/;

/** Input quoted and cut short, for messages (the error serializer escapes it again as JSON). */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw);
}

/**
 * Why `raw` breaks the spec's `<name>` grammar
 *   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * or undefined when it matches. Two linear passes: the alphabet, then structure — every path component
 * must start and end with [a-z0-9] (so none starts with "_", which Distribution's layout reserves for
 * `_layers`, `_manifests`, `_uploads`), and every run of non-alphanumerics inside a component must be
 * exactly ".", "_", "__" or one or more "-".
 * Length is not checked here (validateRepositoryName does it first).
 */
export function nameGrammarError(raw: string): string | undefined {
  if (raw.length === 0) return "repository name is empty";
  // Pass 1: the alphabet. Reported first because "%" or "A" is the real problem, not where it sits.
  for (let j = 0; j < raw.length; j++) {
    const c = raw.charCodeAt(j);
    if (!isLowerAlnum(c) && c !== 46 && c !== 95 && c !== 45 && c !== 47) {
      // Report the whole code point, not half of a surrogate pair.
      const ch = String.fromCodePoint(raw.codePointAt(j)!);
      return `character ${JSON.stringify(ch)} is not allowed (only a-z, 0-9, ".", "_", "-" and "/")`;
    }
  }
  // Pass 2: structure, one path component at a time.
  let component = 0;
  let i = 0;
  for (;;) {
    let end = raw.indexOf("/", i);
    if (end < 0) end = raw.length;
    component++;
    if (end === i) return `path component ${component} is empty (leading, trailing or repeated "/")`;
    if (!isLowerAlnum(raw.charCodeAt(i)) || !isLowerAlnum(raw.charCodeAt(end - 1))) {
      return `path component ${component} must start and end with a lowercase letter or digit`;
    }
    // Runs of separators sit between alphanumerics (the component ends with one, so every run closes).
    let runStart = -1;
    for (let j = i; j < end; j++) {
      if (!isLowerAlnum(raw.charCodeAt(j))) {
        if (runStart < 0) runStart = j;
        continue;
      }
      if (runStart >= 0) {
        const run = raw.slice(runStart, j);
        if (run !== "." && run !== "_" && run !== "__" && !ONLY_DASHES.test(run)) {
          return `separator ${JSON.stringify(run)} is not allowed (use ".", "_", "__" or dashes)`;
        }
        runStart = -1;
      }
    }
    if (end === raw.length) return undefined;
    i = end + 1;
  }
}

/**
 * Returns `raw` when it is a valid repository name, else throws OciError NAME_INVALID (400) saying why.
 * Takes the raw path segment(s): "%2F", "..", uppercase, unicode and empty components all fail.
 */
export function validateRepositoryName(raw: string): string {
  if (typeof raw !== "string" || raw.length === 0) {
    throw new OciError("NAME_INVALID", "invalid repository name: empty");
  }
  if (raw.length > MAX_NAME_LENGTH) {
    throw new OciError(
      "NAME_INVALID",
      `invalid repository name: ${raw.length} characters, the limit is ${MAX_NAME_LENGTH}`,
    );
  }
  const why = nameGrammarError(raw);
  if (why !== undefined) {
    throw new OciError("NAME_INVALID", `invalid repository name ${shown(raw)}: ${why}`, {
      detail: { name: raw },
    });
  }
  return raw;
}

/**
 * How a bad tag is reported depends on what the client was doing (the spec has no TAG_INVALID code, and
 * its error table says `code` MUST be one of its 14 codes; Distribution's TAG_INVALID means "manifest tag
 * did not match URI", a schema1 notion):
 * - "write" (PUT /manifests/<tag>): 400 MANIFEST_INVALID — the upload cannot be accepted; the spec
 *   describes MANIFEST_INVALID as the code for a manifest upload that fails validation.
 * - "read" (GET/HEAD/DELETE /manifests/<tag>): 404 MANIFEST_UNKNOWN — the spec says `<reference>` "MUST
 *   NOT be in any other format", so no such manifest can exist; Distribution's router also answers 404
 *   for these paths, and the conformance suite accepts 400 or 404 for malformed references.
 * NAME_INVALID would be wrong: it means "invalid repository name".
 * "write" is the default because a 400 on a read is harmless, while a 404 on a write would mislead.
 */
export type ReferenceUse = "read" | "write";

const TAG_REST = /^[a-zA-Z0-9._-]*$/;

function tagError(raw: string, why: string, use: ReferenceUse): OciError {
  const message = `invalid tag ${shown(raw)}: ${why}`;
  return use === "read"
    ? new OciError("MANIFEST_UNKNOWN", message, { detail: { tag: raw.slice(0, 256) } })
    : new OciError("MANIFEST_INVALID", message, { detail: { tag: raw.slice(0, 256) } });
}

/** Returns `raw` when it matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, else throws (see ReferenceUse). */
export function validateTag(raw: string, use: ReferenceUse = "write"): string {
  if (typeof raw !== "string" || raw.length === 0) throw tagError("", "empty", use);
  if (raw.length > MAX_TAG_LENGTH) {
    throw tagError(raw, `${raw.length} characters, the limit is ${MAX_TAG_LENGTH}`, use);
  }
  const first = raw.charCodeAt(0);
  const firstOk =
    (first >= 97 && first <= 122) || (first >= 65 && first <= 90) || (first >= 48 && first <= 57) || first === 95;
  if (!firstOk) throw tagError(raw, 'must start with a letter, digit or "_"', use);
  if (!TAG_REST.test(raw)) {
    throw tagError(raw, 'only letters, digits, ".", "_" and "-" are allowed', use);
  }
  return raw;
}

export type Reference = { kind: "tag"; tag: string } | { kind: "digest"; digest: Digest };

/**
 * Clients do not percent-encode ":" in paths, but an HTTP library may; %3A is the only escape a valid
 * reference or digest can contain, so it alone is decoded (Go-based registries decode the whole path).
 */
export function decodeDigestSegment(raw: string): string {
  return raw.replace(/%3a/gi, ":");
}

/**
 * `<reference>` of /manifests/: a digest when it contains ":" (tags cannot), else a tag. A malformed digest
 * is always DIGEST_INVALID (400) — the spec requires 400 for a syntactically invalid digest on referrers,
 * and the conformance suite accepts 400 for `sha256:totallywrong`. A malformed tag: see ReferenceUse.
 */
export function parseReference(raw: string, use: ReferenceUse = "write"): Reference {
  const decoded = typeof raw === "string" ? decodeDigestSegment(raw) : raw;
  if (typeof decoded === "string" && decoded.includes(":")) {
    return { kind: "digest", digest: parseDigest(decoded) };
  }
  return { kind: "tag", tag: validateTag(decoded, use) };
}

/** A `<digest>` path segment (/blobs/<digest>, /referrers/<digest>, ?digest=, ?mount=): DIGEST_INVALID. */
export function parseDigestSegment(raw: string): Digest {
  return parseDigest(decodeDigestSegment(raw));
}
