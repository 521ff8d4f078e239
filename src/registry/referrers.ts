// GET /v2/<name>/referrers/<digest> (end-12a/12b): an OCI index of the manifests whose `subject` is the digest,
// optionally filtered by artifactType. Never 404 for an unknown subject: an empty index says "none". Besides
// Berth's own index, the manifests a client listed under the subject's referrers tag (a bucket Distribution
// wrote, where clients fell back to the tag schema) are included when their subject is valid, as the spec's
// upgrade procedure requires: so a subject is answered whole before the backfill job has reached it. A
// pull-through cache adds what its upstream lists (mirror-referrers.ts).

import { formatDigest, type Digest } from "../oci/digest";
import { OCI_IMAGE_INDEX } from "../oci/media-types";
import { referrersTag, type ReferrerDescriptor } from "../oci/referrers-tag";
import { taggedReferrers } from "../storage/tagged-referrers";
import { type RegistryContext, json } from "./context";

/** `listed`: referrers known from elsewhere (a pull-through cache's upstream), merged in by digest. */
export async function listReferrers(ctx: RegistryContext, repo: string, subject: Digest, listed: readonly ReferrerDescriptor[] = []): Promise<Response> {
  const d = formatDigest(subject);
  const [indexed, tagged] = await Promise.all([ctx.storage.referrers.list(repo, subject), taggedReferrers(ctx.storage, repo, referrersTag(d))]);
  const seen = new Set(indexed.map((m) => m.digest));
  const extra: ReferrerDescriptor[] = [];
  for (const desc of [...tagged.filter((t) => formatDigest(t.subject) === d).map((t) => t.descriptor), ...listed]) {
    if (seen.has(desc.digest)) continue;
    seen.add(desc.digest);
    extra.push(desc);
  }
  let manifests = extra.length === 0 ? indexed : [...indexed, ...extra].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  const artifactType = ctx.url.searchParams.get("artifactType");
  const headers: Record<string, string> = { "Content-Type": OCI_IMAGE_INDEX };
  if (artifactType) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers["OCI-Filters-Applied"] = "artifactType";
  }
  return json({ schemaVersion: 2, mediaType: OCI_IMAGE_INDEX, manifests }, { headers });
}
