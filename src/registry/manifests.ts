// Manifests: GET/HEAD (end-3), PUT (end-7) and DELETE (end-9) of /v2/<name>/manifests/<reference>, by tag or
// by digest. A PUT is checked before anything is written (size cap, digest of the bytes, every referenced blob
// and child manifest present in the repository), then written in the order that keeps a cut-off request
// harmless: bytes, revision link, referrers entry, and the tag last.

import { digestBytes, formatDigest, parseDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { parseManifest, type ParsedManifest } from "../oci/manifest";
import { normalizeMediaType } from "../oci/media-types";
import { parseReference } from "../oci/names";
import { mapLimit } from "../storage/limit";
import type { StoredManifest } from "../storage/manifests";
import { type RegistryContext, empty } from "./context";
import { readLimited } from "../streams/body";

/** The spec asks registries to accept manifests of at least 4 MiB, and to answer 413 above their limit. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export async function getManifest(ctx: RegistryContext, repo: string, rawRef: string, req: Request, head: boolean): Promise<Response> {
  const ref = parseReference(rawRef, "read");
  let digest: Digest;
  let stored: StoredManifest | null;
  if (ref.kind === "tag") {
    const d = await ctx.storage.tags.resolve(repo, ref.tag);
    if (!d) throw manifestUnknown(rawRef);
    digest = d;
    stored = await ctx.storage.manifests.readData(d);
  } else {
    digest = ref.digest;
    stored = await ctx.storage.manifests.get(repo, digest);
  }
  if (!stored) throw manifestUnknown(rawRef);
  const mediaType = stored.contentType ?? mediaTypeOf(stored.bytes);
  if (!accepts(req.headers.get("Accept"), mediaType)) {
    throw new OciError("MANIFEST_UNKNOWN", `manifest is ${mediaType}, which the Accept header does not allow`);
  }
  const headers = {
    "Content-Type": mediaType,
    "Content-Length": String(stored.bytes.byteLength),
    "Docker-Content-Digest": formatDigest(digest),
    ETag: `"${formatDigest(digest)}"`,
  };
  return new Response(head ? null : stored.bytes, { status: 200, headers });
}

export async function putManifest(ctx: RegistryContext, repo: string, rawRef: string, req: Request): Promise<Response> {
  const ref = parseReference(rawRef, "write");
  const bytes = await readLimited(req, MAX_MANIFEST_BYTES, "manifest");
  const manifest = parseManifest(bytes, req.headers.get("Content-Type"));
  const digest = await digestBytes(ref.kind === "digest" ? ref.digest.algorithm : "sha256", bytes);
  if (ref.kind === "digest" && ref.digest.hex !== digest.hex) {
    throw new OciError("DIGEST_INVALID", "manifest digest does not match the reference", {
      detail: { reference: formatDigest(ref.digest), actual: formatDigest(digest) },
    });
  }
  await checkReferences(ctx, repo, manifest);

  const { manifests, referrers, tags } = ctx.storage;
  if (ref.kind === "tag" && !ctx.access.may(repo, "update")) {
    // Moving an existing tag is an update (zot's distinction); a new tag or the same target is a create.
    const current = await tags.resolve(repo, ref.tag);
    if (current && formatDigest(current) !== formatDigest(digest)) ctx.access.require(repo, "update");
  }
  await manifests.put(repo, digest, bytes, manifest.mediaType);
  const headers: Record<string, string> = {
    Location: `/v2/${repo}/manifests/${formatDigest(digest)}`,
    "Docker-Content-Digest": formatDigest(digest),
  };
  if (manifest.subject) {
    await referrers.add(repo, parseDigest(manifest.subject.digest), digest, {
      mediaType: manifest.mediaType,
      digest: formatDigest(digest),
      size: bytes.byteLength,
      ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
    });
    headers["OCI-Subject"] = manifest.subject.digest;
  }
  const tag = ref.kind === "tag" ? ref.tag : null;
  if (tag !== null) await tags.set(repo, tag, digest);
  const d = formatDigest(digest);
  await ctx.written({ action: "manifest.put", repository: repo, digest: d, mediaType: manifest.mediaType, size: bytes.byteLength, tag, subject: manifest.subject?.digest ?? null });
  if (tag !== null) await ctx.written({ action: "tag.set", repository: repo, tag, digest: d });
  return empty(201, headers);
}

export async function deleteManifest(ctx: RegistryContext, repo: string, rawRef: string): Promise<Response> {
  if (!ctx.cfg.deleteEnabled) throw new OciError("UNSUPPORTED", "deletion is disabled (REGISTRY_STORAGE_DELETE_ENABLED)");
  const ref = parseReference(rawRef, "read");
  const { manifests, referrers, tags } = ctx.storage;
  if (ref.kind === "tag") {
    if (!(await tags.delete(repo, ref.tag))) throw manifestUnknown(rawRef);
    await ctx.written({ action: "tag.delete", repository: repo, tag: ref.tag });
    return empty(202);
  }
  const digest = ref.digest;
  const stored = await manifests.get(repo, digest);
  if (!stored) throw manifestUnknown(rawRef);
  // Tags first, so no tag is ever left naming a manifest the repository no longer holds.
  const removed = await tags.pointingTo(repo, digest);
  for (const t of removed) await tags.delete(repo, t);
  const subject = subjectOf(stored.bytes);
  if (subject) await referrers.remove(repo, subject, digest);
  await manifests.unlink(repo, digest);
  await ctx.written({ action: "manifest.delete", repository: repo, digest: formatDigest(digest), tags: removed });
  return empty(202);
}

/** Every blob and child manifest the manifest names must already be in the repository. */
async function checkReferences(ctx: RegistryContext, repo: string, m: ParsedManifest): Promise<void> {
  const { blobs, manifests } = ctx.storage;
  const missing: string[] = [];
  await mapLimit(m.blobs, 6, async (d) => {
    if (!(await blobs.statInRepository(repo, parseDigest(d.digest)))) missing.push(d.digest);
  });
  await mapLimit(m.manifests, 6, async (d) => {
    if (!(await manifests.exists(repo, parseDigest(d.digest)))) missing.push(d.digest);
  });
  if (missing.length > 0) {
    throw new OciError("MANIFEST_BLOB_UNKNOWN", `manifest references ${missing.length} unknown blob(s) or manifest(s)`, {
      detail: { digests: missing.slice(0, 20) },
    });
  }
}

function mediaTypeOf(bytes: Uint8Array): string {
  try {
    return parseManifest(bytes, null).mediaType;
  } catch {
    return "application/octet-stream";
  }
}

function subjectOf(bytes: Uint8Array): Digest | null {
  try {
    const s = parseManifest(bytes, null).subject;
    return s ? parseDigest(s.digest) : null;
  } catch {
    return null;
  }
}

/** Honours Accept: no header or a wildcard accepts anything; otherwise the stored type must be listed. */
function accepts(header: string | null, mediaType: string): boolean {
  if (!header || header.trim() === "") return true;
  const listed = header.split(",").map((v) => normalizeMediaType(v));
  return listed.some((t) => t === "*/*" || t === "application/*" || t === mediaType || t === "");
}

function manifestUnknown(ref: string): OciError {
  return new OciError("MANIFEST_UNKNOWN", "manifest unknown to registry", { detail: { reference: ref.slice(0, 256) } });
}
