// Blob uploads (end-4a/4b/4c, end-5, end-6, end-11, end-13 and the status GET): POST opens a session (or
// mounts, or takes a whole blob with ?digest=; ?digest-algorithm= says what the session hashes), PATCH appends
// a chunk, PUT closes it with the digest, GET reports the offset, DELETE cancels. The session's state and
// bytes are the upload-session Durable Object's business; this module turns HTTP into calls on it.

import { formatDigest, parseAlgorithm, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { parseDigestSegment, validateRepositoryName } from "../oci/names";
import { formatUploadRange, parseContentRange } from "../oci/range";
import type { UploadChunk, UploadStatus } from "../uploads/protocol";
import { unwrap } from "../uploads/protocol";
import { type RegistryContext, empty } from "./context";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export async function startUpload(ctx: RegistryContext, repo: string, req: Request): Promise<Response> {
  const q = ctx.url.searchParams;
  const mount = q.get("mount");
  const algorithmParam = q.get("digest-algorithm");
  // Checked first: a session for an algorithm Berth cannot verify is refused before anything happens.
  let algorithm = algorithmParam === null ? null : parseAlgorithm(algorithmParam);
  let hint: string | null = null;
  if (mount !== null) {
    const wanted = parseDigestSegment(mount);
    const mounted = await tryMount(ctx, repo, wanted, q.get("from"));
    if (mounted) return mounted;
    // The client said which blob it is about to upload, and so which hash the session needs.
    ctx.hints.forget(repo, wanted);
    hint = formatDigest(wanted);
    algorithm ??= wanted.algorithm;
  }
  const uuid = crypto.randomUUID();
  const session = ctx.session(repo, uuid);
  const digest = q.get("digest");
  if (digest !== null && mount === null) {
    // Monolithic upload in the POST itself.
    const d = parseDigestSegment(digest);
    unwrap(await session.begin(repo, uuid, null, d.algorithm));
    // The commit may find the blob already stored and keep that copy: vouch for it first.
    await ctx.fence.vouch(repo, [formatDigest(d)]);
    const committed = unwrap(await session.commit(repo, uuid, formatDigest(d), chunkOf(req, false)));
    await committedHere(ctx, repo, d, committed.size);
    return created(repo, committed.digest);
  }
  algorithm ??= "sha256";
  const status = unwrap(await session.begin(repo, uuid, hint ?? ctx.hints.claim(repo, algorithm), algorithm));
  return empty(202, {
    ...sessionHeaders(status),
    // Chunks of this size fill S3 parts exactly; smaller ones are accepted and combined.
    "OCI-Chunk-Min-Length": String(ctx.cfg.s3.chunkSize),
    // Not in the spec yet (distribution-spec#485): lets chunking clients stay under the edge's body limit.
    "OCI-Chunk-Max-Length": String(ctx.cfg.chunkMaxLength),
  });
}

export async function patchUpload(ctx: RegistryContext, repo: string, uuid: string, req: Request): Promise<Response> {
  checkUuid(uuid);
  const status = unwrap(await ctx.session(repo, uuid).append(repo, uuid, chunkOf(req, true)));
  return empty(202, sessionHeaders(status));
}

export async function putUpload(ctx: RegistryContext, repo: string, uuid: string, req: Request): Promise<Response> {
  checkUuid(uuid);
  const raw = ctx.url.searchParams.get("digest");
  if (raw === null || raw === "") throw new OciError("DIGEST_INVALID", "the digest query parameter is required to complete an upload");
  const digest = parseDigestSegment(raw);
  // The commit may find the blob already stored and keep that copy: vouch for it first.
  await ctx.fence.vouch(repo, [formatDigest(digest)]);
  const committed = unwrap(await ctx.session(repo, uuid).commit(repo, uuid, formatDigest(digest), chunkOf(req, true)));
  await committedHere(ctx, repo, digest, committed.size);
  return created(repo, committed.digest);
}

export async function getUploadStatus(ctx: RegistryContext, repo: string, uuid: string): Promise<Response> {
  checkUuid(uuid);
  const status = unwrap(await ctx.session(repo, uuid).status(repo, uuid));
  return empty(204, sessionHeaders(status));
}

export async function cancelUpload(ctx: RegistryContext, repo: string, uuid: string): Promise<Response> {
  checkUuid(uuid);
  unwrap(await ctx.session(repo, uuid).cancel(repo, uuid));
  return empty(204);
}

/**
 * Cross-repository mount: 201 when the blob can be linked without an upload. With `from`, the blob must be in
 * that repository and the caller must be able to read it; without `from` (the spec allows it), anywhere in the
 * registry, when every repository is readable by everyone. Otherwise the caller gets a session (202).
 */
async function tryMount(ctx: RegistryContext, repo: string, digest: Digest, from: string | null): Promise<Response | null> {
  const { blobs } = ctx.storage;
  const source = from !== null && from !== "" ? validateRepositoryName(from) : null;
  // A source the caller may not read is treated as not having the blob: the client simply uploads it.
  // Without `from` the blob may come from any repository: only when nothing is private.
  if (source !== null ? !ctx.access.may(source, "read") : !ctx.access.readsEverything) return null;
  // The mount keeps the stored copy: vouch for it before looking.
  const fresh = await ctx.fence.vouch(repo, [formatDigest(digest)]);
  const found = (source !== null ? await blobs.statInRepository(source, digest, fresh) : await blobs.stat(digest, fresh)) !== null;
  if (!found) return null;
  await blobs.link(repo, digest);
  ctx.hints.forget(repo, digest);
  await ctx.written({ action: "blob.mount", repository: repo, digest: formatDigest(digest), from: source });
  return created(repo, formatDigest(digest));
}

/** A blob just committed in the repository: cache what is now known, it needs no upload any more, and say so. */
async function committedHere(ctx: RegistryContext, repo: string, digest: Digest, size: number): Promise<void> {
  ctx.storage.blobs.remember(digest, size);
  ctx.storage.blobs.rememberLink(repo, digest);
  ctx.hints.forget(repo, digest);
  await ctx.written({ action: "blob.commit", repository: repo, digest: formatDigest(digest), size });
}

function created(repo: string, digest: string): Response {
  return empty(201, { Location: `/v2/${repo}/blobs/${digest}`, "Docker-Content-Digest": digest });
}

function sessionHeaders(s: UploadStatus): Record<string, string> {
  return {
    Location: `/v2/${s.repo}/blobs/uploads/${s.uuid}`,
    Range: formatUploadRange(s.offset),
    "Docker-Upload-UUID": s.uuid,
  };
}

function checkUuid(uuid: string): void {
  if (!UUID_RE.test(uuid)) throw new OciError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
}

/** The request body as the session sees it. Content-Range is honoured on PATCH (and on a PUT with a body). */
function chunkOf(req: Request, withRange: boolean): UploadChunk {
  const lenHeader = req.headers.get("Content-Length");
  let length: number | null = null;
  if (lenHeader !== null) {
    if (!/^\d+$/.test(lenHeader.trim())) throw new OciError("SIZE_INVALID", "invalid Content-Length");
    length = Number(lenHeader.trim());
  }
  const range = withRange ? parseContentRange(req.headers.get("Content-Range")) : null;
  const body = length === 0 ? null : req.body;
  return { body, range, length };
}
