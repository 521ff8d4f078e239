// What the Worker and the event outbox Durable Objects say to each other over RPC, and the event as it is
// stored: Distribution's event record (notifications/event.go: id, timestamp, action, target, request,
// actor, source) plus what kind of thing it is about, so each endpoint's format is rendered from one stored
// copy at delivery time. Plain data only (it crosses RPC and is kept in the objects' storage).

import type { EventAction } from "../config/notifications";

export type { EventAction } from "../config/notifications";

export interface EventTarget {
  mediaType?: string;
  size?: number;
  digest?: string;
  /** Same as size (Distribution keeps both for old receivers). */
  length?: number;
  repository: string;
  fromRepository?: string;
  url?: string;
  tag?: string;
}

export interface RegistryEvent {
  id: string;
  /** ISO 8601. */
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: { id: string; addr?: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

/** manifest: a manifest pushed, pulled or deleted; blob: a layer or config; tag: a tag removed on its own. */
export type EventKind = "manifest" | "blob" | "tag";

export interface StoredEvent {
  kind: EventKind;
  event: RegistryEvent;
  /** The registry's origin as clients address it (scheme://host), for CloudEvents' source. */
  origin: string;
}

/** An event to record, and the endpoints (by name) that want it. */
export interface Recorded {
  stored: StoredEvent;
  endpoints: string[];
}

/** Pulls seen by one isolate since its last flush. */
export interface PullBatch {
  /** Pull events some endpoint wants (manifest pulls; blob pulls only for endpoints with blobpulls). */
  events: Recorded[];
  /** Pulls counted per repository, wanted or not. */
  counts: { repository: string; manifests: number; blobs: number }[];
}

export interface DeadLetter {
  endpoint: string;
  /** The entry's key in the outbox (replay names it). */
  key: string;
  attempts: number;
  lastError: string;
  /** ISO 8601. */
  deadAt: string;
  event: StoredEvent;
}

export interface EndpointStats {
  pending: number;
  dead: number;
  delivered: number;
  /** Failures in a row (the backoff's count). */
  failures: number;
  /** Delivery attempts that failed, ever. */
  failedAttempts: number;
  /** Events moved to the dead-letter list, ever. */
  deadLettered: number;
  lastError: string | null;
  /** ISO 8601, or null while not backing off. */
  retryAt: string | null;
}

export interface OutboxStats {
  endpoints: Record<string, EndpointStats>;
  pulls: { manifests: number; blobs: number };
}

export interface EventOutboxRpc {
  /** Stores the events in one durable write and makes sure delivery is scheduled. */
  record(events: Recorded[]): Promise<void>;
  /** Stores a batch of pulls (the events wanted, and the counts) in one durable write. */
  pulled(batch: PullBatch): Promise<void>;
  /** Dead letters, oldest first; `endpoint` narrows to one. */
  dead(opts: { endpoint?: string; limit: number }): Promise<{ dead: DeadLetter[]; more: boolean }>;
  /** Puts dead letters back in their endpoints' queues (all, or one endpoint's, or one event's by id). */
  replay(opts: { endpoint?: string; id?: string; limit: number }): Promise<{ replayed: number; more: boolean }>;
  stats(): Promise<OutboxStats>;
}

/**
 * Events are spread over a fixed number of outbox objects by repository: one object would take every push
 * of the registry (a Durable Object serves about a thousand requests a second), one per repository would
 * make the dead-letter list a walk over every repository ever pushed. Fixed: changing it would strand the
 * events of shards no longer addressed.
 */
export const OUTBOX_SHARDS = 8;

export function outboxName(shard: number): string {
  return `events-${shard}`;
}

/** The shard of a repository (FNV-1a of its name): all its events go to one object. */
export function shardOf(repository: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < repository.length; i++) {
    h ^= repository.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % OUTBOX_SHARDS;
}
