// The pull-through cache, blobs: GET/HEAD of a blob in a mirrored name. A blob the cache repository links is
// answered like any other (307 to the bucket, or streamed). One whose bytes the bucket already holds (pulled
// for another repository) is linked, vouched for first. A miss is fetched from the upstream and streamed to
// the client while it is written to the blob's key (streams/tee.ts: memory stays bounded), hashed as it is
// written; the write is completed, and the link made, only once the digest of the stored bytes matched, so a
// wrong or cut-off upstream body stores nothing and the client gets a cut-off answer. A HEAD miss is answered
// from an upstream HEAD and stores nothing. Not yet: one upstream fetch for concurrent pulls of one blob.

import { formatDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { heldTee } from "../streams/tee";
import { UpstreamError } from "../upstream";
import { getBlob, headBlob } from "./blobs";
import type { RegistryContext } from "./context";
import { mirrorRoute, namespaced, upstreamFailure } from "./mirror";

/** A blob GET/HEAD (by the router, after the read check): local, or through the cache. */
export async function pullBlob(ctx: RegistryContext, repo: string, digest: Digest, req: Request, head: boolean): Promise<Response> {
  const route = await mirrorRoute(ctx, repo);
  if (!route) return head ? headBlob(ctx, repo, digest) : getBlob(ctx, repo, digest, req);
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
  try {
    if (head) {
      const size = await client.headBlob(route.remote, d);
      return namespaced(new Response(null, { status: 200, headers: blobHeaders(d, size) }), route);
    }
    const upstream = await client.getBlob(route.remote, d);
    return namespaced(streamAndStore(ctx, cache, digest, upstream.body, upstream.size), route);
  } catch (e) {
    throw e instanceof UpstreamError ? upstreamFailure(e, d, true) : e;
  }
}

/** Answers with the upstream's bytes while they are written to the bucket; verified before they become visible. */
function streamAndStore(ctx: RegistryContext, cache: string, digest: Digest, body: ReadableStream<Uint8Array>, size: number | null): Response {
  const d = formatDigest(digest);
  const tee = heldTee(body);
  const hash = ctx.pullThrough.hashing.running(digest.algorithm);
  const stored = ctx.storage.blobs
    .write(digest, tee.store, {
      partSize: ctx.cfg.s3.chunkSize,
      onPart: (bytes) => hash.update(bytes),
      beforeComplete: async (written) => {
        const hex = await hash.hex();
        if (hex !== digest.hex || (size !== null && written !== size)) {
          throw new Error(`upstream sent ${written} bytes whose digest is ${digest.algorithm}:${hex}, not ${d}`);
        }
      },
    })
    .then(() => ctx.storage.blobs.link(cache, digest));
  ctx.waitUntil(
    stored.then(
      () => tee.finish(null),
      (e) => {
        console.warn(`pull-through: ${cache}@${d} not stored: ${e instanceof Error ? e.message : String(e)}`);
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
