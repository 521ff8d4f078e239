// The write seam: every successful change to what the registry holds is recorded here, once, by the handler
// that made it, after the change is stored and before the client is told (one call per request: a manifest
// push and its tags come together). Notifications listen here (registry/notify.ts); the audit log, metrics
// and quota accounting can hang off it too. A listener that must not lose an
// event records it durably before it resolves: the client's answer waits for it.

import type { RequestInfo } from "./request";

export type WriteEvent =
  /** A blob was uploaded and verified (or was already stored) and is now linked into the repository. */
  | { action: "blob.commit"; repository: string; digest: string; size: number }
  /** A blob was linked from another repository without an upload (`from` null: found anywhere). */
  | { action: "blob.mount"; repository: string; digest: string; from: string | null }
  /** The repository's link to a blob was removed. */
  | { action: "blob.delete"; repository: string; digest: string }
  /** A manifest was stored in the repository (`tag`: the tag the PUT named, if any). */
  | { action: "manifest.put"; repository: string; digest: string; mediaType: string; size: number; tag: string | null; subject: string | null }
  /** A tag now points at the digest (after manifest.put by tag). */
  | { action: "tag.set"; repository: string; tag: string; digest: string }
  /** A manifest was removed from the repository, and with it the tags that named it. */
  | { action: "manifest.delete"; repository: string; digest: string; tags: string[] }
  /** A tag was removed (the manifest stays). */
  | { action: "tag.delete"; repository: string; tag: string };

export interface WriteListener {
  /** The events of one request's write (a manifest.put and its tag.set events come together). */
  record(events: readonly WriteEvent[], request: RequestInfo): Promise<void>;
}

/** The default: nobody listens. */
export const NO_LISTENER: WriteListener = { record: async () => {} };
