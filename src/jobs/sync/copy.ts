// Copying one tag from an upstream into its local repository, a bounded number of units at a time (a unit is
// one upstream request with what it writes: a HEAD, a manifest, a blob). The tag's manifest is asked for by
// HEAD first: the local tag naming the same digest means nothing to do. Otherwise every manifest it reaches
// is stored children first (an index's children before the index), and each one only after its config and
// layers are in the repository, so a manifest is never linked before what it names. Everything is verified
// against its digest before it is visible; blobs the bucket already holds are just linked. Manifests and
// links go through the repository's metadata object as a push's do (the fence vouched for first).

import { digestBytes, formatDigest, parseDigest } from "../../oci/digest";
import { OciError, RegistryFault } from "../../oci/errors";
import { parseManifest, type Descriptor, type ParsedManifest } from "../../oci/manifest";
import { STORED_MANIFEST_ACCEPT } from "../../oci/media-types";
import { subjectLink } from "../../oci/referrers-tag";
import { unwrap } from "../../oci/rpc";
import type { Storage } from "../../storage";
import { UpstreamError, type UpstreamClient } from "../../upstream";
import type { SyncRuntime } from "../job";
import type { SyncCounts, TagTask } from "./state";

/** Manifests one tag may reach (an index and its children, nested indexes included). */
const MAX_MANIFESTS = 1_000;

export interface CopyContext {
  rt: SyncRuntime;
  storage: Storage;
  client: UpstreamClient;
  remote: string;
  local: string;
  /** Updated in place as things are copied (the step's copy of the state). */
  counts: SyncCounts;
  /** No further blob is started once counts.bytesCopied reaches this (the step's share of bytes). */
  stopAtBytes: number;
}

export function newTask(tag: string, attempts = 0): TagTask {
  return { tag, attempts, digest: null, manifests: [], blobsDone: 0, stored: [] };
}

/** Whether trying again later may help: not for a tag gone upstream, nor for a refusal here (an immutable tag). */
export function retryable(e: unknown): boolean {
  if (e instanceof UpstreamError) return e.kind !== "missing";
  return !(e instanceof OciError && (e.code === "DENIED" || e.code === "MANIFEST_INVALID"));
}

/**
 * Advances the task by at most `budget` units (and blobs up to cx.stopAtBytes). `done`: "skipped" (cached at the same digest), "copied", or
 * null when there is more to do (the returned task is where to go on).
 */
export async function advanceTask(cx: CopyContext, start: TagTask, budget: number): Promise<{ task: TagTask; done: "copied" | "skipped" | null; used: number }> {
  let task = start;
  let used = 0;
  if (task.digest === null) {
    used++;
    const remote = await remoteDigest(cx, task.tag);
    const local = await cx.storage.tags.resolve(cx.local, task.tag);
    if (local !== null && formatDigest(local) === remote && (await cx.storage.manifests.exists(cx.local, local))) return { task, done: "skipped", used };
    task = { ...task, digest: remote, manifests: [remote], blobsDone: 0, stored: [] };
  }
  while (used < budget && task.manifests.length > 0) {
    const d = task.manifests[0]!;
    const { bytes, manifest } = await fetchManifest(cx, d);
    used++;
    // Children first: those not stored by this task yet go before this manifest.
    const children = manifest.manifests.map((c) => c.digest).filter((c) => !task.manifests.includes(c) && !task.stored.includes(c));
    if (children.length > 0) {
      if (task.stored.length + task.manifests.length + children.length > MAX_MANIFESTS) {
        throw new RegistryFault(`${cx.remote}:${task.tag} reaches more than ${MAX_MANIFESTS} manifests; not copied`);
      }
      task = { ...task, manifests: [...children, ...task.manifests], blobsDone: 0 };
      continue;
    }
    while (task.blobsDone < manifest.blobs.length && used < budget && cx.counts.bytesCopied < cx.stopAtBytes) {
      await copyBlob(cx, manifest.blobs[task.blobsDone]!);
      task = { ...task, blobsDone: task.blobsDone + 1 };
      used++;
    }
    if (task.blobsDone < manifest.blobs.length) break;
    const last = task.manifests.length === 1;
    await storeManifest(cx, d, bytes, manifest, last ? task.tag : null);
    task = { ...task, manifests: task.manifests.slice(1), blobsDone: 0, stored: [...task.stored, d] };
  }
  return { task, done: task.manifests.length === 0 ? "copied" : null, used };
}

/** The digest the tag names upstream: its HEAD's Docker-Content-Digest, else the digest of its bytes. */
async function remoteDigest(cx: CopyContext, tag: string): Promise<string> {
  const said = await cx.client.headManifest(cx.remote, tag, STORED_MANIFEST_ACCEPT);
  if (said !== null) return formatDigest(parseDigest(said));
  const got = await cx.client.getManifest(cx.remote, tag, STORED_MANIFEST_ACCEPT);
  return formatDigest(await digestBytes("sha256", got.bytes));
}

async function fetchManifest(cx: CopyContext, d: string): Promise<{ bytes: Uint8Array; manifest: ParsedManifest }> {
  const want = parseDigest(d);
  const got = await cx.client.getManifest(cx.remote, d, STORED_MANIFEST_ACCEPT);
  const digest = await digestBytes(want.algorithm, got.bytes);
  if (digest.hex !== want.hex) throw new RegistryFault(`upstream sent a manifest for ${cx.remote}@${d} whose digest is ${formatDigest(digest)}; nothing was stored`);
  try {
    return { bytes: got.bytes, manifest: parseManifest(got.bytes, got.mediaType) };
  } catch (e) {
    throw new OciError("MANIFEST_INVALID", `upstream's manifest ${cx.remote}@${d} cannot be stored: ${e instanceof Error ? e.message : "unreadable"}`);
  }
}

/** Puts a blob in the repository: linked already, or in the bucket and linked now, or copied (verified) and linked. */
async function copyBlob(cx: CopyContext, desc: Descriptor): Promise<void> {
  const { blobs } = cx.storage;
  const digest = parseDigest(desc.digest);
  // Vouched for before anything found in the bucket is relied on: an old unreferenced copy may be swept.
  const fresh = await cx.rt.vouch(cx.local, [desc.digest]);
  if (await blobs.statInRepository(cx.local, digest, fresh)) return;
  if (await blobs.stat(digest, fresh)) {
    await blobs.link(cx.local, digest);
    return;
  }
  const got = await cx.client.getBlob(cx.remote, desc.digest);
  if (got.size !== null && got.size !== desc.size) {
    await got.body.cancel();
    throw new RegistryFault(`upstream announced ${got.size} bytes for ${cx.remote}@${desc.digest}, whose descriptor says ${desc.size}; nothing was stored`);
  }
  const written = await blobs.writeVerified(digest, got.body, { partSize: cx.rt.partSize, hash: cx.rt.hash(digest.algorithm), size: desc.size });
  await blobs.link(cx.local, digest);
  cx.counts.blobsCopied++;
  cx.counts.bytesCopied += written;
}

/** Stores the manifest's bytes and links it (with the tag, for the tag's own manifest) through the metadata object. */
async function storeManifest(cx: CopyContext, d: string, bytes: Uint8Array, m: ParsedManifest, tag: string | null): Promise<void> {
  const vouch = [d, ...m.blobs.map((b) => b.digest), ...m.manifests.map((c) => c.digest)];
  await cx.rt.vouch(cx.local, vouch);
  await cx.storage.manifests.putData(parseDigest(d), bytes, m.mediaType);
  const subject = subjectLink(m, d, bytes.byteLength);
  // checkedFresh: everything it names was put in the repository by this task, after vouching.
  unwrap(await cx.rt.linkManifest(cx.local, { digest: d, subject, tags: tag === null ? [] : [tag], mayMove: true, ifMatch: null, ifNoneMatch: null, vouch, checkedFresh: true }));
  cx.counts.manifestsCopied++;
  cx.counts.bytesCopied += bytes.byteLength;
}
