// Blob reads and deletes: HEAD and GET /v2/<name>/blobs/<digest> (end-2, end-3) and DELETE (end-10).
// GET answers 307 to a short-lived presigned URL of the bucket, so a pull's bytes never pass through the
// Worker; HEAD is answered here from the link and the object's size (no redirect, no extra round trip). With
// redirects off the Worker streams the bytes, from the data center's cache once a GET has put them there.

import { formatDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { formatContentRange, parseRangeHeader } from "../oci/range";
import { type RegistryContext, empty } from "./context";

export async function headBlob(ctx: RegistryContext, repo: string, digest: Digest): Promise<Response> {
  // A client that sees 200 may skip the upload and push a manifest referencing the blob: vouch for it first.
  const fresh = await ctx.fence.vouch(repo, [formatDigest(digest)]);
  const info = await ctx.storage.blobs.statInRepository(repo, digest, fresh);
  if (!info) {
    // Clients ask before they upload: the next session in this repository is probably for this blob.
    ctx.hints.noteMissing(repo, digest);
    throw blobUnknown(digest);
  }
  return new Response(null, {
    status: 200,
    headers: {
      "Content-Length": String(info.size),
      "Content-Type": "application/octet-stream",
      "Docker-Content-Digest": formatDigest(digest),
      "Accept-Ranges": "bytes",
      ETag: `"${formatDigest(digest)}"`,
    },
  });
}

export async function getBlob(ctx: RegistryContext, repo: string, digest: Digest, req: Request): Promise<Response> {
  const { blobs } = ctx.storage;
  if (!ctx.cfg.redirectDisable) {
    // The link alone decides visibility; the presigned URL itself reports a missing object.
    if (!(await blobs.isLinked(repo, digest))) throw blobUnknown(digest);
    const url = await blobs.presignedUrl(digest, ctx.cfg.redirectExpirySeconds);
    ctx.pulled({ action: "blob.pull", repository: repo, digest: formatDigest(digest) });
    return empty(307, { Location: url, "Docker-Content-Digest": formatDigest(digest) });
  }
  // Streamed by the Worker: the Range header is parsed here (RFC 9110), never handed to the bucket raw.
  const info = await blobs.statInRepository(repo, digest);
  if (!info) throw blobUnknown(digest);
  const range = parseRangeHeader(req.headers.get("Range"), info.size);
  if (range === "unsatisfiable") {
    // 416 as RFC 9110 says; the spec's table has no range code, and SIZE_INVALID (code-10, "provided length
    // did not match content length") is the closest: the client's range lies past the blob's length.
    throw new OciError("SIZE_INVALID", "requested range not satisfiable", {
      status: 416,
      headers: { "Content-Range": formatContentRange(range, info.size) },
    });
  }
  // From the data center's cache when it has the bytes; else from the bucket, copied there behind the answer.
  let body = await blobs.openNear(digest, range ?? null);
  if (!body) {
    const res = await blobs.open(digest, range ?? undefined);
    if (!res) throw blobUnknown(digest);
    body = res.body;
    ctx.waitUntil(blobs.fillNear(digest, info.size).catch(() => {})); // a no-op without a data center's cache
  }
  ctx.pulled({ action: "blob.pull", repository: repo, digest: formatDigest(digest) });
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": formatDigest(digest),
    "Accept-Ranges": "bytes",
    ETag: `"${formatDigest(digest)}"`,
  };
  if (range) {
    headers["Content-Range"] = formatContentRange(range, info.size);
    headers["Content-Length"] = String(range.end - range.start + 1);
  } else {
    headers["Content-Length"] = String(info.size);
  }
  return new Response(body, { status: range ? 206 : 200, headers });
}

export async function deleteBlob(ctx: RegistryContext, repo: string, digest: Digest): Promise<Response> {
  if (!ctx.cfg.deleteEnabled) throw new OciError("UNSUPPORTED", "deletion is disabled (REGISTRY_STORAGE_DELETE_ENABLED)");
  // Only the repository's link goes: other repositories may link the same bytes (garbage collection frees them).
  if (!(await ctx.storage.blobs.isLinked(repo, digest))) throw blobUnknown(digest);
  await ctx.storage.blobs.unlink(repo, digest);
  await ctx.written({ action: "blob.delete", repository: repo, digest: formatDigest(digest) });
  return empty(202, { "Docker-Content-Digest": formatDigest(digest) });
}

function blobUnknown(digest: Digest): OciError {
  return new OciError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: formatDigest(digest) } });
}
