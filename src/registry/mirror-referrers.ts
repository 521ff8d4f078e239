// The pull-through cache, referrers: GET /v2/<name>/referrers/<digest> of a mirrored name lists what the
// upstream lists for the subject (its referrers API, or its referrers tag's index where it has no API) together
// with the referrers the cache repository holds. A signature or SBOM pushed upstream after the image was cached
// is seen within the upstream's `ttl`: the upstream's list is saved in the cache repository and served from
// there for `ttl`, then asked for again; when the upstream cannot answer, the list saved last is served (stale).
// Listed referrers are not fetched here: a client pulls the ones it wants by digest, through the cache
// (mirror.ts), which stores them and indexes them under their subject like a push does.

import { log } from "../log";
import type { Digest } from "../oci/digest";
import { referrerFromListing, type ReferrerDescriptor } from "../oci/referrers-tag";
import { UpstreamError } from "../upstream";
import type { RegistryContext } from "./context";
import { mirrorRoute, namespaced } from "./mirror";
import { listReferrers } from "./referrers";

/** Referrers of one subject taken from an upstream at most (a real list is a handful; a huge one is cut). */
const MAX_LISTED = 1000;

/** A referrers GET (by the router, after the read check): local, or merged with the upstream's list. */
export async function pullReferrers(ctx: RegistryContext, repo: string, subject: Digest): Promise<Response> {
  const route = await mirrorRoute(ctx, repo);
  if (!route) return listReferrers(ctx, repo, subject);
  const store = ctx.storage.referrers;
  const now = ctx.pullThrough.upstreams.now();
  const saved = await store.upstreamList(route.cache, subject);
  // What was saved is checked again when it is used (it is a bucket object like any other), and only then.
  let listed = saved && now - saved.savedAt < route.upstream.ttlMs ? checked(saved.manifests) : null;
  if (listed === null && route.upstream.onDemand) {
    try {
      const raw = await ctx.pullThrough.upstreams.client(route.upstream).listReferrers(route.remote, `${subject.algorithm}:${subject.hex}`);
      listed = checked(raw);
      await store.saveUpstreamList(route.cache, subject, listed, now);
    } catch (e) {
      if (!(e instanceof UpstreamError)) throw e;
      // The default upstream does not know the name: a local one, answered as such.
      if (route.fallback) return listReferrers(ctx, repo, subject);
      if (e.kind !== "missing") {
        log.warn(`pull-through: the referrers of ${route.remote}@${subject.algorithm}:${subject.hex} from ${route.upstream.name}: ${e.message}; serving what is cached`);
        ctx.pullThrough.observed({ action: "stale", upstream: route.upstream.name, repository: route.cache, what: "referrers" });
      }
    }
  }
  return namespaced(await listReferrers(ctx, route.cache, subject, listed ?? checked(saved?.manifests ?? [])), route);
}

/** The upstream's entries that are referrer descriptors, once each, at most MAX_LISTED. */
function checked(raw: readonly unknown[]): ReferrerDescriptor[] {
  const out = new Map<string, ReferrerDescriptor>();
  for (const v of raw) {
    const d = referrerFromListing(v);
    if (d && !out.has(d.digest)) out.set(d.digest, d);
    if (out.size >= MAX_LISTED) break;
  }
  return [...out.values()];
}
