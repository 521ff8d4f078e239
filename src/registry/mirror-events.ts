// What the pull-through cache did beyond answering, as the handlers that did it report it: content fetched from
// an upstream and stored in a cache repository (a fill), and answers served stale because the upstream could
// not be asked. The Worker entry turns these into audit lines (a fill writes to the bucket) and metrics; a fill
// is not a push, so it sends no notification (as in Distribution's proxy mode, only the client's pull does).

export type MirrorEvent =
  /** A manifest fetched from `upstream` was stored and linked in the cache repository (`tag` moved to it, if any). */
  | { action: "manifest.fill"; upstream: string; repository: string; digest: string; size: number; tag: string | null }
  /** A blob fetched from `upstream` was stored, verified, and linked in the cache repository. */
  | { action: "blob.fill"; upstream: string; repository: string; digest: string; size: number }
  /** What the cache held was served because the upstream failed (down, throttling, refusing Berth). */
  | { action: "stale"; upstream: string; repository: string; what: "manifest" | "tags" | "referrers" };

export interface MirrorListener {
  /** Never awaited and never fails the request (a blob's fill is heard after its answer has gone). */
  observed(event: MirrorEvent): void;
}

export const NO_MIRROR_LISTENER: MirrorListener = { observed: () => {} };
