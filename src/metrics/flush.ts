// Getting an isolate's counts to the metrics object without a write per request: counts are held in the
// isolate's Tally and sent as one batch FLUSH_MS after the first count since the last flush, kept alive by
// waitUntil (the Worker's per request, a Durable Object's own). One RPC and one transaction per isolate per
// FLUSH_MS, whatever the traffic. A batch whose send fails is put back and goes with the next one; counts an
// isolate holds when it is stopped (at most FLUSH_MS of them) are lost. A scrape flushes its own isolate
// first, so what it reports includes its own latest counts.

import { describeError, log } from "../log";
import { metricsObject } from "./protocol";
import { Tally, type MetricsBatch } from "./tally";

export const FLUSH_MS = 5000;

export type Sender = (batch: MetricsBatch) => Promise<void>;
export type WaitUntil = (work: Promise<unknown>) => void;

export interface FlusherOptions {
  delayMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Flusher {
  private sender: Sender | null = null;
  /** Until then a flush is armed; past it, an armed flush whose context ended without running it is re-armed. */
  private armedUntil = 0;
  private inflight: Promise<void> = Promise.resolve();
  private readonly delayMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly tally: Tally,
    opts: FlusherOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? FLUSH_MS;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Where batches go (the metrics object); without one, counts are only held. */
  useSender(sender: Sender | null): void {
    this.sender = sender;
  }

  /** Makes sure a flush runs within delayMs; `waitUntil` keeps the isolate alive for it. */
  soon(waitUntil: WaitUntil): void {
    if (this.sender === null) return;
    const now = this.now();
    if (now < this.armedUntil) return;
    this.armedUntil = now + 2 * this.delayMs;
    waitUntil(this.sleep(this.delayMs).then(() => this.flush()));
  }

  /** Sends what is held now, after any send already under way (so a scrape sees everything sent before it). */
  flush(): Promise<void> {
    const run = this.inflight.then(() => this.sendHeld());
    this.inflight = run.catch(() => {});
    return run;
  }

  private async sendHeld(): Promise<void> {
    this.armedUntil = 0;
    const batch = this.tally.take();
    if (batch === null || this.sender === null) {
      if (batch !== null) this.tally.merge(batch);
      return;
    }
    try {
      await this.sender(batch);
    } catch (e) {
      this.tally.merge(batch);
      log.warn(`metrics: a flush failed, its counts go with the next one: ${describeError(e)}`);
    }
  }
}

/** This isolate's counts: the S3 client, the upload sessions and the Worker's requests all count here. */
export const isolateTally = new Tally();
export const isolateFlusher = new Flusher(isolateTally);

/**
 * Called by a Durable Object whenever it is used: what it counts during the call reaches the metrics object
 * within FLUSH_MS. No METRICS binding: nothing is sent.
 */
export function reportFromObject(env: Record<string, unknown>, ctx: { waitUntil(work: Promise<unknown>): void }): void {
  // The stub is made at send time: the flush may run after the call that armed it.
  isolateFlusher.useSender(metricsObject(env) === null ? null : (batch) => metricsObject(env)!.add(batch));
  isolateFlusher.soon((work) => ctx.waitUntil(work));
}
