// Blob reads and deletes: HEAD and GET /v2/<name>/blobs/<digest> (end-2, end-3) and DELETE (end-10).
// GET answers 307 to a short-lived presigned URL of the bucket, so a pull's bytes never pass through the
// Worker; HEAD is answered here from the link and the object's size (no redirect, no extra round trip).

import { formatDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { type RegistryContext, empty } from "./context";

export async function headBlob(ctx: RegistryContext, repo: string, digest: Digest): Promise<Response> {
  const info = await ctx.storage.blobs.statInRepository(repo, digest);
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
    return empty(307, { Location: url, "Docker-Content-Digest": formatDigest(digest) });
  }
  if (!(await blobs.isLinked(repo, digest))) throw blobUnknown(digest);
  const range = req.headers.get("Range");
  const sent = range && /^bytes=\d*-\d*$/.test(range.trim()) ? range.trim() : undefined;
  const res = await blobs.open(digest, sent);
  if (!res) throw blobUnknown(digest);
  if (res === "unsatisfiable") {
    // RFC 9110 §15.5.17: say how large the blob is (S3 servers do not always send it).
    const info = await blobs.stat(digest);
    throw new OciError("RANGE_INVALID", "requested range not satisfiable", {
      headers: info ? { "Content-Range": `bytes */${info.size}` } : {},
    });
  }
  const headers = new Headers({
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": formatDigest(digest),
    "Accept-Ranges": "bytes",
    ETag: `"${formatDigest(digest)}"`,
  });
  for (const h of ["Content-Length", "Content-Range"]) {
    const v = res.headers.get(h);
    if (v) headers.set(h, v);
  }
  return new Response(res.body, { status: res.status === 206 ? 206 : 200, headers });
}

export async function deleteBlob(ctx: RegistryContext, repo: string, digest: Digest): Promise<Response> {
  if (!ctx.cfg.deleteEnabled) throw new OciError("UNSUPPORTED", "deletion is disabled (REGISTRY_STORAGE_DELETE_ENABLED)");
  // Only the repository's link goes: other repositories may link the same bytes (garbage collection frees them).
  if (!(await ctx.storage.blobs.isLinked(repo, digest))) throw blobUnknown(digest);
  await ctx.storage.blobs.unlink(repo, digest);
  return empty(202, { "Docker-Content-Digest": formatDigest(digest) });
}

function blobUnknown(digest: Digest): OciError {
  return new OciError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: formatDigest(digest) } });
}
