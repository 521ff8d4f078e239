// Records when manifests are pulled, for retention policies (pulledWithin, mostRecentlyPulledCount), at a
// listener on the read seam (reads.ts), so pulls are never slowed: the work runs after the answer
// (waitUntil), and a failure is only logged. Cost: at most one write per manifest per repository per
// PULL_RECORD_INTERVAL_MS across all isolates (a HEAD first tells whether another isolate recorded it
// recently), and at most one HEAD per manifest per isolate per interval. Pull times are therefore exact
// to within the interval, which is far finer than any retention window worth having.

import { parseDigest } from "../oci/digest";
import { log as operatorLog } from "../log";
import type { PullStore } from "../storage/pulls";
import { TtlCache } from "../storage/ttl-cache";
import type { ReadEvent, ReadListener } from "./reads";
import type { RequestInfo } from "./request";

export const PULL_RECORD_INTERVAL_MS = 60 * 60_000;

export class PullRecorder implements ReadListener {
  /** Manifests whose pull is recorded less than an interval ago, until that record is an interval old. */
  private readonly recent = new TtlCache<true>(PULL_RECORD_INTERVAL_MS);
  /** Manifests being recorded right now (many pulls of one image arrive together). */
  private readonly pending = new Set<string>();

  constructor(
    private readonly pulls: PullStore,
    private readonly now: () => number = Date.now,
    private readonly log: (message: string) => void = (m) => operatorLog.warn(m),
  ) {}

  pulled(event: ReadEvent, request: RequestInfo, waitUntil: (work: Promise<unknown>) => void): void {
    // A HEAD is a check for updates (zot counts only GETs), and blobs are pulled by way of a manifest.
    if (event.action !== "manifest.pull" || request.method !== "GET") return;
    const key = `${event.repository}@${event.digest}`;
    if (this.pending.has(key) || this.recent.get(key, this.now())) return;
    this.pending.add(key);
    waitUntil(this.note(event.repository, event.digest, key));
  }

  private async note(repo: string, raw: string, key: string): Promise<void> {
    try {
      const digest = parseDigest(raw);
      const now = this.now();
      const at = await this.pulls.recordedAt(repo, digest);
      const fresh = at !== null && now - at < PULL_RECORD_INTERVAL_MS;
      if (!fresh) await this.pulls.record(repo, digest);
      this.recent.set(key, true, fresh ? at : now);
    } catch (e) {
      this.log(`retention: a pull of ${repo}@${raw} was not recorded: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.pending.delete(key);
    }
  }
}
