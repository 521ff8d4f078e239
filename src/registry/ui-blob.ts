// GET /v2/_berth/ext/blobs/<name>/<digest>: a small blob (an image config) streamed by the Worker itself, for
// the web UI. A browser cannot use the public blob GET for this: it answers 307 to a presigned URL on the
// bucket's own origin, a cross-origin redirect that the bucket does not allow by CORS. Only blobs up to
// SMALL_BLOB_MAX bytes are served, so this never becomes a way to pull layers through the Worker.

import { formatDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import type { RegistryContext } from "./context";

/** Largest blob served here: image configs are a few KiB (a config with a long history, some hundred). */
export const SMALL_BLOB_MAX = 1024 * 1024;

/** Streams a blob the repository links, if it is at most SMALL_BLOB_MAX bytes. Access is checked by the router. */
export async function getSmallBlob(ctx: RegistryContext, repo: string, digest: Digest): Promise<Response> {
  const { blobs } = ctx.storage;
  const [linked, info] = await Promise.all([blobs.isLinked(repo, digest), blobs.stat(digest)]);
  if (!linked || info === null) throw blobUnknown(digest);
  if (info.size > SMALL_BLOB_MAX) {
    throw new OciError(
      "UNSUPPORTED",
      `blob is ${info.size} bytes; this endpoint serves blobs of at most ${SMALL_BLOB_MAX} bytes (fetch it with GET /v2/${repo}/blobs/${formatDigest(digest)})`,
      { status: 400, detail: { digest: formatDigest(digest), size: info.size, limit: SMALL_BLOB_MAX } },
    );
  }
  const read = await blobs.open(digest);
  const body = read !== null && typeof read === "object" ? read.body : null;
  if (!body) throw blobUnknown(digest);
  return new Response(body, {
    status: 200,
    headers: {
      // Never rendered by a browser that navigates here: the bytes are the repository's, not the UI's.
      "Content-Type": "application/octet-stream",
      "X-Content-Type-Options": "nosniff",
      "Content-Disposition": "attachment",
      "Content-Length": String(info.size),
      "Docker-Content-Digest": formatDigest(digest),
      ETag: `"${formatDigest(digest)}"`,
    },
  });
}

function blobUnknown(digest: Digest): OciError {
  return new OciError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: formatDigest(digest) } });
}
