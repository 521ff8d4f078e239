// The removing phases of a collection, each bounded per step and resumable: untagged manifests (with
// delete-untagged) through their repositories' metadata objects; then the sweep of blobs/, deleting in
// batches the blobs the run did not mark and that are older than the delay; then the layer links of the
// swept blobs; last, multipart uploads abandoned longer than the upload purge age. Every removal is re-checked against the mark set right before it, with nothing in between,
// and runs with its keys in flight so that a concurrent vouch waits for it (fence.ts). A dry run records
// what it would remove and removes nothing.

import { formatDigest, parseDigest } from "../../oci/digest";
import type { GcRuntime, JobEnvironment } from "../job";
import { note, type GcState } from "./state";

/** Keys per delete request (S3's DeleteObjects limit). */
const DELETE_BATCH = 1000;
/** Untagged manifests removed per step (each is an RPC to its repository's object and ~3 S3 requests). */
const MANIFESTS_PER_STEP = 50;

export async function untaggedStep(state: GcState, gc: GcRuntime): Promise<GcState> {
  const next: GcState = { ...state, counts: { ...state.counts }, removed: [...state.removed] };
  const batch = gc.ledger.doomedAfter(state.doomedCursor, MANIFESTS_PER_STEP);
  for (const m of batch) {
    next.doomedCursor = { repo: m.repo, digest: m.digest };
    if (state.dryRun) {
      note(next.removed, `${m.repo}@${m.digest}`);
      continue;
    }
    if (!gc.ledger.isDoomed(m.repo, m.digest)) continue; // vouched for since: rescued
    const outcome = await gc.fence.removing([`${m.repo}@${m.digest}`], () => gc.removeManifest(m.repo, m.digest, m.subject, m.indexTags));
    if (outcome === "kept") {
      gc.ledger.rescue(m.repo, m.digest);
    } else {
      gc.ledger.setRemoved(m.repo, m.digest);
      next.counts.manifestsRemoved++;
      note(next.removed, `${m.repo}@${m.digest}`);
    }
  }
  if (batch.length < MANIFESTS_PER_STEP) {
    next.phase = "sweep";
    next.doomedCursor = null;
  }
  return next;
}

export async function sweepStep(state: GcState, env: JobEnvironment, gc: GcRuntime): Promise<GcState> {
  const next: GcState = { ...state, counts: { ...state.counts }, blobs: [...state.blobs] };
  if (next.sweepAt === null) {
    next.sweepAt = env.now();
    next.counts.blobsMarked = gc.ledger.countMarked();
  }
  const cutoff = next.sweepAt - state.delayMs;
  let candidates: { digest: string; size: number }[] = [];
  let walked = 0;
  let exhausted = true;
  const flush = async () => {
    // The final check: a vouch may have marked some since they were seen.
    const doomed = candidates.filter((c) => !gc.ledger.isMarked(c.digest));
    candidates = [];
    if (doomed.length === 0) return;
    if (!state.dryRun) {
      const digests = doomed.map((c) => c.digest);
      await gc.fence.removing(digests, () => env.storage.vacuum.removeBlobs(digests.map(parseDigest)));
    }
    for (const c of doomed) {
      gc.ledger.addSwept(c.digest, c.size);
      next.counts.blobsSwept++;
      next.counts.bytesSwept += c.size;
      note(next.blobs, c.digest);
    }
  };
  for await (const blob of env.storage.blobs.walk(state.cursor ?? undefined)) {
    walked++;
    next.cursor = blob.cursor;
    const digest = formatDigest(blob.digest);
    // lastModified 0: the store did not say; such a blob is never taken for old.
    if (blob.lastModified > 0 && blob.lastModified < cutoff && !gc.ledger.isMarked(digest)) {
      candidates.push({ digest, size: blob.size });
      if (candidates.length >= DELETE_BATCH) await flush();
    }
    if (walked >= state.perStep) {
      exhausted = false;
      break;
    }
  }
  await flush();
  next.counts.blobsWalked += walked;
  if (exhausted) {
    next.cursor = null;
    next.phase = state.dryRun ? "multipart" : "links";
  }
  return next;
}

export async function linksStep(state: GcState, env: JobEnvironment, gc: GcRuntime): Promise<GcState> {
  const next: GcState = { ...state, counts: { ...state.counts } };
  const links = gc.ledger.sweptLinksAfter(state.linkCursor, DELETE_BATCH);
  const last = links.at(-1);
  if (last) next.linkCursor = last;
  // A blob uploaded again since it was swept is marked (its commit vouched for it): keep its links.
  const gone = links.filter((l) => !gc.ledger.isMarked(l.digest));
  if (gone.length > 0) {
    await gc.fence.removing(
      gone.map((l) => l.digest),
      () => env.storage.vacuum.removeLayerLinks(gone.map((l) => ({ repository: l.repo, digest: parseDigest(l.digest) }))),
    );
    next.counts.layerLinksRemoved += gone.length;
  }
  if (links.length < DELETE_BATCH) next.phase = "multipart";
  return next;
}

/**
 * Aborts multipart uploads begun more than the upload purge age before the run (as Distribution purges
 * `_uploads/` by their start): an upload session lives at most that long idle, and its own expiry aborts
 * its upload, so these belong to sessions that are gone. There are few (one per open session): one listing
 * per step, and the next step lists again while aborts remain.
 */
export async function multipartStep(state: GcState, env: JobEnvironment, gc: GcRuntime): Promise<GcState> {
  const next: GcState = { ...state, counts: { ...state.counts } };
  const cutoff = state.startedAt - gc.config.uploadPurgeAgeMs;
  const stale = [];
  for await (const u of env.storage.vacuum.multipartUploads()) {
    if (u.initiated > 0 && u.initiated < cutoff) stale.push(u);
    if (stale.length >= DELETE_BATCH) break;
  }
  if (!state.dryRun) await env.storage.vacuum.abortMultipartUploads(stale);
  next.counts.multipartAborted += stale.length;
  if (state.dryRun || stale.length < DELETE_BATCH) next.phase = "done";
  return next;
}
