// Single flight for the pull-through cache's blob misses: which request of an isolate anywhere is fetching a
// blob from the upstream into a repository's cache right now, so that concurrent pulls of the same missing
// blob cause one upstream fetch. The others wait until it ends and then find the blob stored. It lives in
// the cache repository's metadata Durable Object (one per repository name, object.ts), in memory only: a claim
// lost with the object (evicted, redeployed) costs a second fetch, never a wrong answer, since whoever fetches
// verifies what it stores. A claim has a lease, so a fetcher that died never blocks the others for long.

export interface BlobFillRpc {
  /** Claims the fetch of `digest`: an id to release it with, or null when another request holds it. */
  claimFill(digest: string, leaseMs: number): Promise<string | null>;
  /** The fetch ended (stored or not): waiters wake up. Only the holder's id releases. */
  releaseFill(digest: string, id: string): Promise<void>;
  /** Resolves when the current claim on `digest` ends (released or past its lease), or after `maxMs`. */
  awaitFill(digest: string, maxMs: number): Promise<void>;
}

interface Claim {
  id: string;
  until: number;
  waiters: (() => void)[];
}

export class BlobFills implements BlobFillRpc {
  private readonly claims = new Map<string, Claim>();

  constructor(private readonly now: () => number = Date.now) {}

  async claimFill(digest: string, leaseMs: number): Promise<string | null> {
    const held = this.claims.get(digest);
    if (held && held.until > this.now()) return null;
    if (held) this.end(digest, held);
    const id = crypto.randomUUID();
    const claim: Claim = { id, until: this.now() + leaseMs, waiters: [] };
    this.claims.set(digest, claim);
    return id;
  }

  async releaseFill(digest: string, id: string): Promise<void> {
    const held = this.claims.get(digest);
    if (held?.id === id) this.end(digest, held);
  }

  awaitFill(digest: string, maxMs: number): Promise<void> {
    const held = this.claims.get(digest);
    if (!held || held.until <= this.now()) return Promise.resolve();
    // No timer per claim (it would keep the object awake): a waiter's own timer ends with the lease at the latest.
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.min(maxMs, held.until - this.now()));
      held.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private end(digest: string, claim: Claim): void {
    if (this.claims.get(digest) === claim) this.claims.delete(digest);
    for (const wake of claim.waiters.splice(0)) wake();
  }
}
