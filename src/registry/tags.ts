// GET /v2/<name>/tags/list (end-8a/8b): the repository's tags in lexical order, paginated with n/last.

import { OciError } from "../oci/errors";
import { type RegistryContext, json } from "./context";
import { paginate } from "./pagination";

export async function listTags(ctx: RegistryContext, repo: string): Promise<Response> {
  const tags = await ctx.storage.tags.list(repo);
  // A repository that holds anything (blobs, untagged manifests) lists no tags; only one with nothing stored
  // is unknown. (Distribution answers NAME_UNKNOWN for both; the OCI conformance suite expects 200 once the
  // last tag of an existing repository is deleted.)
  if (tags.length === 0 && !(await ctx.storage.repositories.exists(repo))) {
    throw new OciError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name: repo } });
  }
  return tagsAnswer(ctx, repo, tags);
}

/** The answer for a list of tags already in the spec's order (compareLexical): one page (n/last), with a Link to the next. */
export function tagsAnswer(ctx: RegistryContext, repo: string, sorted: string[]): Response {
  const page = paginate(sorted, ctx.url, `/v2/${repo}/tags/list`);
  return json({ name: repo, tags: page.items }, { headers: page.link ? { Link: page.link } : {} });
}
