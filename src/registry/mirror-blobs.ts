// The pull-through cache, blobs: GET/HEAD of a blob in a mirrored name. A blob the cache repository links is
// answered like any other (307 to the bucket, or streamed). One whose bytes the bucket already holds (pulled
// for another repository) is linked, vouched for first. A miss is fetched from the upstream and streamed to
// the client while it is written to the blob's key (streams/tee.ts: memory stays bounded), hashed as it is
// written; the write is completed, and the link made, only once the digest of the stored bytes matched, so a
// wrong or cut-off upstream body stores nothing and the client gets a cut-off answer. A HEAD miss is answered
// from an upstream HEAD and stores nothing. Concurrent GETs of one missing blob in one cache repository cause
// one upstream fetch: the first claims it with the repository's metadata object (metadata/fills.ts), the others
// wait until it ends and are then answered from the bucket (or fetch themselves, if it failed).

import { describeError, log } from "../log";
import { formatDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { heldTee } from "../streams/tee";
import { UpstreamError } from "../upstream";
import { getBlob, headBlob } from "./blobs";
import type { RegistryContext } from "./context";
import { mirrorRoute, namespaced, upstreamFailure } from "./mirror";

/**
 * How long a claim on a fetch holds (the others wait at most this long). A fetch that takes longer may be
 * repeated by a waiter; a fetcher that died (its client gone, then its Worker) holds the others this long.
 */
const FILL_LEASE_MS = 5 * 60_000;

/** A blob GET/HEAD (by the router, after the read check): local, or through the cache. */
export async function pullBlob(ctx: RegistryContext, repo: string, digest: Digest, req: Request, head: boolean): Promise<Response> {
  const asLocal = () => (head ? headBlob(ctx, repo, digest) : getBlob(ctx, repo, digest, req));
  const route = await mirrorRoute(ctx, repo, head);
  if (!route) return asLocal();
  const { blobs } = ctx.storage;
  const cache = route.cache;
  const d = formatDigest(digest);
  const local = () => (head ? headBlob(ctx, cache, digest) : getBlob(ctx, cache, digest, req));
  if (await blobs.isLinked(cache, digest)) return namespaced(await local(), route);
  const fresh = await ctx.fence.vouch(cache, [d]);
  if (await blobs.stat(digest, fresh)) {
    await blobs.link(cache, digest);
    return namespaced(await local(), route);
  }
  if (!route.upstream.onDemand) throw new OciError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: d } });
  const client = ctx.pullThrough.upstreams.client(route.upstream);
  // The default upstream does not have it: the name is a local one, answered as such.
  const failed = (e: unknown) => (e instanceof UpstreamError ? (route.fallback ? asLocal() : Promise.reject(upstreamFailure(e, d, true))) : Promise.reject(e));
  if (head) {
    try {
      const size = await client.headBlob(route.remote, d);
      return namespaced(new Response(null, { status: 200, headers: blobHeaders(d, size) }), route);
    } catch (e) {
      return failed(e);
    }
  }
  // Single flight: while another request fetches this blob into the cache, wait for it, then serve what it stored.
  const fills = ctx.pullThrough.fills(cache);
  let claim = await fills.claimFill(d, FILL_LEASE_MS);
  if (claim === null) {
    await fills.awaitFill(d, FILL_LEASE_MS);
    if (await blobs.isLinked(cache, digest, true)) return namespaced(await local(), route);
    claim = await fills.claimFill(d, FILL_LEASE_MS); // the other fetch failed: this one fetches (claimed if it can)
  }
  const release = claim === null ? async () => {} : () => fills.releaseFill(d, claim!).catch(() => {});
  // A fetch that ended between the check above and the claim has stored it already.
  if (claim !== null && (await blobs.isLinked(cache, digest, true))) {
    await release();
    return namespaced(await local(), route);
  }
  try {
    const upstream = await client.getBlob(route.remote, d);
    const res = streamAndStore(ctx, route.upstream.name, cache, digest, upstream.body, upstream.size, release);
    ctx.pulled({ action: "blob.pull", repository: cache, digest: d });
    return namespaced(res, route);
  } catch (e) {
    await release();
    return failed(e);
  }
}

/** Answers with the upstream's bytes while they are written to the bucket; verified before they become visible. */
function streamAndStore(
  ctx: RegistryContext,
  upstream: string,
  cache: string,
  digest: Digest,
  body: ReadableStream<Uint8Array>,
  size: number | null,
  release: () => Promise<void>,
): Response {
  const d = formatDigest(digest);
  const tee = heldTee(body);
  const hash = ctx.pullThrough.hashing.running(digest.algorithm);
  const stored = ctx.storage.blobs
    .writeVerified(digest, tee.store, { partSize: ctx.cfg.s3.chunkSize, hash, size })
    .then(async (written) => {
      await ctx.storage.blobs.link(cache, digest);
      ctx.pullThrough.observed({ action: "blob.fill", upstream, repository: cache, digest: d, size: written });
    });
  // Waiters are released as soon as the bucket has it (or cannot), not when this client has read it all.
  ctx.waitUntil(
    stored.finally(release).then(
      () => tee.finish(null),
      (e) => {
        log.warn(`pull-through: ${cache}@${d} not stored: ${describeError(e)}`);
        return tee.finish(e);
      },
    ),
  );
  return new Response(tee.client, { status: 200, headers: blobHeaders(d, size) });
}

function blobHeaders(d: string, size: number | null): Record<string, string> {
  return {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": d,
    ETag: `"${d}"`,
    ...(size === null ? {} : { "Content-Length": String(size) }),
  };
}
