// The mark phase of a collection: one walk of repositories/ in key order, a bounded number of objects per
// step. Each repository's objects come together (its pull records, layer links, revision links, tags), so its
// outcome is decided when the walk leaves it: retention judges its tags (retain.ts); then which manifests it
// keeps — every revision, or with delete-untagged (or a retention policy's deleteUntagged/deleteReferrers)
// those a tag (or a vouch during the run) reaches, with the children of kept indexes and the referrers of kept
// subjects — and these and everything they reference are marked. The rest is recorded as doomed. Manifest
// bytes are read once per digest for the whole registry; a tag costs one read of its link.

import { formatDigest, parseDigest } from "../../oci/digest";
import { manifestReferences, type ManifestReferences } from "../../oci/references";
import { mapLimit } from "../../storage/limit";
import type { RepositoryEntry } from "../../storage/vacuum";
import type { GcRuntime, JobEnvironment } from "../job";
import { pastDelay } from "../retention";
import { retainRepository, type UntaggedRules } from "./retain";
import type { GcState } from "./state";

/** Reads of manifest bytes and tag links at once. */
const READ_CONCURRENCY = 8;

export async function markStep(state: GcState, env: JobEnvironment, gc: GcRuntime): Promise<GcState> {
  const next: GcState = { ...state, counts: { ...state.counts } };
  const entries: RepositoryEntry[] = [];
  let exhausted = true;
  for await (const e of env.storage.vacuum.walkRepositories(state.cursor ?? undefined)) {
    entries.push(e);
    if (entries.length >= state.perStep) {
      exhausted = false;
      break;
    }
  }
  const { ledger } = gc;

  // The reads this page needs, all at once: manifests not read yet in this run, and tag links.
  const revisions = entries.flatMap((e) => (e.kind === "revision" ? [formatDigest(e.digest)] : []));
  const unread = [...new Set(revisions)].filter((d) => ledger.refsOf(d) === undefined);
  await mapLimit(unread, READ_CONCURRENCY, async (d) => {
    const bytes = await env.storage.vacuum.readManifest(parseDigest(d));
    const refs: ManifestReferences | null = bytes ? manifestReferences(bytes) : null;
    ledger.saveRefs(d, refs);
    next.counts.manifestsRead++;
    if (refs === null) next.counts.manifestsMissing++;
    else if (refs.lenient) next.counts.manifestsUnrecognised++;
  });
  const tagTargets = new Map<number, string | null>();
  await mapLimit(
    entries.map((e, i) => [e, i] as const).filter(([e]) => e.kind === "tag"),
    READ_CONCURRENCY,
    async ([e, i]) => {
      if (e.kind !== "tag") return;
      const d = await env.storage.tags.resolve(e.repository, e.tag).catch(() => null);
      tagTargets.set(i, d ? formatDigest(d) : null);
    },
  );

  // Removed before the ledger is written, so that the step's ledger writes and its checkpoint have no I/O
  // between them: a crash cannot leave a repository finished in the ledger but not in the checkpoint.
  const leftovers = entries.filter((e) => e.kind === "upload" && e.lastModified > 0 && e.lastModified < state.startedAt - gc.config.uploadPurgeAgeMs);
  if (leftovers.length > 0) {
    if (!state.dryRun) await env.storage.vacuum.removeUploadLeftovers(leftovers.map((e) => e.cursor));
    next.counts.uploadsRemoved += leftovers.length;
  }

  entries.forEach((e, i) => {
    if (e.repository !== next.repo) {
      if (next.repo !== null) finishRepository(next, gc, next.repo);
      next.repo = e.repository;
      next.counts.repositories++;
    }
    const repo = e.repository;
    switch (e.kind) {
      case "layer":
        ledger.addLayerLink(repo, formatDigest(e.digest));
        break;
      case "revision":
        ledger.addRevision(repo, formatDigest(e.digest), e.lastModified);
        next.counts.manifests++;
        break;
      case "tag":
        ledger.addTag(repo, e.tag, tagTargets.get(i) ?? null, e.lastModified);
        next.counts.tags++;
        break;
      case "tag-index":
        ledger.addTagIndex(repo, e.tag, formatDigest(e.digest));
        break;
      case "pull":
        ledger.addPull(repo, formatDigest(e.digest), e.lastModified);
        break;
      case "upload":
      case "other":
        break;
    }
    next.cursor = e.cursor;
  });

  if (exhausted) {
    if (next.repo !== null) finishRepository(next, gc, next.repo);
    next.repo = null;
    next.cursor = null;
    next.phase = "retention";
  }
  return next;
}

/** Decides what the repository keeps, marks it, records the rest as doomed, and drops its working rows. */
function finishRepository(state: GcState, gc: GcRuntime, repo: string): void {
  const { ledger } = gc;
  const rules = retainRepository(state, gc, repo);
  const revisions = ledger.revisionsOf(repo);
  const refs = new Map(revisions.map((d) => [d, ledger.refsOf(d) ?? null]));
  let kept: Set<string>;
  if (rules === null) {
    kept = new Set(revisions);
  } else {
    const held = new Set(revisions);
    const referrers = new Map<string, string[]>();
    for (const [d, r] of refs) {
      if (r?.subject) referrers.set(r.subject, [...(referrers.get(r.subject) ?? []), d]);
    }
    kept = new Set();
    const pushed = ledger.revisionTimesOf(repo);
    const removable = (d: string) => mayRemove(rules, refs.get(d) ?? null, pushed.get(d) ?? 0, state.startedAt);
    const roots = [...ledger.taggedOf(repo), ...ledger.vouchedOf(repo), ...revisions.filter((d) => !removable(d))];
    const queue = roots.filter((d) => held.has(d));
    while (queue.length > 0) {
      const d = queue.pop()!;
      if (kept.has(d)) continue;
      kept.add(d);
      for (const c of refs.get(d)?.children ?? []) if (held.has(c)) queue.push(c);
      queue.push(...(referrers.get(d) ?? []));
    }
  }
  for (const d of revisions) {
    const r = refs.get(d) ?? null;
    if (kept.has(d)) {
      ledger.mark([d, ...(r?.blobs ?? []), ...(r?.children ?? [])]);
    } else {
      ledger.addDoomed(repo, d, r?.subject ?? null);
      state.counts.manifestsUntagged++;
    }
  }
  ledger.forgetRepository(repo);
}

/** Whether a manifest no tag reaches may go under the rules (referrers and the rest have their own). */
function mayRemove(rules: UntaggedRules, refs: ManifestReferences | null, pushedAt: number, now: number): boolean {
  // An unknown push time never counts as old (as for blobs), unless any age will do.
  if (rules.delayMs > 0 && !pastDelay(rules.delayMs, pushedAt > 0 ? pushedAt : null, now)) return false;
  return refs?.subject ? rules.referrers : rules.untagged;
}
