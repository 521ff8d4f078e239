// Retention decisions: given BERTH_RETENTION (config/retention.ts), a repository and its tags with their push
// and pull times, which tags the garbage collector keeps and which it removes, and why. Pure functions, no I/O:
// the GC gathers the facts, this module decides, and a dry run prints each reason unchanged.
//
// zot's semantics (pkg/retention and its "Retention policies" docs), as implemented here:
// - A repository gets the FIRST policy with a matching glob; no policy matching → every tag is kept.
// - A policy whose keepTags is empty keeps every tag.
// - Each tag is governed by the FIRST keepTags entry whose patterns match it (no patterns = every tag); the
//   later entries are not consulted for that tag, and a tag no entry's patterns match is removed. (zot's docs
//   call the entries a "logical OR"; its code assigns each tag to the first matching entry, and Berth follows
//   the code, so a config copied from zot removes the same tags.)
// - Within an entry: patterns AND (pushedWithin OR pulledWithin OR mostRecentlyPushedCount OR
//   mostRecentlyPulledCount); an entry with no criteria keeps every tag it governs. The counts rank only the
//   tags that entry governs.
// - pulledWithin also keeps tags PUSHED within its window: a tag too new to have been pulled is not old.
// - Never-pulled tags (pulledAt null) rank after every pulled one for mostRecentlyPulledCount, and still fill
//   its slots when fewer tags were pulled (zot ranks them by a zero time the same way).
// - A tag whose push time is unknown (pushedAt null) is kept: zot keeps tags it has no statistics for.
// - `delay` does not protect tags: zot applies it only to untagged manifests and to referrers whose subject is
//   gone (see pastDelay), measured from the manifest's push.

import type { KeepTagsRule, RetentionConfig, RetentionPolicy } from "../config/retention";

export interface TagFacts {
  tag: string;
  digest: string;
  /** When the tag was last pushed (ms since epoch); null = unknown. */
  pushedAt: number | null;
  /** When the manifest was last pulled (ms since epoch); null = never, or unknown. */
  pulledAt: number | null;
}

export interface TagDecision {
  tag: string;
  keep: boolean;
  /** The policy and rule that decided, e.g. "policies[0].keepTags[1]: among the 5 most recently pushed". */
  reason: string;
}

/** The first policy whose repositories match (zot's rule), with its index for reasons; null = none matches. */
export function policyFor(cfg: RetentionConfig, repo: string): { index: number; policy: RetentionPolicy } | null {
  const index = cfg.policies.findIndex((p) => p.matches(repo));
  return index < 0 ? null : { index, policy: cfg.policies[index]! };
}

/**
 * Whether an untagged manifest or orphaned referrer pushed at `pushedAt` is old enough to delete: at least
 * `delay` old (zot: deletable once its blob's time plus delay is not after now). Unknown time → never, since
 * the manifest may have been pushed a moment ago (an index's children arrive before the index).
 */
export function pastDelay(delayMs: number, pushedAt: number | null, now: number): boolean {
  return pushedAt !== null && now - pushedAt >= delayMs;
}

/** Most recent first; ties by tag name, so a run's decisions do not depend on the listing order. */
function byPush(a: TagFacts, b: TagFacts): number {
  return (b.pushedAt ?? 0) - (a.pushedAt ?? 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
}

/** Pulled tags by last pull, most recent first; never-pulled ones after them, by push. */
function byPull(a: TagFacts, b: TagFacts): number {
  if (a.pulledAt !== null && b.pulledAt !== null && a.pulledAt !== b.pulledAt) return b.pulledAt - a.pulledAt;
  if (a.pulledAt === null && b.pulledAt !== null) return 1;
  if (a.pulledAt !== null && b.pulledAt === null) return -1;
  return byPush(a, b);
}

/** The N first of `tags` in `order`. */
function top(tags: readonly TagFacts[], n: number, order: (a: TagFacts, b: TagFacts) => number): Set<string> {
  return new Set([...tags].sort(order).slice(0, n).map((t) => t.tag));
}

function hasCriteria(rule: KeepTagsRule): boolean {
  return rule.pushedWithin !== null || rule.pulledWithin !== null || rule.mostRecentlyPushedCount > 0 || rule.mostRecentlyPulledCount > 0;
}

/** Decides the tags one keepTags entry governs; `at` names it ("policies[0].keepTags[1]"). */
function applyRule(rule: KeepTagsRule, at: string, tags: readonly TagFacts[], now: number): TagDecision[] {
  if (!hasCriteria(rule)) {
    return tags.map((t) => ({ tag: t.tag, keep: true, reason: `${at}: matches its patterns (an entry without criteria keeps every tag it matches)` }));
  }
  // Strictly after the window's start, like zot's time.After.
  const within = (time: number | null, ms: number) => time !== null && time > now - ms;
  const pushedTop = rule.mostRecentlyPushedCount > 0 ? top(tags, rule.mostRecentlyPushedCount, byPush) : new Set<string>();
  const pulledTop = rule.mostRecentlyPulledCount > 0 ? top(tags, rule.mostRecentlyPulledCount, byPull) : new Set<string>();
  return tags.map((t) => {
    const kept: string[] = [];
    const missed: string[] = [];
    const { pushedWithin: push, pulledWithin: pull } = rule;
    if (push !== null) {
      if (within(t.pushedAt, push.ms)) kept.push(`pushed within ${push.text}`);
      else missed.push(`not pushed within ${push.text}`);
    }
    if (pull !== null) {
      if (within(t.pulledAt, pull.ms)) kept.push(`pulled within ${pull.text}`);
      else if (within(t.pushedAt, pull.ms)) kept.push(`pushed within ${pull.text}, so too new for its pulledWithin`);
      else missed.push(t.pulledAt === null ? `never pulled (pulledWithin ${pull.text})` : `not pulled within ${pull.text}`);
    }
    if (rule.mostRecentlyPushedCount > 0) {
      const what = `among the ${rule.mostRecentlyPushedCount} most recently pushed`;
      if (pushedTop.has(t.tag)) kept.push(what);
      else missed.push(`not ${what}`);
    }
    if (rule.mostRecentlyPulledCount > 0) {
      const what = `among the ${rule.mostRecentlyPulledCount} most recently pulled`;
      if (pulledTop.has(t.tag)) kept.push(t.pulledAt === null ? `${what} (never pulled, but fewer tags were)` : what);
      else missed.push(`not ${what}`);
    }
    return kept.length > 0
      ? { tag: t.tag, keep: true, reason: `${at}: ${kept.join("; ")}` }
      : { tag: t.tag, keep: false, reason: `${at}: none of its criteria keeps it (${missed.join("; ")})` };
  });
}

/**
 * Keep or remove, for each tag of `repo`, with the rule that decided; in the order given. `now` is the run's
 * clock (ms since epoch), passed in so a run decides every tag against the same instant.
 */
export function decideTags(cfg: RetentionConfig, repo: string, tags: readonly TagFacts[], now: number): TagDecision[] {
  const found = policyFor(cfg, repo);
  if (found === null) return tags.map((t) => ({ tag: t.tag, keep: true, reason: "no retention policy matches the repository" }));
  const { index, policy } = found;
  const at = `policies[${index}]`;
  if (policy.keepTags.length === 0) return tags.map((t) => ({ tag: t.tag, keep: true, reason: `${at}: keepTags is empty, so every tag is kept` }));

  const decided = new Map<string, TagDecision>();
  const governed = policy.keepTags.map((): TagFacts[] => []);
  for (const t of tags) {
    if (t.pushedAt === null) {
      decided.set(t.tag, { tag: t.tag, keep: true, reason: `${at}: push time unknown, so it is kept (as zot keeps tags it has no statistics for)` });
      continue;
    }
    const rule = policy.keepTags.findIndex((r) => r.patterns.length === 0 || r.patterns.some((re) => re.test(t.tag)));
    if (rule < 0) decided.set(t.tag, { tag: t.tag, keep: false, reason: `${at}: no keepTags rule keeps it (it matches none of their patterns)` });
    else governed[rule]!.push(t);
  }
  policy.keepTags.forEach((rule, i) => {
    for (const d of applyRule(rule, `${at}.keepTags[${i}]`, governed[i]!, now)) decided.set(d.tag, d);
  });
  return tags.map((t) => decided.get(t.tag)!);
}
