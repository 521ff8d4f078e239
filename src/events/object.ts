// The event outbox Durable Object: OUTBOX_SHARDS of them (named events-<n>, protocol.ts), each hosting an
// Outbox (outbox.ts) over its SQLite-backed storage and its alarm. Events are recorded here before the write
// that caused them is answered, and delivered from here by the alarm, so neither an endpoint that is down
// for hours nor a restart of the Worker loses one. It parses only the notification settings.

import { DurableObject } from "cloudflare:workers";
import { readLogLevel } from "../config/logging";
import { parseNotifications } from "../config/notifications";
import { log, setLogLevel } from "../log";
import { Outbox, type OutboxStorage } from "./outbox";
import type { DeadLetter, EventOutboxRpc, OutboxStats, PullBatch, Recorded } from "./protocol";

/** The storage API takes at most 128 keys per put or delete. */
const KEYS_PER_CALL = 128;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += KEYS_PER_CALL) out.push(items.slice(i, i + KEYS_PER_CALL));
  return out;
}

export class EventOutbox extends DurableObject implements EventOutboxRpc {
  private instance: Outbox | null = null;

  private outbox(): Outbox {
    if (!this.instance) {
      setLogLevel(readLogLevel(this.env as Record<string, unknown>));
      const s = this.ctx.storage;
      const storage: OutboxStorage = {
        get: (key) => s.get(key),
        list: (opts) => s.list(opts),
        // Issued together with no await in between, the calls commit as one transaction (write coalescing).
        put: async (entries) => {
          await Promise.all(chunks(Object.entries(entries)).map((c) => s.put(Object.fromEntries(c))));
        },
        delete: async (keys) => {
          await Promise.all(chunks(keys).map((c) => s.delete(c)));
        },
        getAlarm: () => s.getAlarm(),
        setAlarm: (at) => s.setAlarm(at),
      };
      this.instance = new Outbox(storage, parseNotifications(this.env as Record<string, unknown>), {
        fetch: (url, init) => fetch(url, init),
        now: Date.now,
        log: (m) => log.warn(m),
      });
    }
    return this.instance;
  }

  record(events: Recorded[]): Promise<void> {
    return this.outbox().record(events);
  }

  pulled(batch: PullBatch): Promise<void> {
    return this.outbox().pulled(batch);
  }

  dead(opts: { endpoint?: string; limit: number }): Promise<{ dead: DeadLetter[]; more: boolean }> {
    return this.outbox().dead(opts);
  }

  replay(opts: { endpoint?: string; id?: string; limit: number }): Promise<{ replayed: number; more: boolean }> {
    return this.outbox().replay(opts);
  }

  stats(): Promise<OutboxStats> {
    return this.outbox().stats();
  }

  override alarm(): Promise<void> {
    return this.outbox().alarm();
  }
}
