// GET /v2/<name>/tags/list (end-8a/8b): the repository's tags in lexical order, paginated with n/last.

import { OciError } from "../oci/errors";
import { type RegistryContext, json } from "./context";
import { paginate } from "./pagination";

export async function listTags(ctx: RegistryContext, repo: string): Promise<Response> {
  const tags = await ctx.storage.tags.list(repo);
  // As Distribution: a repository without tags (unknown, or holding only blobs or untagged manifests) is
  // unknown to the tags API, so both registries answer alike on a shared bucket.
  if (tags.length === 0) {
    throw new OciError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name: repo } });
  }
  const page = paginate(tags, ctx.url, `/v2/${repo}/tags/list`);
  return json({ name: repo, tags: page.items }, { headers: page.link ? { Link: page.link } : {} });
}
