// The referrers backfill (the distribution-spec's "Enabling the Referrers API"): walks every repository for
// referrers tags (`sha256-<hex>`, the tag schema clients fall back to on registries without the API, e.g.
// Distribution writing to this bucket) and indexes each listed manifest whose subject is valid, through the
// repository's metadata object, so the referrers API finds it without reading the tag. The API also reads
// the tag itself (registry/referrers.ts), which covers subjects the job has not reached and tags pushed
// later through another program. Costs a walk of repositories/ plus, per referrers tag, a read of its index
// and of each manifest listed.

import { formatDigest } from "../oci/digest";
import { isReferrersTag } from "../oci/referrers-tag";
import { taggedReferrers } from "../storage/tagged-referrers";
import type { Job } from "./job";

/** Objects walked per step, and referrers tags read per step (each costs a few reads and RPCs). */
const OBJECTS_PER_STEP = 5000;
const TAGS_PER_STEP = 50;

export interface BackfillState {
  cursor: string | null;
  repositories: number;
  tags: number;
  indexed: number;
  /** Valid when read, but removed from the repository before it was indexed. */
  gone: number;
  lastRepo: string | null;
}

export const referrersBackfill: Job<BackfillState> = {
  kind: "referrers-backfill",

  start(params) {
    if (Object.keys(params).length > 0) throw new Error("referrers-backfill takes no parameters");
    return { cursor: null, repositories: 0, tags: 0, indexed: 0, gone: 0, lastRepo: null };
  },

  async step(state, env) {
    const indexer = env.referrers;
    if (!indexer) throw new Error("this coordinator cannot index referrers");
    const next = { ...state };
    let walked = 0;
    let tags = 0;
    for await (const e of env.storage.vacuum.walkRepositories(state.cursor ?? undefined)) {
      next.cursor = e.cursor;
      if (e.repository !== next.lastRepo) {
        next.repositories++;
        next.lastRepo = e.repository;
      }
      if (e.kind === "tag" && isReferrersTag(e.tag)) {
        next.tags++;
        for (const r of await taggedReferrers(env.storage, e.repository, e.tag)) {
          if (await indexer.index(e.repository, formatDigest(r.subject), r.descriptor)) next.indexed++;
          else next.gone++;
        }
        if (++tags >= TAGS_PER_STEP) return { state: next, done: false };
      }
      if (++walked >= OBJECTS_PER_STEP) return { state: next, done: false };
    }
    return { state: next, done: true };
  },

  result: (s) => ({ repositories: s.repositories, tags: s.tags, indexed: s.indexed, gone: s.gone }),
};
