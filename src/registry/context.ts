// What every handler gets: the validated configuration, the storage layer, the upload-session namespace,
// the upload hints, the caller's access decisions, who is asking (the request's identity, id, address),
// `waitUntil` for work that may outlive the answer, the write and read seams, and the event outboxes. Built
// once per request by the Worker entry (src/index.ts).

import type { Config } from "../config";
import type { Action } from "../config/access";
import type { Storage } from "../storage";
import type { SweepFence } from "../storage/sweep-fence";
import type { EventOutboxRpc } from "../events/protocol";
import type { MetricsBatch } from "../metrics/tally";
import type { JobCoordinatorRpc } from "../jobs/protocol";
import type { BlobFillRpc } from "../metadata/fills";
import type { RepositoryMetadataRpc } from "../metadata/protocol";
import type { UploadSessionRpc } from "../uploads/protocol";
import type { Hashing } from "../uploads/hasher";
import type { Upstreams } from "../upstream";
import type { RequestInfo } from "./request";
import type { UploadHints } from "./upload-hints";
import type { MirrorListener } from "./mirror-events";
import type { ReadEvent } from "./reads";
import type { WriteEvent } from "./writes";

export type { Action } from "../config/access";
export type { Caller, RequestInfo } from "./request";

/** The access decisions for the current caller, bound by the Worker entry (http/auth decides; handlers ask). */
export interface AccessGuard {
  /** GET /v2/: throws the login challenge when the mode needs credentials. */
  requireBase(): void;
  /** Throws UNAUTHORIZED (with a challenge) or DENIED unless the caller may; repo null = the catalog. */
  require(repo: string | null, action: Action): void;
  /** Like require, as a boolean. */
  may(repo: string, action: Action): boolean;
  /** Whether the repository shows in the caller's catalog. */
  canRead(repo: string): boolean;
  /** True when anyone may read any repository, so a blob found anywhere may be mounted (mount without `from`). */
  readonly readsEverything: boolean;
  /** Throws unless the caller may use the admin API (adminPolicy; everyone with REGISTRY_AUTH=none). */
  requireAdmin(): void;
}

/** What GET /metrics reads (registry/metrics.ts). */
export interface MetricsSource {
  /** The request carried `Authorization: Bearer <BERTH_METRICS_TOKEN>` (checked in constant time by the entry). */
  readonly tokenAccepted: boolean;
  /** Sends this isolate's held counts to the metrics object (and waits for sends already under way). */
  flush(): Promise<void>;
  /** The registry-wide aggregate; null when there is no metrics object (no METRICS binding). */
  read(): Promise<MetricsBatch | null>;
}

export interface RegistryContext {
  cfg: Config;
  access: AccessGuard;
  storage: Storage;
  /** Returns the RPC stub of an upload session's Durable Object. */
  session(repo: string, uuid: string): UploadSessionRpc;
  /** Returns the RPC stub of the repository's metadata writer (every change to its links and tags). */
  metadata(repo: string): RepositoryMetadataRpc;
  /** Returns the RPC stub of the job coordinator. */
  jobs(): JobCoordinatorRpc;
  /**
   * The garbage collector's fence: vouch for digests before relying on them being stored (storage/sweep-fence.ts);
   * true means a run is on and existence must be checked fresh.
   */
  fence: Pick<SweepFence, "vouch">;
  /** Returns the RPC stub of one event outbox (0 ≤ shard < OUTBOX_SHARDS, src/events/protocol.ts). */
  outbox(shard: number): EventOutboxRpc;
  /**
   * The pull-through cache: the upstreams (one client each per isolate), how blobs they send are hashed, and
   * the single flight of blob fetches into a cache repository (its metadata object), and who hears what the
   * cache fetched or served stale (registry/mirror-events.ts).
   */
  pullThrough: { upstreams: Upstreams; hashing: Hashing; fills(repo: string): BlobFillRpc } & MirrorListener;
  /** The isolate's guesses of which blob a new upload session is for. */
  hints: UploadHints;
  url: URL;
  request: RequestInfo;
  /** Keeps the Worker alive for work the answer need not wait for. */
  waitUntil(work: Promise<unknown>): void;
  /** Records a successful write (the write seam, registry/writes.ts); awaited before answering. */
  written(...events: WriteEvent[]): Promise<void>;
  /** The registry's metrics, for GET /metrics. */
  metrics: MetricsSource;
  /** Notes a successful read (the read seam, registry/reads.ts): never awaited, never fails the request. */
  pulled(event: ReadEvent): void;
}

/** A JSON response with the right length. */
export function json(value: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  const body = JSON.stringify(value);
  return new Response(body, {
    status: init.status ?? 200,
    headers: { "Content-Type": "application/json", ...init.headers },
  });
}

/**
 * An empty response (Content-Length: 0, as clients like docker expect on 201/202/204/307). It names a content
 * type that Cloudflare's front line does not compress: without one, an empty answer to a client that accepts
 * gzip goes out gzipped and chunked (wrangler dev does the same), costing every redirect and upload step time.
 */
export function empty(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, {
    status,
    headers: { "Content-Length": "0", "Content-Type": "application/octet-stream", ...headers },
  });
}
