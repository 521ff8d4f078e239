// Manifests: GET/HEAD (end-3), PUT (end-7) and DELETE (end-9) of /v2/<name>/manifests/<reference>, by tag or
// by digest. A PUT is checked before anything is written (size cap, digest of the bytes, every referenced blob
// and child manifest present in the repository), then written in the order that keeps a cut-off request
// harmless: bytes, revision link, referrers entry, and the tag last. Every change to the repository's
// metadata goes through its one writer (src/metadata), so concurrent PUTs and DELETEs never interleave.
// Conditional requests: GET/HEAD honour If-None-Match (304); a PUT by tag honours If-Match and
// If-None-Match: * (412 when the tag is not as required), checked and applied with nothing in between.

import { subjectLink } from "../oci/referrers-tag";
import { digestBytes, formatDigest, parseDigest, type Digest } from "../oci/digest";
import { OciError, RegistryFault } from "../oci/errors";
import { parseManifest, type ParsedManifest } from "../oci/manifest";
import { normalizeMediaType } from "../oci/media-types";
import { parseReference, validateTag, type Reference } from "../oci/names";
import { unwrap } from "../oci/rpc";
import { mapLimit } from "../storage/limit";
import type { StoredManifest } from "../storage/manifests";
import { type RegistryContext, empty } from "./context";
import { readLimited } from "../streams/body";

/** The spec asks registries to accept manifests of at least 4 MiB, and to answer 413 above their limit. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export async function getManifest(ctx: RegistryContext, repo: string, rawRef: string, req: Request, head: boolean): Promise<Response> {
  const ref = parseReference(rawRef, "read");
  const { manifests, tags } = ctx.storage;
  let digest: Digest;
  let stored: StoredManifest | null;
  if (ref.kind === "tag") {
    const d = await tags.resolve(repo, ref.tag);
    if (!d) throw manifestUnknown(rawRef);
    digest = d;
    // Never serve what the repository no longer holds, even if a tag still names it.
    const [held, data] = await Promise.all([manifests.recentlyExists(repo, d), manifests.readData(d)]);
    stored = held ? data : null;
  } else {
    digest = ref.digest;
    stored = await manifests.get(repo, digest);
  }
  if (!stored) throw manifestUnknown(rawRef);
  const mediaType = stored.contentType ?? mediaTypeOf(stored.bytes);
  if (!accepts(req.headers.get("Accept"), mediaType)) {
    throw new OciError("MANIFEST_UNKNOWN", `manifest is ${mediaType}, which the Accept header does not allow`);
  }
  const etag = `"${formatDigest(digest)}"`;
  const headers = {
    "Content-Type": mediaType,
    "Content-Length": String(stored.bytes.byteLength),
    "Docker-Content-Digest": formatDigest(digest),
    ETag: etag,
  };
  // RFC 9110 §13.1.2: the client's copy is current (the ETag is the digest, so a tag that moved is a new one).
  const ifNoneMatch = entityTags(req.headers.get("If-None-Match"));
  if (ifNoneMatch !== null && (ifNoneMatch.includes("*") || ifNoneMatch.includes(formatDigest(digest)))) {
    return new Response(null, { status: 304, headers: { ETag: etag, "Docker-Content-Digest": formatDigest(digest) } });
  }
  ctx.pulled({
    action: "manifest.pull",
    repository: repo,
    digest: formatDigest(digest),
    mediaType,
    size: stored.bytes.byteLength,
    tag: ref.kind === "tag" ? ref.tag : null,
  });
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
  // What this PUT relies on being stored, vouched for with the collector's fence before it is checked.
  const vouch = [formatDigest(digest), ...manifest.blobs.map((b) => b.digest), ...manifest.manifests.map((m) => m.digest)];
  const fresh = await ctx.fence.vouch(repo, vouch);
  await checkReferences(ctx, repo, manifest, fresh);

  const tags = tagsOf(ctx, ref);
  const ifMatch = tags.length === 0 ? null : entityTags(req.headers.get("If-Match"));
  const ifNoneMatch = tags.length === 0 ? null : entityTags(req.headers.get("If-None-Match"));
  const d = formatDigest(digest);
  const subject = subjectLink(manifest, d, bytes.byteLength);
  // The bytes first (content-addressed, harmless if nothing links them), then the repository's metadata
  // through its one writer: revision link, referrers entry, and the tag last.
  await ctx.storage.manifests.putData(digest, bytes, manifest.mediaType);
  const link = { digest: d, subject, tags, mayMove: ctx.access.may(repo, "update"), ifMatch, ifNoneMatch, vouch, checkedFresh: fresh };
  let linked = unwrap(await ctx.metadata(repo).linkManifest(repo, link));
  if (linked.outcome === "recheck") {
    // A collection started after the check above: check again against the bucket (vouched for now) and link.
    await ctx.fence.vouch(repo, vouch);
    await checkReferences(ctx, repo, manifest, true);
    linked = unwrap(await ctx.metadata(repo).linkManifest(repo, { ...link, checkedFresh: true }));
  }
  if (linked.outcome === "recheck") throw new RegistryFault("the manifest could not be linked; try again");
  if (linked.outcome === "needs-update") {
    // Moving an existing tag is an update (zot's distinction); a new tag or the same target is a create.
    ctx.access.require(repo, "update");
    throw new OciError("DENIED", `moving tag ${linked.tag} needs update access`);
  }
  ctx.storage.manifests.noteLink(repo, digest, true);
  const headers = new Headers({ Location: `/v2/${repo}/manifests/${d}`, "Docker-Content-Digest": d, "Content-Length": "0", "Content-Type": "application/octet-stream" });
  if (subject) headers.set("OCI-Subject", subject.digest);
  // One OCI-Tag per tag applied, for a push by digest with ?tag= (the spec's end-7b).
  if (ref.kind === "digest") for (const t of tags) headers.append("OCI-Tag", t);
  const tag = ref.kind === "tag" ? ref.tag : null;
  // One call: the push and its tags are one write, recorded together.
  await ctx.written(
    { action: "manifest.put", repository: repo, digest: d, mediaType: manifest.mediaType, size: bytes.byteLength, tag, subject: subject?.digest ?? null },
    ...tags.map((t) => ({ action: "tag.set" as const, repository: repo, tag: t, digest: d })),
  );
  return new Response(null, { status: 201, headers });
}

export async function deleteManifest(ctx: RegistryContext, repo: string, rawRef: string): Promise<Response> {
  if (!ctx.cfg.deleteEnabled) throw new OciError("UNSUPPORTED", "deletion is disabled (REGISTRY_STORAGE_DELETE_ENABLED)");
  const ref = parseReference(rawRef, "read");
  const metadata = ctx.metadata(repo);
  if (ref.kind === "tag") {
    unwrap(await metadata.deleteTag(repo, ref.tag));
    await ctx.written({ action: "tag.delete", repository: repo, tag: ref.tag });
    return empty(202);
  }
  const digest = ref.digest;
  const stored = await ctx.storage.manifests.get(repo, digest);
  if (!stored) throw manifestUnknown(rawRef);
  const subject = subjectOf(stored.bytes);
  const { tags } = unwrap(await metadata.unlinkManifest(repo, formatDigest(digest), subject ? formatDigest(subject) : null));
  ctx.storage.manifests.noteLink(repo, digest, false);
  await ctx.written({ action: "manifest.delete", repository: repo, digest: formatDigest(digest), tags });
  return empty(202);
}

/** Every blob and child manifest the manifest names must already be in the repository (`fresh`: ask the bucket, not caches). */
async function checkReferences(ctx: RegistryContext, repo: string, m: ParsedManifest, fresh: boolean): Promise<void> {
  const { blobs, manifests } = ctx.storage;
  const missing: string[] = [];
  await mapLimit(m.blobs, 6, async (d) => {
    if (!(await blobs.statInRepository(repo, parseDigest(d.digest), fresh))) missing.push(d.digest);
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

/** Most tags one PUT may apply with `?tag=` (each up to 128 characters: the URL stays well under 16 KB). */
export const MAX_TAGS_PER_PUT = 64;

/** The tags a PUT applies: the reference's, or those of `?tag=` on a push by digest (spec end-7b). */
function tagsOf(ctx: RegistryContext, ref: Reference): string[] {
  const query = ctx.url.searchParams.getAll("tag");
  if (ref.kind === "tag") {
    if (query.length > 0) throw new OciError("UNSUPPORTED", "?tag= goes with a push by digest, not by tag", { status: 400 });
    return [ref.tag];
  }
  if (query.length > MAX_TAGS_PER_PUT) {
    throw new OciError("UNSUPPORTED", `at most ${MAX_TAGS_PER_PUT} tags per manifest PUT`, { status: 414 });
  }
  return [...new Set(query.map((t) => validateTag(t)))];
}

/**
 * The entity tags of If-Match / If-None-Match (RFC 9110 §8.8.3): quoted, possibly weak (compared by value
 * here: a digest is the same either way), comma-separated, or `*`. Null when the header is absent.
 */
function entityTags(header: string | null): string[] | null {
  if (header === null) return null;
  const tags: string[] = [];
  for (const part of header.split(",")) {
    const v = part.trim().replace(/^W\//, "");
    if (v === "") continue;
    tags.push(v === "*" ? "*" : v.replace(/^"(.*)"$/, "$1"));
  }
  return tags;
}

function manifestUnknown(ref: string): OciError {
  return new OciError("MANIFEST_UNKNOWN", "manifest unknown to registry", { detail: { reference: ref.slice(0, 256) } });
}
