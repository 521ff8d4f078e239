// The distribution-spec's referrers tag schema, the fallback clients use on registries without the referrers
// API: the referrers of a subject are listed in an image index pushed under a tag derived from the subject's
// digest. Registries that enable the API must include the manifests listed there that have a valid subject
// (the spec's "Enabling the Referrers API"), which is how Berth serves a bucket Distribution wrote.
// Also the one descriptor a referrer is listed with, whichever way it was found.

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
