// The pull-through cache, manifests: GET/HEAD of a manifest whose name the upstreams claim (upstream/index.ts
// routes it) are answered from the local repository that caches it, which is filled from the upstream on a
// miss. By digest: immutable, cached forever once fetched. By tag: a tag younger than the upstream's `ttl`
// (its link's Last-Modified) is served as stored; an older one is checked with a HEAD upstream: the same
// digest is served (and the tag's age renewed), a new one fetched, stored byte for byte and the tag moved.
// The upstream down, throttling or refusing us: the cached manifest is served stale and the failure logged;
// nothing cached: the upstream's error, mapped to the spec's codes.
// A fetched manifest is stored the way a push stores one (bytes, then the repository's metadata object links
// it and moves the tag), but without the check that its blobs are present: a pull-through's blobs arrive
// when clients ask for them (mirror-blobs.ts). So the collector finds such manifests naming blobs the bucket
// does not hold yet; it marks what they name and sweeps nothing that is absent, so nothing changes for it.

import { log } from "../log";
import { digestBytes, formatDigest, parseDigest, type Digest } from "../oci/digest";
import { OciError, RegistryFault } from "../oci/errors";
import { parseManifest } from "../oci/manifest";
import { STORED_MANIFEST_ACCEPT } from "../oci/media-types";
import { parseReference } from "../oci/names";
import { subjectLink } from "../oci/referrers-tag";
import { unwrap } from "../oci/rpc";
import { UpstreamError, type MirrorRoute } from "../upstream";
import type { RegistryContext } from "./context";
import { getManifest } from "./manifests";
import { compareLexical } from "../storage/tags";
import { listTags, tagsAnswer } from "./tags";


/**
 * Where a pull of `repo` goes: null for a local repository, else its route upstream. Pushes never get here
 * (they are refused in a mirror's prefix: router.ts). The caller may read `repo`; the access policy must let
 * them read the cache too, so a policy over `hub/**` holds whichever way a name reaches it. The policy, not
 * the caller's token: a client holds a token for the name it asked for, and could not get one for a name it
 * never heard of.
 */
export async function mirrorRoute(ctx: RegistryContext, repo: string, blobHead = false): Promise<MirrorRoute | null> {
  const { upstreams } = ctx.pullThrough;
  if (!upstreams.enabled) return null;
  const route = upstreams.route(repo, ctx.url.searchParams.get("ns"));
  if (!route) return null;
  // A blob HEAD on a name only the default claims is a push's check before it uploads (pullers GET): local.
  if (route.fallback && (blobHead || (await ctx.storage.repositories.exists(repo)))) return null;
  if (route.cache !== repo && !ctx.access.canRead(route.cache)) {
    throw new OciError("DENIED", `${repo} is served from the cache repository ${route.cache}, which the access policy does not let you read`);
  }
  return route;
}

/** A manifest GET/HEAD (by the router, after the read check): local, or through the cache. */
export async function pullManifest(ctx: RegistryContext, repo: string, rawRef: string, req: Request, head: boolean): Promise<Response> {
  const route = await mirrorRoute(ctx, repo);
  if (!route) return getManifest(ctx, repo, rawRef, req, head);
  const ref = parseReference(rawRef, "read");
  try {
    if (ref.kind === "digest") {
      if (!(await ctx.storage.manifests.exists(route.cache, ref.digest))) await fetchManifest(ctx, route, rawRef, req, ref.digest, null);
    } else {
      await refreshTag(ctx, route, ref.tag, req);
    }
  } catch (e) {
    if (!(e instanceof UpstreamError)) throw e;
    // The default upstream does not have it: the name is a local one, answered as such (a push's HEAD first).
    if (route.fallback) return getManifest(ctx, repo, rawRef, req, head);
    throw upstreamFailure(e, rawRef);
  }
  return namespaced(await getManifest(ctx, route.cache, rawRef, req, head), route);
}

/** Answers carry the namespace that routed them (the spec's Registry Proxying). */
export function namespaced(res: Response, route: MirrorRoute): Response {
  if (route.namespace !== null) res.headers.set("OCI-Namespace", route.namespace);
  return res;
}

/**
 * In proxy mode, how old a tag confirmed unchanged upstream may get before its age is renewed: well inside
 * REGISTRY_PROXY_TTL (a quarter of it, at most an hour), so a tag in use is never evicted, at one renewal an
 * hour at most. Never, when nothing is evicted.
 */
function renewAfter(ctx: RegistryContext): number {
  const evict = ctx.pullThrough.upstreams.config.evictAfterMs;
  return evict === null || evict === 0 ? Number.POSITIVE_INFINITY : Math.min(3600_000, evict / 4);
}

/** Makes the cached tag current enough to serve, or leaves it as it is when the upstream cannot say (stale). */
async function refreshTag(ctx: RegistryContext, route: MirrorRoute, tag: string, req: Request): Promise<void> {
  const cached = await ctx.storage.tags.resolveAged(route.cache, tag);
  const now = ctx.pullThrough.upstreams.now();
  if (cached && now - cached.lastModified < route.upstream.ttlMs) return;
  if (cached && !route.upstream.onDemand) return;
  const client = ctx.pullThrough.upstreams.client(route.upstream);
  const accept = acceptOf(req);
  try {
    if (cached) {
      const upstreamDigest = await client.headManifest(route.remote, tag, accept);
      if (upstreamDigest === formatDigest(cached.digest)) {
        // Renews the tag's age: asked again after ttl. With ttl 0 (Distribution's proxy mode) every pull asks
        // anyway; there the age only tells REGISTRY_PROXY_TTL's eviction that the tag is in use, and renewing on
        // every warm pull would cost the metadata object's writes (3 S3 puts) each time: so now and then.
        if (route.upstream.ttlMs > 0 || now - cached.lastModified > renewAfter(ctx)) await link(ctx, route, cached.digest, null, tag);
        return;
      }
    }
    await fetchManifest(ctx, route, tag, req, null, tag);
  } catch (e) {
    // A tag BERTH_IMMUTABLE_TAGS covers in the cache is pinned to what was mirrored first: when it moves
    // upstream, the cache goes on serving that (an operator's guard against a re-pushed upstream tag).
    if (cached && e instanceof OciError && e.code === "DENIED") {
      log.warn(`pull-through: ${route.remote}:${tag} moved upstream, but ${route.cache}:${tag} is immutable; serving the pinned manifest`);
      return;
    }
    if (!(e instanceof UpstreamError)) throw e;
    if (cached && e.kind !== "missing") {
      log.warn(`pull-through: ${e.message} for ${route.remote}:${tag}; serving the cached ${route.cache}:${tag} (stale)`);
      ctx.pullThrough.observed({ action: "stale", upstream: route.upstream.name, repository: route.cache, what: "manifest" });
      return;
    }
    throw e;
  }
}

/** Fetches a manifest (by tag or digest), stores it byte for byte and links it (and the tag) in the cache. */
async function fetchManifest(ctx: RegistryContext, route: MirrorRoute, ref: string, req: Request, want: Digest | null, tag: string | null): Promise<void> {
  if (!route.upstream.onDemand) throw new OciError("MANIFEST_UNKNOWN", "manifest unknown to registry", { detail: { reference: ref.slice(0, 256) } });
  const got = await ctx.pullThrough.upstreams.client(route.upstream).getManifest(route.remote, ref, acceptOf(req));
  const digest = await digestBytes(want?.algorithm ?? "sha256", got.bytes);
  if (want && want.hex !== digest.hex) {
    log.warn(`pull-through: upstream ${route.upstream.name} sent a manifest for ${route.remote}@${formatDigest(want)} whose digest is ${formatDigest(digest)}`);
    throw new RegistryFault(`upstream ${route.upstream.name} sent a manifest that does not match its digest; nothing was stored`);
  }
  let manifest;
  try {
    manifest = parseManifest(got.bytes, got.mediaType);
  } catch (e) {
    const why = e instanceof OciError ? e.message : "unreadable";
    throw new RegistryFault(`upstream ${route.upstream.name} sent a manifest Berth cannot store: ${why}`);
  }
  const d = formatDigest(digest);
  // The bytes are vouched for before they are relied on, as a push does (an identical manifest may already
  // be in the bucket, old and unreferenced, when a collection is sweeping).
  await ctx.fence.vouch(route.cache, [d]);
  await ctx.storage.manifests.putData(digest, got.bytes, manifest.mediaType);
  await link(ctx, route, digest, subjectLink(manifest, d, got.bytes.byteLength), tag);
  ctx.pullThrough.observed({ action: "manifest.fill", upstream: route.upstream.name, repository: route.cache, digest: d, size: got.bytes.byteLength, tag });
}

/**
 * Links the manifest into the cache (and points `tag` at it) through the repository's metadata object, as
 * a push does. `checkedFresh`: there are no references to check again (their absence is expected), and the
 * bytes were just written, so the collector's delay keeps them.
 */
async function link(ctx: RegistryContext, route: MirrorRoute, digest: Digest, subject: ReturnType<typeof subjectLink>, tag: string | null): Promise<void> {
  const d = formatDigest(digest);
  const tags = tag === null ? [] : [tag];
  unwrap(
    await ctx.metadata(route.cache).linkManifest(route.cache, { digest: d, subject, tags, mayMove: true, ifMatch: null, ifNoneMatch: null, vouch: [d], checkedFresh: true }),
  );
  ctx.storage.manifests.noteLink(route.cache, parseDigest(d), true);
}

function acceptOf(req: Request): string {
  const a = req.headers.get("Accept");
  return a && a.trim() !== "" ? a : STORED_MANIFEST_ACCEPT; // the client's Accept said nothing
}

/** The upstream's failure in the spec's terms, for a client that has no cached copy to fall back on. */
export function upstreamFailure(e: UpstreamError, ref: string, blob = false): Error {
  switch (e.kind) {
    case "missing":
      return blob
        ? new OciError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: ref } })
        : new OciError("MANIFEST_UNKNOWN", "manifest unknown to registry", { detail: { reference: ref.slice(0, 256) } });
    case "throttled":
      return new OciError("TOOMANYREQUESTS", `${e.message}: too many requests`, { headers: e.retryAfter ? { "Retry-After": e.retryAfter } : {} });
    default:
      log.warn(`pull-through: ${e.message}`);
      return new RegistryFault(`${e.message}; nothing is cached for it`);
  }
}

/**
 * GET tags/list of a name the upstreams claim: the upstream's list, saved in the cache repository and served
 * from there for `ttl`; when the upstream cannot answer, the list saved last, else the tags cached locally.
 */
export async function pullTagList(ctx: RegistryContext, repo: string): Promise<Response> {
  const route = await mirrorRoute(ctx, repo);
  if (!route) return listTags(ctx, repo);
  const { tags } = ctx.storage;
  const now = ctx.pullThrough.upstreams.now();
  const saved = await tags.upstreamList(route.cache);
  let list = saved && now - saved.savedAt < route.upstream.ttlMs ? saved.tags : null;
  if (list === null) {
    try {
      // Sorted once, before it is saved: every list served here is then in the spec's order.
      list = (await ctx.pullThrough.upstreams.client(route.upstream).listTags(route.remote)).sort(compareLexical);
      await tags.saveUpstreamList(route.cache, list, now);
    } catch (e) {
      if (!(e instanceof UpstreamError)) throw e;
      if (route.fallback) return listTags(ctx, repo);
      if (e.kind === "missing") throw new OciError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name: repo } });
      log.warn(`pull-through: the tag list of ${route.remote} from ${route.upstream.name}: ${e.message}; serving what is cached`);
      ctx.pullThrough.observed({ action: "stale", upstream: route.upstream.name, repository: route.cache, what: "tags" });
      list = saved?.tags ?? (await tags.list(route.cache));
    }
  }
  return namespaced(tagsAnswer(ctx, repo, list), route);
}
