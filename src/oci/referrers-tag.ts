// The distribution-spec's referrers tag schema, the fallback clients use on registries without the referrers
// API: the referrers of a subject are listed in an image index pushed under a tag derived from the subject's
// digest. Registries that enable the API must include the manifests listed there that have a valid subject
// (the spec's "Enabling the Referrers API"), which is how Berth serves a bucket Distribution wrote.
// Also the one descriptor a referrer is listed with, whichever way it was found.

import { formatDigest, parseDigest } from "./digest";
import type { ParsedManifest } from "./manifest";

/** A referrer as the referrers API lists it. */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * The referrers tag of a digest: the algorithm cut to 32 characters, "-", the encoded part cut to 64, with
 * every character a tag may not hold replaced by "-".
 */
export function referrersTag(digest: string): string {
  const at = digest.indexOf(":");
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "-");
  return `${clean(digest.slice(0, at).slice(0, 32))}-${clean(digest.slice(at + 1).slice(0, 64))}`;
}

/** Tags that may be referrers tags of a digest Berth supports (sha256, sha512). */
export function isReferrersTag(tag: string): boolean {
  return /^sha(256|512)-[a-f0-9]{64}$/.test(tag);
}

/** The referrers-index entry a manifest with a `subject` gets in its subject's index; null without one. */
export function subjectLink(m: ParsedManifest, digest: string, size: number): { digest: string; descriptor: ReferrerDescriptor } | null {
  return m.subject ? { digest: m.subject.digest, descriptor: referrerDescriptor(m, digest, size) } : null;
}

/** How a manifest with a subject is listed: its media type, digest, size, artifactType and annotations. */
export function referrerDescriptor(m: ParsedManifest, digest: string, size: number): ReferrerDescriptor {
  return {
    mediaType: m.mediaType,
    digest,
    size,
    ...(m.artifactType ? { artifactType: m.artifactType } : {}),
    ...(m.annotations ? { annotations: m.annotations } : {}),
  };
}

/** Media types, artifact types and annotation values longer than this are not a descriptor Berth passes on. */
const MAX_FIELD = 1024;

/**
 * A referrer descriptor another registry listed (its referrers API or its referrers tag's index), checked
 * field by field: null when it is not one (no digest of the spec's grammar, no media type, a size that is not
 * a byte count). Only the fields the referrers API lists are kept, so nothing else of the upstream's passes.
 */
export function referrerFromListing(v: unknown): ReferrerDescriptor | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const short = (s: unknown): s is string => typeof s === "string" && s !== "" && s.length <= MAX_FIELD;
  if (!short(o.mediaType) || typeof o.digest !== "string") return null;
  let digest: string;
  try {
    digest = formatDigest(parseDigest(o.digest)); // a digest Berth can fetch and serve (sha256, sha512)
  } catch {
    return null;
  }
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) return null;
  const out: ReferrerDescriptor = { mediaType: o.mediaType, digest, size: o.size };
  if (o.artifactType !== undefined) {
    if (!short(o.artifactType)) return null;
    out.artifactType = o.artifactType;
  }
  if (o.annotations !== undefined) {
    if (typeof o.annotations !== "object" || o.annotations === null || Array.isArray(o.annotations)) return null;
    const entries = Object.entries(o.annotations as Record<string, unknown>);
    if (!entries.every(([k, val]) => short(k) && typeof val === "string" && val.length <= MAX_FIELD)) return null;
    out.annotations = Object.fromEntries(entries) as Record<string, string>;
  }
  return out;
}
