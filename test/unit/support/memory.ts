// In-memory stand-ins for what a Durable Object gives Berth in the Worker, for the unit tests of the upload
// session and the job runner: the object's key-value storage with its one alarm (values are structured-cloned
// on the way in and out, as Durable Object storage does, so code that forgets to save a change is caught), the
// spool's slice table, the job runner's storage, and SHA-256 hashing with node:crypto (the Worker's hashing
// uses workerd's crypto.DigestStream, which Node lacks).
import { createHash, type Hash } from "node:crypto";
import type { OutboxStorage } from "../../../src/events/outbox";
import type { DigestAlgorithm } from "../../../src/oci/digest";
import type { RunnerStorage } from "../../../src/jobs/runner";
import type { Hashing, RunningHash } from "../../../src/uploads/hasher";
import type { SessionStorage } from "../../../src/uploads/session-core";
import type { SliceStore } from "../../../src/uploads/spool";

/** A controllable clock (ms since the epoch). */
export class Clock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/** The spool's slice table (sqlSlices in the Worker): numbered rows of bytes, copied on put. */
export class MemorySlices implements SliceStore {
  readonly rows = new Map<number, Uint8Array>();
  /** Times forget() was called (the object's storage was wiped). */
  forgotten = 0;

  put(n: number, bytes: Uint8Array): void {
    this.rows.set(n, bytes.slice());
  }

  range(from: number, to: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let n = from; n < to; n++) {
      const row = this.rows.get(n);
      if (row) out.push(row.slice());
    }
    return out;
  }

  forget(): void {
    this.forgotten++;
  }

  /** Bytes held, over all rows. */
  get bytes(): number {
    let n = 0;
    for (const r of this.rows.values()) n += r.byteLength;
    return n;
  }
}

/**
 * A session Durable Object's storage: keys, the alarm, and (wiped together with them by deleteAll, as the
 * object's SQLite table is) its slices.
 */
export class MemorySessionStorage implements SessionStorage {
  readonly values = new Map<string, unknown>();
  /** When the alarm is set to fire (ms), or null. */
  alarm: number | null = null;

  constructor(readonly slices: MemorySlices = new MemorySlices()) {}

  async get<T>(key: string): Promise<T | undefined> {
    return this.values.has(key) ? (structuredClone(this.values.get(key)) as T) : undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.values.set(key, structuredClone(value));
  }

  async delete(key: string): Promise<boolean> {
    return this.values.delete(key);
  }

  async setAlarm(at: number): Promise<void> {
    this.alarm = at;
  }

  async deleteAll(): Promise<void> {
    this.values.clear();
    this.slices.rows.clear();
    this.alarm = null;
  }

  /** Nothing left: no key, no slice, no alarm (what an ended, cleaned-up session must look like). */
  get empty(): boolean {
    return this.values.size === 0 && this.slices.rows.size === 0 && this.alarm === null;
  }
}

/** The job coordinator's storage. */
export class MemoryRunnerStorage implements RunnerStorage {
  readonly values = new Map<string, unknown>();
  /** The alarm's time (ms), or null; every setAlarm is also recorded. */
  alarm: number | null = null;
  readonly alarmsSet: number[] = [];

  async get<T>(key: string): Promise<T | undefined> {
    return this.values.has(key) ? (structuredClone(this.values.get(key)) as T) : undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.values.set(key, structuredClone(value));
  }

  async list<T>(prefix: string): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for (const k of [...this.values.keys()].sort()) if (k.startsWith(prefix)) out.set(k, structuredClone(this.values.get(k)) as T);
    return out;
  }

  async setAlarm(at: number): Promise<void> {
    this.alarm = at;
    this.alarmsSet.push(at);
  }
}

/** An event outbox's storage: sorted listing with prefix, limit and startAfter, one alarm, writes counted. */
export class MemoryOutboxStorage implements OutboxStorage {
  readonly values = new Map<string, unknown>();
  alarm: number | null = null;
  /** put and delete calls (a record() issues its writes together: the object commits them as one). */
  writes = 0;

  async get<T>(key: string): Promise<T | undefined> {
    return this.values.has(key) ? (structuredClone(this.values.get(key)) as T) : undefined;
  }

  async list<T>(opts: { prefix: string; limit?: number; startAfter?: string }): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for (const k of [...this.values.keys()].sort()) {
      if (!k.startsWith(opts.prefix) || (opts.startAfter !== undefined && k <= opts.startAfter)) continue;
      if (opts.limit !== undefined && out.size >= opts.limit) break;
      out.set(k, structuredClone(this.values.get(k)) as T);
    }
    return out;
  }

  async put(entries: Record<string, unknown>): Promise<void> {
    this.writes++;
    for (const [k, v] of Object.entries(entries)) this.values.set(k, structuredClone(v));
  }

  async delete(keys: string[]): Promise<void> {
    this.writes++;
    for (const k of keys) this.values.delete(k);
  }

  async getAlarm(): Promise<number | null> {
    return this.alarm;
  }

  async setAlarm(at: number): Promise<void> {
    this.alarm = at;
  }

  /** Keys with the prefix. */
  keys(prefix: string): string[] {
    return [...this.values.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

class NodeRunningHash implements RunningHash {
  private readonly h: Hash;
  offset = 0;

  constructor(readonly algorithm: DigestAlgorithm) {
    this.h = createHash(algorithm);
  }

  async update(chunk: Uint8Array): Promise<void> {
    this.offset += chunk.byteLength;
    this.h.update(chunk);
  }

  async hex(): Promise<string> {
    return this.h.digest("hex");
  }
}

/** Hashing with node:crypto, counting how often the spool had to be re-hashed (ofStream). */
export class NodeHashing implements Hashing {
  /** Whole streams hashed (the spool read back because the running hash was lost). */
  streamsHashed = 0;

  running(algorithm: DigestAlgorithm): RunningHash {
    return new NodeRunningHash(algorithm);
  }

  async ofStream(body: ReadableStream<Uint8Array>, algorithm: DigestAlgorithm): Promise<string> {
    this.streamsHashed++;
    const h = createHash(algorithm);
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      h.update(value);
    }
    return h.digest("hex");
  }
}
