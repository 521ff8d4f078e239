// Retention policies inside a collection (BERTH_RETENTION, decided by jobs/retention.ts): when the mark walk
// leaves a repository, its tags are judged with their push times (the tag links' Last-Modified) and pull
// times (Berth's pull records), the tags to remove are recorded and no longer keep anything in this run,
// and the rules for the repository's untagged manifests and referrers are returned to the mark. The
// retention phase then removes the recorded tags, each through the repository's metadata object, only if
// the tag still names the digest decided on and no push used that manifest during the run (a vouch keeps
// its tags, as it rescues a doomed manifest). So a run removes a tag, then what only it kept, in one pass.

import { decideTags, policyFor } from "../retention";
import type { GcRuntime } from "../job";
import { note, type GcState } from "./state";

/** Tags removed per step (each is an RPC to its repository's object and ~2 S3 requests). */
const TAGS_PER_STEP = 50;

/** Which of a repository's manifests no tag reaches may go: the run's delete-untagged, or its retention policy. */
export interface UntaggedRules {
  /** Manifests without a subject. */
  untagged: boolean;
  /** Referrers whose subject is not kept. */
  referrers: boolean;
  /** Only manifests whose revision link is at least this old (ms; 0 = any). */
  delayMs: number;
}

/**
 * Judges the walked repository's tags (recording the removals) and returns the rules for its untagged
 * manifests; null = keep every manifest (Distribution's default).
 */
export function retainRepository(state: GcState, gc: GcRuntime, repo: string): UntaggedRules | null {
  const global: UntaggedRules | null = state.deleteUntagged ? { untagged: true, referrers: true, delayMs: 0 } : null;
  const retention = gc.config.retention;
  const found = retention && state.retention !== "off" ? policyFor(retention, repo) : null;
  if (!retention || !found) return global;

  const { ledger } = gc;
  const vouched = new Set(ledger.vouchedOf(repo));
  const facts = ledger.tagFactsOf(repo);
  const digests = new Map(facts.map((t) => [t.tag, t.digest]));
  for (const d of decideTags(retention, repo, facts, state.startedAt)) {
    const digest = digests.get(d.tag)!;
    // A tag that may never be deleted, or whose manifest a push used during this run, stays.
    if (d.keep || gc.isImmutable(repo, d.tag) || vouched.has(digest)) continue;
    ledger.addUntag({ repo, tag: d.tag, digest, reason: d.reason });
    if (state.retention !== "report") ledger.dropTag(repo, d.tag);
    if (state.retention !== "apply") {
      state.counts.tagsRemoved++;
      note(state.tagsRemovedList, { repository: repo, tag: d.tag, digest, reason: d.reason });
    }
  }
  if (state.retention === "report") return global;
  return global ?? { untagged: found.policy.deleteUntagged, referrers: found.policy.deleteReferrers, delayMs: retention.delayMs };
}

/** The retention phase: removes the recorded tags (only when retention applies), a bounded number per step. */
export async function untagStep(state: GcState, gc: GcRuntime): Promise<GcState> {
  const next: GcState = { ...state, counts: { ...state.counts }, tagsRemovedList: [...state.tagsRemovedList] };
  const batch = state.retention === "apply" ? gc.ledger.untagsAfter(state.untagCursor, TAGS_PER_STEP) : [];
  for (const u of batch) {
    next.untagCursor = { repo: u.repo, tag: u.tag };
    if (!gc.ledger.isUntagPending(u.repo, u.tag)) continue; // its manifest was used since
    const outcome = await gc.fence.removing([`${u.repo}@${u.digest}`], () => gc.untag(u.repo, u.tag, u.digest));
    gc.ledger.setUntagDone(u.repo, u.tag, outcome === "removed");
    if (outcome === "kept") {
      // The tag moved or turned immutable: keep what it named for this run rather than judge it again.
      gc.ledger.rescue(u.repo, u.digest);
      continue;
    }
    next.counts.tagsRemoved++;
    note(next.tagsRemovedList, { repository: u.repo, tag: u.tag, digest: u.digest, reason: u.reason });
  }
  if (batch.length < TAGS_PER_STEP) {
    next.phase = "untagged";
    next.untagCursor = null;
  }
  return next;
}
