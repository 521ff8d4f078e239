// Reads the referrers a client recorded with the referrers tag schema (oci/referrers-tag.ts): the index
// under the tag, then each manifest it lists, kept only if the repository holds it and its own `subject`
// has that tag (the spec's "valid subject": an index entry is a client's claim, the manifest is the fact).
// Used by the referrers API for subjects Berth did not index and by the backfill job that indexes them.

import { formatDigest, parseDigest, type Digest } from "../oci/digest";
import { parseManifest } from "../oci/manifest";
import { referrerDescriptor, referrersTag, type ReferrerDescriptor } from "../oci/referrers-tag";
import { mapLimit } from "./limit";
import type { ManifestStore } from "./manifests";
import type { TagStore } from "./tags";

/** Manifests read from one tag's index at most (a referrers index is small; a huge one is not trusted whole). */
const MAX_LISTED = 1000;

export interface TaggedReferrer {
  subject: Digest;
  descriptor: ReferrerDescriptor;
}

export async function taggedReferrers(stores: { tags: TagStore; manifests: ManifestStore }, repo: string, tag: string): Promise<TaggedReferrer[]> {
  const indexDigest = await stores.tags.resolve(repo, tag).catch(() => null);
  if (!indexDigest) return [];
  const index = await stores.manifests.get(repo, indexDigest);
  if (!index) return [];
  let listed: string[];
  try {
    listed = parseManifest(index.bytes, index.contentType).manifests.map((d) => d.digest);
  } catch {
    return []; // not a valid image index: the spec says to assume there are no referrers
  }
  const found = await mapLimit([...new Set(listed)].slice(0, MAX_LISTED), 6, async (raw): Promise<TaggedReferrer | null> => {
    let digest: Digest;
    try {
      digest = parseDigest(raw);
    } catch {
      return null;
    }
    const stored = await stores.manifests.get(repo, digest);
    if (!stored) return null;
    try {
      const m = parseManifest(stored.bytes, stored.contentType);
      if (!m.subject || referrersTag(m.subject.digest) !== tag) return null;
      return { subject: parseDigest(m.subject.digest), descriptor: referrerDescriptor(m, formatDigest(digest), stored.bytes.byteLength) };
    } catch {
      return null;
    }
  });
  return found.filter((r): r is TaggedReferrer => r !== null);
}
