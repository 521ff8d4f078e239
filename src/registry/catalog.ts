// GET /v2/_catalog: every repository that holds manifests, in lexical order, paginated with n/last.

import { type RegistryContext, json } from "./context";
import { paginate } from "./pagination";

export async function listRepositories(ctx: RegistryContext): Promise<Response> {
  const repos = await ctx.storage.repositories.list();
  const page = paginate(repos, ctx.url, "/v2/_catalog");
  return json({ repositories: page.items }, { headers: page.link ? { Link: page.link } : {} });
}
