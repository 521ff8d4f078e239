// The writer's side of the garbage collector's fence (README "Garbage collection: the protocol"). Before a
// request relies on a blob or manifest being there — a blob HEAD a client may skip an upload on, a mount, an
// upload's commit that may find the data already stored, a manifest PUT's check of what it references — it
// vouches for the digests with the job coordinator. While no collection runs, the coordinator grants a lease
// ("no run will mark before T") and the isolate vouches for free until shortly before T. While a run is on,
// every vouch is one RPC that marks the digests live for that run (and waits out a delete of them that is in
// flight); the answer `fresh` then tells the caller to check existence against the bucket, not its caches.

/** What the coordinator answers a vouch. */
export interface VouchAnswer {
  /** A run is on (or ended moments ago): the digests are now marked; check existence without caches. */
  active: boolean;
  /** When no run is on: vouching may stop until shortly before this time (ms since the epoch). */
  idleUntil: number;
}

export interface SweepFenceRpc {
  /** `repo` is where the digests are used (a manifest reached this way is not removed as untagged). */
  vouch(repo: string, digests: string[]): Promise<VouchAnswer>;
}

/**
 * A lease is trusted until this long before it ends, so that a write begun under it has finished by the
 * time the coordinator, which waits as long again after the lease's end, starts marking.
 */
export const LEASE_MARGIN_MS = 15_000;

export class SweepFence {
  private idleUntil = 0;

  constructor(
    private readonly rpc: () => SweepFenceRpc,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Vouches for the digests used in `repo`; resolves true when existence must be checked fresh (a run is
   * on), false when no run can be marking or sweeping now.
   */
  async vouch(repo: string, digests: readonly string[]): Promise<boolean> {
    if (digests.length === 0) return false;
    if (this.now() < this.idleUntil - LEASE_MARGIN_MS) return false;
    const answer = await this.rpc().vouch(repo, [...digests]);
    this.idleUntil = answer.active ? 0 : answer.idleUntil;
    return answer.active;
  }
}

/** For tests and tools with no collector: never fences. */
export const NO_FENCE: Pick<SweepFence, "vouch"> = { vouch: async () => false };
