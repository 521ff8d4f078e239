// The read seam: a successful pull (a manifest served by GET or HEAD, a blob GET answered with its redirect or
// its bytes) is noted here by the handler that served it. Unlike a write, nothing waits for it: a listener
// batches what it hears and must never slow down or fail the pull. Notifications count pulls and send pull
// events through it.

import type { RequestInfo } from "./request";

export type ReadEvent =
  /** A manifest was served (`tag`: the tag the request named, if any). */
  | { action: "manifest.pull"; repository: string; digest: string; mediaType: string; size: number; tag: string | null }
  /** A blob GET was answered (a redirect to the bucket, or the bytes). */
  | { action: "blob.pull"; repository: string; digest: string };

export interface ReadListener {
  /** `waitUntil` keeps the isolate alive for a flush that outlives the answer. */
  pulled(event: ReadEvent, request: RequestInfo, waitUntil: (work: Promise<unknown>) => void): void;
}

/** The default: nobody listens. */
export const NO_READ_LISTENER: ReadListener = { pulled: () => {} };

/** Every listener given hears every pull (none of them when there are none). */
export function readListeners(...listeners: (ReadListener | null)[]): ReadListener {
  const all = listeners.filter((l): l is ReadListener => l !== null);
  if (all.length === 0) return NO_READ_LISTENER;
  if (all.length === 1) return all[0]!;
  return { pulled: (event, request, waitUntil) => all.forEach((l) => l.pulled(event, request, waitUntil)) };
}
