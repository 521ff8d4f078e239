// The coordinator's side of the collector's fence (storage/sweep-fence.ts is the writers' side; README
// "Garbage collection: the protocol"). While no run is on, a vouch is answered with a lease: the writer may
// go on without asking until `idleUntil`, and a run that starts waits until every lease granted has ended
// (plus a grace for writes begun under it) before it marks anything. While a run is on — and for a cooldown
// after one that deleted, longer than any isolate caches a blob's existence — a vouch marks the digests
// live, keeps a manifest vouched for from removal as untagged, and returns only once no delete of them is in
// flight. The run's removals go through `removing`, which makes its keys the ones in flight.

import type { SweepFenceRpc, VouchAnswer } from "../../storage/sweep-fence";
import type { JobReport } from "../protocol";
import type { GcLedger } from "./ledger";

/** Longer than storage/blobs.ts caches a blob's size (5 minutes): stale "exists" answers have expired by then. */
export const COOLDOWN_MS = 6 * 60_000;
/** Digests one vouch may carry (a manifest's references are checked in one). */
export const MAX_VOUCH = 2_000;

export interface GcRunStatus {
  running: boolean;
  /** When the last run ended (ms), null while it runs or when none ever ran. */
  finishedAt: number | null;
  /** Whether that run deleted anything (a dry run did not). */
  deleted: boolean;
}

/** The fence's view of the collector's last run, from the runner's report of it. */
export function gcRunStatus(r: JobReport | null): GcRunStatus {
  if (!r) return { running: false, finishedAt: null, deleted: false };
  const deleted = r.result.dryRun !== true && (Number(r.result.blobsSwept) > 0 || Number(r.result.manifestsRemoved) > 0);
  return { running: r.state === "running", finishedAt: r.finishedAt ? Date.parse(r.finishedAt) : null, deleted };
}

export interface LeaseStore {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
}

const LEASE_KEY = "gc:lease";
/** When a run last deleted something (ms): the cooldown runs from it, whatever runs came since. */
const REMOVED_KEY = "gc:removed";

export class FenceServer implements SweepFenceRpc {
  private inflight: { keys: Set<string>; done: Promise<void> } | null = null;
  /** The latest lease end this instance granted (exact), or the time of its latest answer during a run. */
  private granted = 0;
  /** Leases granted before this instance existed ended by createdAt + leaseMs at the latest, answers by createdAt. */
  private readonly createdAt: number;
  /** REMOVED_KEY, read once per instance. */
  private removedAt: number | undefined;

  constructor(
    private readonly ledger: GcLedger,
    private readonly store: LeaseStore,
    private readonly status: () => Promise<GcRunStatus>,
    private readonly now: () => number,
    /** BERTH_GC_FENCE_LEASE: how long a writer may go on without asking. */
    readonly leaseMs: number,
  ) {
    this.createdAt = now();
  }

  async vouch(repo: string, digests: string[]): Promise<VouchAnswer> {
    const list = digests.slice(0, MAX_VOUCH);
    if (!(await this.active(await this.status()))) {
      const idleUntil = this.now() + this.leaseMs;
      await this.grant(idleUntil);
      // A run that started while the lease was being stored may not have seen it: then this vouch counts as
      // one made during the run.
      if (!(await this.active(await this.status()))) return { active: false, idleUntil };
    }
    // The writer goes on relying on this answer for the rest of its request (e.g. links a manifest without
    // asking again): a run that starts later must not mark before that request is over, like a lease.
    this.granted = Math.max(this.granted, this.now());
    this.ledger.mark(list);
    for (const d of list) {
      this.ledger.vouchManifest(repo, d);
      this.ledger.rescue(repo, d);
      this.ledger.keepTagsOf(repo, d);
    }
    for (let i = 0; i < 100 && this.inflight && list.some((d) => this.inflight!.keys.has(d) || this.inflight!.keys.has(`${repo}@${d}`)); i++) {
      await this.inflight.done;
    }
    return { active: true, idleUntil: 0 };
  }

  /** Until when a run must wait before marking: every lease granted has ended by then, plus the grace. */
  async markNotBefore(): Promise<number> {
    const stored = (await this.store.get<number>(LEASE_KEY)) ?? 0;
    return Math.max(this.granted, this.createdAt, Math.min(stored, this.createdAt + this.leaseMs)) + this.graceMs();
  }

  /** Writes begun under a lease have this long to finish before marking starts. */
  graceMs(): number {
    return Math.max(1_000, Math.round(this.leaseMs / 2));
  }

  /**
   * Runs a removal with its keys (digests, or "repo@digest" of manifests) in flight: vouches for them wait
   * until it is over. The caller has just checked, with nothing in between, that none of them is marked.
   */
  async removing<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    let finish!: () => void;
    this.inflight = { keys: new Set(keys), done: new Promise<void>((r) => (finish = r)) };
    try {
      return await work();
    } finally {
      this.inflight = null;
      finish();
      // Even a removal that failed may have deleted some keys.
      this.removedAt = this.now();
      await this.store.put(REMOVED_KEY, this.removedAt);
    }
  }

  /**
   * A run is on, or one deleted less than the cooldown ago. The report of the last run alone would not do: a
   * dry run right after a deleting one would end the cooldown while isolates still cache what was deleted.
   */
  private async active(s: GcRunStatus): Promise<boolean> {
    this.removedAt ??= (await this.store.get<number>(REMOVED_KEY)) ?? 0;
    const deletedAt = Math.max(this.removedAt, s.deleted && s.finishedAt !== null ? s.finishedAt : 0);
    return s.running || this.now() < deletedAt + COOLDOWN_MS;
  }

  /** Stores lease ends ahead (by one more lease), so that not every grant costs a write. */
  private async grant(until: number): Promise<void> {
    this.granted = Math.max(this.granted, until);
    const stored = (await this.store.get<number>(LEASE_KEY)) ?? 0;
    if (stored < until) await this.store.put(LEASE_KEY, until + this.leaseMs);
  }
}
