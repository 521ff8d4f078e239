// A collection run's checkpoint (saved by the coordinator after every step) and its report. The bulky
// parts of a run — the mark set, the doomed manifests, what was swept — live in the ledger, not here.

export type GcPhase = "fence" | "mark" | "retention" | "untagged" | "sweep" | "links" | "multipart" | "done";

/**
 * What a run does with retention policies (BERTH_RETENTION): none configured; remove the tags they decide;
 * simulate (a dry run: nothing removed, but the report shows what the removals would free); or report only
 * (retention's own dryRun in a real run: the tags are listed and keep what they point at).
 */
export type RetentionMode = "off" | "apply" | "simulate" | "report";

export interface GcCounts {
  repositories: number;
  /** Revision links walked (a manifest in two repositories counts twice). */
  manifests: number;
  /** Distinct manifests whose bytes were read. */
  manifestsRead: number;
  /** Revision links whose bytes are gone (nothing to mark). */
  manifestsMissing: number;
  /** Manifests of a kind Berth does not know: every digest in them was kept. */
  manifestsUnrecognised: number;
  /** Manifests no tag reaches (with delete-untagged: the candidates for removal). */
  manifestsUntagged: number;
  manifestsRemoved: number;
  tags: number;
  /** Tags retention removed (or, in a dry run or with retention's dryRun, would remove). */
  tagsRemoved: number;
  blobsWalked: number;
  blobsMarked: number;
  blobsSwept: number;
  bytesSwept: number;
  layerLinksRemoved: number;
  uploadsRemoved: number;
  /** Multipart uploads begun longer than the upload purge age ago and never completed, aborted (or would be). */
  multipartAborted: number;
}

export interface GcState {
  phase: GcPhase;
  dryRun: boolean;
  deleteUntagged: boolean;
  delayMs: number;
  retention: RetentionMode;
  startedAt: number;
  /** Objects per step (smaller in tests, to see a run take several steps). */
  perStep: number;
  /** The walk's resume point (repositories/ in the mark phase, blobs/ in the sweep). */
  cursor: string | null;
  /** The repository the mark walk is in (its working rows are in the ledger). */
  repo: string | null;
  /** Where removing retention's tags resumes. */
  untagCursor: { repo: string; tag: string } | null;
  /** Where removing untagged manifests resumes. */
  doomedCursor: { repo: string; digest: string } | null;
  /** Where removing swept blobs' layer links resumes. */
  linkCursor: { digest: string; repo: string } | null;
  /** When the sweep began: blobs written less than delayMs before it are kept. */
  sweepAt: number | null;
  counts: GcCounts;
  /** The digests swept (or, in a dry run, that would be), up to REPORT_LIST entries. */
  blobs: string[];
  /** The manifests removed as untagged (or that would be), "repository@digest", up to REPORT_LIST entries. */
  removed: string[];
  /** The tags retention removed (or would remove) and the rule that decided, up to REPORT_LIST entries. */
  tagsRemovedList: { repository: string; tag: string; digest: string; reason: string }[];
}

/** Entries a report's lists hold at most (the counts are always complete). */
export const REPORT_LIST = 1000;

/** Adds to a report's list while it has room. */
export function note<T>(list: T[], item: T): void {
  if (list.length < REPORT_LIST) list.push(item);
}

export function emptyCounts(): GcCounts {
  return {
    repositories: 0,
    manifests: 0,
    manifestsRead: 0,
    manifestsMissing: 0,
    manifestsUnrecognised: 0,
    manifestsUntagged: 0,
    manifestsRemoved: 0,
    tags: 0,
    tagsRemoved: 0,
    blobsWalked: 0,
    blobsMarked: 0,
    blobsSwept: 0,
    bytesSwept: 0,
    layerLinksRemoved: 0,
    uploadsRemoved: 0,
    multipartAborted: 0,
  };
}
