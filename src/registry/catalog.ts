// GET /v2/_catalog: every repository that holds manifests and that the caller may read, in lexical order,
// paginated with n/last.

import { type RegistryContext, json } from "./context";
import { paginate } from "./pagination";

export async function listRepositories(ctx: RegistryContext): Promise<Response> {
  // Filtered before paging, so every page holds only what the caller may read.
  const repos = (await ctx.storage.repositories.list()).filter((r) => ctx.access.canRead(r));
  const page = paginate(repos, ctx.url, "/v2/_catalog");
  return json({ repositories: page.items }, { headers: page.link ? { Link: page.link } : {} });
}
