// The plain-data state of a sync run (one upstream), saved by the coordinator after every step, and the
// report the admin API shows of it. Everything a step needs to go on is in here; lists are bounded so the
// checkpoint stays small (the coordinator keeps it in one storage value).

/** A tag being copied. Its progress is content-addressed, so a step that died is simply re-run from here. */
export interface TagTask {
  tag: string;
  /** Failed attempts so far (retried while ≤ maxRetries). */
  attempts: number;
  /** The manifest the tag names upstream, once asked (HEAD); null before. */
  digest: string | null;
  /**
   * Manifests still to store, in order: children before the index naming them, the tag's own manifest last.
   * Each is stored (with its blobs) and linked before the next.
   */
  manifests: string[];
  /** Blobs of manifests[0] already in the repository (its config and layers, in the manifest's order). */
  blobsDone: number;
  /** Manifests this task stored and linked already (an index's children are not fetched twice). */
  stored: string[];
}

export interface SyncFailure {
  repository: string;
  /** null: the repository itself (its tag list could not be read). */
  tag: string | null;
  reason: string;
  attempts: number;
}

export interface SyncCounts {
  /** Upstream repositories the content entries cover. */
  repositories: number;
  /** Tags listed in those repositories, and those the filters kept. */
  tagsSeen: number;
  tagsMatched: number;
  /** Tags copied (new or moved), skipped (already cached at the same digest), failed after their retries. */
  copied: number;
  skipped: number;
  failed: number;
  manifestsCopied: number;
  blobsCopied: number;
  /** Bytes fetched from the upstream and written to the bucket (blobs and manifests). */
  bytesCopied: number;
}

export type SyncPhase = "catalog" | "tags" | "copy" | "done";

export interface SyncState {
  upstream: string;
  phase: SyncPhase;
  /** The catalog's `last` for the next page; null: the first page. */
  cursor: string | null;
  pages: number;
  /** The repositories to sync, with the content entry that claimed each and its local name. */
  repos: { remote: string; local: string; content: number }[];
  /** The repository being synced (index into repos). */
  repo: number;
  /** Its matched tags not started yet, and its tag-list attempts that failed. */
  tags: string[];
  listAttempts: number;
  task: TagTask | null;
  counts: SyncCounts;
  /** Bounded lists for the report: what was copied ("local:tag"), what failed and why, what was cut short. */
  copiedList: string[];
  failures: SyncFailure[];
  notes: string[];
}

/** Report entries listed at most (the counts go on). */
export const MAX_LISTED = 100;

export function emptyCounts(): SyncCounts {
  return { repositories: 0, tagsSeen: 0, tagsMatched: 0, copied: 0, skipped: 0, failed: 0, manifestsCopied: 0, blobsCopied: 0, bytesCopied: 0 };
}

export function listed<T>(list: T[], item: T): T[] {
  return list.length < MAX_LISTED ? [...list, item] : list;
}

export function syncResult(s: SyncState): Record<string, unknown> {
  const current = s.phase === "done" ? null : s.repos[s.repo];
  return {
    upstream: s.upstream,
    phase: s.phase,
    ...s.counts,
    current: current ? { repository: current.local, remote: current.remote, tag: s.task?.tag ?? null, retrying: (s.task?.attempts ?? 0) > 0 } : null,
    copiedList: s.copiedList,
    failures: s.failures,
    notes: s.notes,
  };
}
