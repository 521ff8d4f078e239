// The event outbox inside one outbox Durable Object (object.ts): a durable queue per endpoint, delivery
// driven by the object's alarm, retries with capped exponential backoff per endpoint, and a dead-letter list
// per endpoint that an admin reads and replays. Storage and the alarm come in through OutboxStorage, so unit
// tests run it over memory; in the object, storage is its SQLite-backed key-value store.
//
// Keys: q:<endpoint>:<seq> a queued event, d:<endpoint>:<seq> a dead letter, s:<endpoint> the endpoint's
// delivery state (failures in a row, when to retry), p:<repository> pull counts. <seq> is the recording time
// (base 36, fixed width), a counter of this object's life and the event id, so a queue lists oldest first
// (recording order within a millisecond, too) and a key never repeats.
//
// At least once: an event leaves its queue only after the endpoint accepted it, so an object that dies
// between the two sends it again, with the same id. Order is not promised (a failed event is retried while
// newer ones wait behind it, but replayed ones go back to their old place).

import type { NotificationEndpoint, NotificationsConfig } from "../config/notifications";
import { batchSize, deliver, type Fetch } from "./delivery";
import type { DeadLetter, EndpointStats, EventOutboxRpc, OutboxStats, PullBatch, Recorded, StoredEvent } from "./protocol";

export interface OutboxStorage {
  get<T>(key: string): Promise<T | undefined>;
  /** Keys with the prefix in key order, at most `limit`, after `startAfter` when given. */
  list<T>(opts: { prefix: string; limit?: number; startAfter?: string }): Promise<Map<string, T>>;
  /**
   * Writes the entries. Writes issued one after the other with no await in between commit together, as one
   * transaction (a Durable Object coalesces them): that is how record() costs one durable write.
   */
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<void>;
  getAlarm(): Promise<number | null>;
  setAlarm(at: number): Promise<void>;
}

export interface OutboxEnvironment {
  fetch: Fetch;
  now(): number;
  /** A line for the operator's log (endpoint names and counts only: never a URL or a header). */
  log(message: string): void;
}

interface Queued {
  stored: StoredEvent;
  attempts: number;
  lastError: string | null;
}

interface Dead {
  stored: StoredEvent;
  attempts: number;
  lastError: string;
  deadAt: number;
}

interface EndpointState {
  failures: number;
  /** No delivery before this time (ms): the backoff after a failure. */
  notBefore: number;
  delivered: number;
  /** Delivery attempts that failed, ever (failures counts only those in a row). */
  failedAttempts: number;
  /** Events moved to the dead-letter list, ever (a replay does not lower it). */
  deadLettered: number;
  lastError: string | null;
}

interface PullCounts {
  manifests: number;
  blobs: number;
}

/** Delivery requests per alarm: under the Free plan's 50 subrequests per invocation. */
export const MAX_REQUESTS_PER_ALARM = 40;
/** Most entries an admin call reads or moves per object. */
export const MAX_ADMIN_BATCH = 1000;
/**
 * A new event is delivered this long after it was recorded: the events of a burst of writes (an image push)
 * go out together in one alarm, and the alarm's work does not compete with the writes still arriving.
 */
export const DELIVERY_DELAY_MS = 250;
/** Stats stop counting a queue here (the admin sees "at least"). */
const COUNT_CAP = 10_000;

const FRESH: EndpointState = { failures: 0, notBefore: 0, delivered: 0, failedAttempts: 0, deadLettered: 0, lastError: null };

const queuePrefix = (ep: string) => `q:${ep}:`;
const deadPrefix = (ep: string) => `d:${ep}:`;
const stateKey = (ep: string) => `s:${ep}`;
const seqOf = (key: string) => key.slice(key.indexOf(":", 2) + 1);
const endpointOf = (key: string) => key.slice(2, key.indexOf(":", 2));

/** The wait after the n-th failure in a row: none below the threshold, then backoff doubling up to the cap. */
export function retryDelay(ep: NotificationEndpoint, failures: number): number {
  if (failures < ep.threshold) return 0;
  const n = Math.min(failures - ep.threshold, 40);
  return Math.min(ep.backoffMs * 2 ** n, ep.maxBackoffMs);
}

export class Outbox implements EventOutboxRpc {
  private readonly byName: Map<string, NotificationEndpoint>;
  private counter = 0;

  constructor(
    private readonly storage: OutboxStorage,
    private readonly config: NotificationsConfig,
    private readonly env: OutboxEnvironment,
  ) {
    this.byName = new Map(config.endpoints.map((e) => [e.name, e]));
  }

  async record(events: Recorded[]): Promise<void> {
    const entries: Record<string, unknown> = {};
    const now = this.env.now();
    for (const { stored, endpoints } of events) {
      const seq = this.seq(now, stored);
      for (const ep of endpoints) {
        if (!this.byName.has(ep)) continue;
        entries[`${queuePrefix(ep)}${seq}`] = { stored, attempts: 0, lastError: null } satisfies Queued;
      }
    }
    if (Object.keys(entries).length === 0) return;
    await this.writeAndWake(entries, [], now);
  }

  async pulled(batch: PullBatch): Promise<void> {
    const entries: Record<string, unknown> = {};
    for (const c of batch.counts) {
      const key = `p:${c.repository}`;
      const was = (entries[key] as PullCounts | undefined) ?? (await this.storage.get<PullCounts>(key)) ?? { manifests: 0, blobs: 0 };
      entries[key] = { manifests: was.manifests + c.manifests, blobs: was.blobs + c.blobs } satisfies PullCounts;
    }
    const now = this.env.now();
    let queued = 0;
    for (const { stored, endpoints } of batch.events) {
      const seq = this.seq(now, stored);
      for (const ep of endpoints) {
        if (!this.byName.has(ep)) continue;
        entries[`${queuePrefix(ep)}${seq}`] = { stored, attempts: 0, lastError: null } satisfies Queued;
        queued++;
      }
    }
    if (queued === 0) {
      if (Object.keys(entries).length > 0) await this.storage.put(entries);
      return;
    }
    await this.writeAndWake(entries, [], now);
  }

  private seq(now: number, stored: StoredEvent): string {
    this.counter = (this.counter + 1) % 1e8;
    return `${now.toString(36).padStart(10, "0")}.${this.counter.toString(36).padStart(6, "0")}.${stored.event.id}`;
  }

  /** One transaction: the writes, the deletes, and an alarm soon enough for what was just queued. */
  private async writeAndWake(entries: Record<string, unknown>, deletes: string[], now: number): Promise<void> {
    const alarm = await this.storage.getAlarm();
    // An alarm further away (an endpoint backing off) is brought forward: the other endpoints should not
    // wait for it; the alarm itself skips endpoints whose backoff is not over.
    const writes: Promise<void>[] = [this.storage.put(entries)];
    if (deletes.length > 0) writes.push(this.storage.delete(deletes));
    if (alarm === null || alarm > now + DELIVERY_DELAY_MS) writes.push(this.storage.setAlarm(now + DELIVERY_DELAY_MS));
    await Promise.all(writes);
  }

  /** Delivers what is due, endpoint by endpoint, within the alarm's request budget; sets the next alarm. */
  async alarm(): Promise<void> {
    let budget = MAX_REQUESTS_PER_ALARM;
    let next = Infinity;
    for (const ep of this.config.endpoints) {
      if (ep.disabled) continue;
      const r = await this.drain(ep, budget);
      budget = r.budget;
      next = Math.min(next, r.next);
    }
    if (next === Infinity) return;
    // record() may have set an earlier alarm while this one ran: keep the earlier of the two.
    const current = await this.storage.getAlarm();
    if (current === null || current > next) await this.storage.setAlarm(next);
  }

  /** Sends the endpoint's queue in batches until it is empty, fails, or the budget is spent. */
  private async drain(ep: NotificationEndpoint, budget: number): Promise<{ budget: number; next: number }> {
    const state = { ...FRESH, ...(await this.storage.get<EndpointState>(stateKey(ep.name))) };
    for (;;) {
      const now = this.env.now();
      const batch = await this.storage.list<Queued>({ prefix: queuePrefix(ep.name), limit: batchSize(ep) });
      if (batch.size === 0) return { budget, next: Infinity };
      if (state.notBefore > now) return { budget, next: state.notBefore };
      if (budget <= 0) return { budget, next: now };
      const keys = [...batch.keys()];
      const items = [...batch.values()];
      const attempt = await deliver(this.env.fetch, ep, items.map((q) => q.stored));
      budget -= ep.format === "distribution" ? 1 : Math.min(items.length, attempt.delivered + 1);
      const entries: Record<string, unknown> = {};
      const deletes = keys.slice(0, attempt.delivered);
      state.delivered += attempt.delivered;
      if (attempt.error === null) {
        Object.assign(state, { failures: 0, notBefore: 0, lastError: null });
      } else {
        // The envelope failed as a whole; CloudEvents stop at the first one refused, the rest were not tried.
        const tried = ep.format === "distribution" ? keys.length : attempt.delivered + 1;
        const failedAt = this.env.now();
        for (let i = attempt.delivered; i < tried; i++) {
          const q = items[i]!;
          const attempts = q.attempts + 1;
          if (attempts >= ep.maxAttempts) {
            entries[`${deadPrefix(ep.name)}${seqOf(keys[i]!)}`] = { stored: q.stored, attempts, lastError: attempt.error, deadAt: failedAt } satisfies Dead;
            deletes.push(keys[i]!);
          } else {
            entries[keys[i]!] = { ...q, attempts, lastError: attempt.error } satisfies Queued;
          }
        }
        state.failures++;
        state.failedAttempts++;
        state.lastError = attempt.error;
        const wait = retryDelay(ep, state.failures);
        state.notBefore = failedAt + wait;
        const died = Object.keys(entries).filter((k) => k.startsWith("d:")).length;
        state.deadLettered += died;
        this.env.log(
          `notifications: endpoint ${ep.name}: ${attempt.error} (${state.failures} in a row)` +
            (wait > 0 ? `, next try in ${Math.round(wait / 1000)} s` : "") +
            (died > 0 ? `; ${died} event(s) moved to the dead-letter list after ${ep.maxAttempts} attempts` : ""),
        );
      }
      entries[stateKey(ep.name)] = state;
      await Promise.all([this.storage.put(entries), deletes.length > 0 ? this.storage.delete(deletes) : Promise.resolve()]);
    }
  }

  async dead(opts: { endpoint?: string; limit: number }): Promise<{ dead: DeadLetter[]; more: boolean }> {
    const limit = Math.max(1, Math.min(opts.limit, MAX_ADMIN_BATCH));
    const prefix = opts.endpoint === undefined ? "d:" : deadPrefix(opts.endpoint);
    const rows = await this.storage.list<Dead>({ prefix, limit: limit + 1 });
    const dead: DeadLetter[] = [];
    for (const [key, d] of rows) {
      if (dead.length === limit) break;
      dead.push({ endpoint: endpointOf(key), key, attempts: d.attempts, lastError: d.lastError, deadAt: new Date(d.deadAt).toISOString(), event: d.stored });
    }
    return { dead, more: rows.size > limit };
  }

  async replay(opts: { endpoint?: string; id?: string; limit: number }): Promise<{ replayed: number; more: boolean }> {
    const limit = Math.max(1, Math.min(opts.limit, MAX_ADMIN_BATCH));
    const prefix = opts.endpoint === undefined ? "d:" : deadPrefix(opts.endpoint);
    const entries: Record<string, unknown> = {};
    const deletes: string[] = [];
    const endpoints = new Set<string>();
    let more = false;
    let after: string | undefined;
    // Bounded: at most `limit` moved, and at most 10 pages read looking for an id.
    for (let page = 0; page < 10 && !more; page++) {
      const rows = await this.storage.list<Dead>({ prefix, limit: MAX_ADMIN_BATCH, startAfter: after });
      for (const [key, d] of rows) {
        after = key;
        if (opts.id !== undefined && d.stored.event.id !== opts.id) continue;
        const ep = endpointOf(key);
        if (!this.byName.has(ep)) continue; // an endpoint no longer configured: its letters stay
        if (deletes.length === limit) {
          more = true;
          break;
        }
        entries[`${queuePrefix(ep)}${seqOf(key)}`] = { stored: d.stored, attempts: 0, lastError: null } satisfies Queued;
        deletes.push(key);
        endpoints.add(ep);
      }
      if (rows.size < MAX_ADMIN_BATCH) break;
    }
    if (deletes.length === 0) return { replayed: 0, more: false };
    // Replaying is the admin saying the endpoint is back: its backoff ends now.
    for (const ep of endpoints) {
      const state = { ...FRESH, ...(await this.storage.get<EndpointState>(stateKey(ep))) };
      entries[stateKey(ep)] = { ...state, failures: 0, notBefore: 0 };
    }
    await this.writeAndWake(entries, deletes, this.env.now());
    return { replayed: deletes.length, more };
  }

  async stats(): Promise<OutboxStats> {
    const endpoints: Record<string, EndpointStats> = {};
    for (const ep of this.config.endpoints) {
      const s = { ...FRESH, ...(await this.storage.get<EndpointState>(stateKey(ep.name))) };
      endpoints[ep.name] = {
        pending: await this.count(queuePrefix(ep.name)),
        dead: await this.count(deadPrefix(ep.name)),
        delivered: s.delivered,
        failures: s.failures,
        failedAttempts: s.failedAttempts,
        deadLettered: s.deadLettered,
        lastError: s.lastError,
        retryAt: s.notBefore > this.env.now() ? new Date(s.notBefore).toISOString() : null,
      };
    }
    const pulls = { manifests: 0, blobs: 0 };
    for (const c of (await this.storage.list<PullCounts>({ prefix: "p:" })).values()) {
      pulls.manifests += c.manifests;
      pulls.blobs += c.blobs;
    }
    return { endpoints, pulls };
  }

  private async count(prefix: string): Promise<number> {
    let n = 0;
    let after: string | undefined;
    while (n < COUNT_CAP) {
      const rows = await this.storage.list<unknown>({ prefix, limit: MAX_ADMIN_BATCH, startAfter: after });
      n += rows.size;
      if (rows.size < MAX_ADMIN_BATCH) break;
      after = [...rows.keys()].pop();
    }
    return n;
  }
}
