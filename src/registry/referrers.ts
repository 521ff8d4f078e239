// GET /v2/<name>/referrers/<digest> (end-12a/12b): an OCI index of the manifests whose `subject` is the digest,
// optionally filtered by artifactType. Never 404 for an unknown subject: an empty index says "none".

import type { Digest } from "../oci/digest";
import { OCI_IMAGE_INDEX } from "../oci/media-types";
import { type RegistryContext, json } from "./context";

export async function listReferrers(ctx: RegistryContext, repo: string, subject: Digest): Promise<Response> {
  let manifests = await ctx.storage.referrers.list(repo, subject);
  const artifactType = ctx.url.searchParams.get("artifactType");
  const headers: Record<string, string> = { "Content-Type": OCI_IMAGE_INDEX };
  if (artifactType) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers["OCI-Filters-Applied"] = "artifactType";
  }
  return json({ schemaVersion: 2, mediaType: OCI_IMAGE_INDEX, manifests }, { headers });
}
