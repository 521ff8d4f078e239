// Notifications at the seams: the WriteListener and ReadListener the Worker entry wires when
// REGISTRY_NOTIFICATIONS names endpoints. A write's events become Distribution-shaped event records (one id
// each), are matched against every endpoint's ignore rules, and are recorded in the repository's outbox
// object (src/events) in one RPC, which the client's answer waits for: an acknowledged write is never
// without its event. Nothing is recorded when no endpoint wants the event.
//
// Pulls are not worth a durable write each: they are held in this isolate and flushed to the outboxes in
// one RPC per object per batch (after PULL_FLUSH_MS, or sooner when PULL_BATCH_MAX are held), kept alive by
// waitUntil. A batch is therefore at most once: an isolate that dies before its flush, or a flush that
// fails, loses that batch's pull events and counts (logged). Writes are never batched.

import type { NotificationsConfig } from "../config/notifications";
import { BLOB_MEDIA_TYPE, wants } from "../events/formats";
import { log } from "../log";
import { shardOf, type EventOutboxRpc, type EventTarget, type PullBatch, type Recorded, type RegistryEvent, type StoredEvent } from "../events/protocol";
import type { ReadEvent, ReadListener } from "./reads";
import type { RequestInfo } from "./request";
import type { WriteEvent, WriteListener } from "./writes";

export const PULL_FLUSH_MS = 1000;
export const PULL_BATCH_MAX = 200;

export interface NotifierOptions {
  /** Resolves after `ms` (a timer in the Worker; tests resolve it by hand). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  log?: (message: string) => void;
}

interface HeldBatch {
  events: Recorded[];
  counts: Map<string, { manifests: number; blobs: number }>;
}

export class Notifier implements WriteListener, ReadListener {
  /** Distribution's source.instanceID: changes with every isolate, as with every registry process there. */
  private readonly instanceID = crypto.randomUUID();
  private held = new Map<number, HeldBatch>();
  private heldEvents = 0;
  private flushScheduled = false;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  constructor(
    private readonly config: NotificationsConfig,
    private readonly outbox: (shard: number) => EventOutboxRpc,
    opts: NotifierOptions = {},
  ) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? ((m) => log.warn(m));
  }

  async record(events: readonly WriteEvent[], request: RequestInfo): Promise<void> {
    const byShard = new Map<number, Recorded[]>();
    for (const stored of this.fromWrites(events, request)) {
      const endpoints = this.wantedBy(stored);
      if (endpoints.length === 0) continue;
      const shard = shardOf(stored.event.target.repository);
      byShard.set(shard, [...(byShard.get(shard) ?? []), { stored, endpoints }]);
    }
    // One request's events name one repository, so this is one RPC (one durable write) per write.
    await Promise.all([...byShard].map(([shard, recorded]) => this.outbox(shard).record(recorded)));
  }

  pulled(read: ReadEvent, request: RequestInfo, waitUntil: (work: Promise<unknown>) => void): void {
    try {
      const shard = shardOf(read.repository);
      let batch = this.held.get(shard);
      if (!batch) this.held.set(shard, (batch = { events: [], counts: new Map() }));
      const count = batch.counts.get(read.repository) ?? { manifests: 0, blobs: 0 };
      if (read.action === "manifest.pull") count.manifests++;
      else count.blobs++;
      batch.counts.set(read.repository, count);
      const stored = this.fromRead(read, request);
      const endpoints = this.wantedBy(stored);
      if (endpoints.length > 0) {
        batch.events.push({ stored, endpoints });
        this.heldEvents++;
      }
      if (this.heldEvents >= PULL_BATCH_MAX) {
        waitUntil(this.flush());
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        waitUntil(this.sleep(PULL_FLUSH_MS).then(() => this.flush()));
      }
    } catch (e) {
      // A pull is never failed by its notification.
      this.log(`notifications: a pull was not noted: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Sends every held batch to its outbox now. */
  async flush(): Promise<void> {
    this.flushScheduled = false;
    const held = this.held;
    this.held = new Map();
    this.heldEvents = 0;
    await Promise.all(
      [...held].map(async ([shard, b]) => {
        const batch: PullBatch = { events: b.events, counts: [...b.counts].map(([repository, c]) => ({ repository, ...c })) };
        try {
          await this.outbox(shard).pulled(batch);
        } catch (e) {
          this.log(`notifications: a batch of pulls was lost (${batch.events.length} event(s)): ${e instanceof Error ? e.message : String(e)}`);
        }
      }),
    );
  }

  private wantedBy(stored: StoredEvent): string[] {
    return this.config.endpoints.filter((ep) => wants(ep, stored.event, stored.kind)).map((ep) => ep.name);
  }

  private event(action: RegistryEvent["action"], target: EventTarget, request: RequestInfo): RegistryEvent {
    return {
      id: crypto.randomUUID(),
      timestamp: new Date(this.now()).toISOString(),
      action,
      target,
      request: {
        id: request.id,
        ...(request.clientAddress ? { addr: request.clientAddress } : {}),
        host: request.host,
        method: request.method,
        useragent: request.userAgent ?? "",
      },
      actor: request.caller.user === null ? {} : { name: request.caller.user },
      source: { addr: request.host, instanceID: this.instanceID },
    };
  }

  /**
   * Distribution's events for one write: a manifest push is one push event per tag it applied (its own tag,
   * or each ?tag=), or one without a tag; blob commits are pushes, mounts are mounts, removals deletes.
   */
  private fromWrites(events: readonly WriteEvent[], request: RequestInfo): StoredEvent[] {
    const origin = request.origin;
    const out: StoredEvent[] = [];
    const add = (kind: StoredEvent["kind"], action: RegistryEvent["action"], target: EventTarget) =>
      out.push({ kind, origin, event: this.event(action, target, request) });
    const pushed = new Set<string>(); // digest@tag already announced with its manifest
    for (const e of events) {
      switch (e.action) {
        case "manifest.put": {
          const tags = new Set(events.flatMap((t) => (t.action === "tag.set" && t.digest === e.digest ? [t.tag] : [])));
          if (e.tag !== null) tags.add(e.tag);
          const base = { mediaType: e.mediaType, size: e.size, digest: e.digest, length: e.size, repository: e.repository, url: `${origin}/v2/${e.repository}/manifests/${e.digest}` };
          if (tags.size === 0) add("manifest", "push", base);
          for (const tag of tags) {
            add("manifest", "push", { ...base, tag });
            pushed.add(`${e.digest}@${tag}`);
          }
          break;
        }
        case "tag.set":
          if (!pushed.has(`${e.digest}@${e.tag}`)) {
            add("manifest", "push", { digest: e.digest, repository: e.repository, url: `${origin}/v2/${e.repository}/manifests/${e.digest}`, tag: e.tag });
          }
          break;
        case "blob.commit":
          add("blob", "push", { mediaType: BLOB_MEDIA_TYPE, size: e.size, digest: e.digest, length: e.size, repository: e.repository, url: `${origin}/v2/${e.repository}/blobs/${e.digest}` });
          break;
        case "blob.mount":
          add("blob", "mount", {
            mediaType: BLOB_MEDIA_TYPE,
            digest: e.digest,
            repository: e.repository,
            ...(e.from !== null ? { fromRepository: e.from } : {}),
            url: `${origin}/v2/${e.repository}/blobs/${e.digest}`,
          });
          break;
        case "blob.delete":
          add("blob", "delete", { digest: e.digest, repository: e.repository });
          break;
        case "manifest.delete":
          add("manifest", "delete", { digest: e.digest, repository: e.repository });
          break;
        case "tag.delete":
          add("tag", "delete", { repository: e.repository, tag: e.tag });
          break;
      }
    }
    return out;
  }

  private fromRead(read: ReadEvent, request: RequestInfo): StoredEvent {
    const origin = request.origin;
    if (read.action === "blob.pull") {
      const target = { mediaType: BLOB_MEDIA_TYPE, digest: read.digest, repository: read.repository, url: `${origin}/v2/${read.repository}/blobs/${read.digest}` };
      return { kind: "blob", origin, event: this.event("pull", target, request) };
    }
    const target: EventTarget = {
      mediaType: read.mediaType,
      size: read.size,
      digest: read.digest,
      length: read.size,
      repository: read.repository,
      url: `${origin}/v2/${read.repository}/manifests/${read.digest}`,
      ...(read.tag !== null ? { tag: read.tag } : {}),
    };
    return { kind: "manifest", origin, event: this.event("pull", target, request) };
  }
}
