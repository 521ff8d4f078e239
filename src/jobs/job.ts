// A background job as the coordinator runs it: a plain-data state, advanced by bounded steps. Each step does
// at most a fixed amount of work (a Durable Object alarm has a subrequest limit and 15 minutes of wall time),
// returns the new state — the checkpoint the coordinator saves before the next alarm — and says whether the
// job is done (or when its next step may run at the earliest). A step must be safe to run again from the last
// saved state (the object may die mid-step).

import type { ReferrerDescriptor } from "../oci/referrers-tag";
import type { GcConfig } from "../config/gc";
import type { DigestAlgorithm } from "../oci/digest";
import type { RpcResult } from "../oci/rpc";
import type { StreamHash } from "../streams/stream-hash";
import type { Upstreams } from "../upstream";
import type { Storage } from "../storage";
import type { FenceServer } from "./gc/fence";
import type { GcLedger } from "./gc/ledger";

export interface JobEnvironment {
  storage: Storage;
  now(): number;
  /** What the garbage collector needs beyond storage (the coordinator provides it). */
  gc?: GcRuntime;
  /** Indexes a referrer through its repository's metadata object (the referrers backfill); false if it is gone. */
  referrers?: { index(repo: string, subject: string, descriptor: ReferrerDescriptor): Promise<boolean> };
  /** What periodic sync needs beyond storage (the coordinator provides it). */
  sync?: SyncRuntime;
}

/** A manifest link as the repository's metadata object takes it (metadata/protocol.ts ManifestLink). */
export interface SyncLink {
  digest: string;
  subject: { digest: string; descriptor: ReferrerDescriptor } | null;
  tags: string[];
  mayMove: boolean;
  ifMatch: null;
  ifNoneMatch: null;
  vouch: string[];
  checkedFresh: boolean;
}

export interface SyncRuntime {
  /** The upstreams (BERTH_UPSTREAMS) and one client each. */
  upstreams: Upstreams;
  /** A running hash for a blob being copied (workerd's DigestStream in the coordinator). */
  hash(algorithm: DigestAlgorithm): StreamHash;
  /** Part size of blob writes (REGISTRY_STORAGE_S3_CHUNKSIZE). */
  partSize: number;
  /** Vouches with the collector's fence (storage/sweep-fence.ts); true: a run is on, check existence fresh. */
  vouch(repo: string, digests: string[]): Promise<boolean>;
  /** Links a stored manifest (and moves its tag) through the repository's metadata object, as a push does. */
  linkManifest(repo: string, link: SyncLink): Promise<RpcResult<{ outcome: string }>>;
}

export interface GcRuntime {
  config: GcConfig;
  ledger: GcLedger;
  fence: FenceServer;
  /**
   * Removes an untagged manifest from its repository through the repository's metadata object (so it is
   * ordered with pushes and deletes): "kept" when one of `indexTags` points at it after all.
   */
  removeManifest(repo: string, digest: string, subject: string | null, indexTags: string[]): Promise<"removed" | "kept">;
  /**
   * Removes a tag retention decided on, through the repository's metadata object: "kept" when it no longer
   * names `digest` or is immutable.
   */
  untag(repo: string, tag: string, digest: string): Promise<"removed" | "kept">;
  /** Whether BERTH_IMMUTABLE_TAGS covers the tag (retention never removes such a tag). */
  isImmutable(repo: string, tag: string): boolean;
}

export interface StepResult<S> {
  state: S;
  done: boolean;
  /** Not before this time (ms since the epoch): a step that waits for something (the fence's leases). */
  wakeAt?: number;
}

export interface Job<S> {
  /** The kind's name: the admin API's path segment and the key of its runs. */
  readonly kind: string;
  /**
   * Kinds that run once per something (sync: per upstream) name the instance the parameters are for; each
   * instance has its own run and report. Throws Error for bad parameters. Absent: one run per kind.
   */
  instance?(params: Record<string, unknown>): string;
  /** The state a new run starts from; throws Error for bad parameters. */
  start(params: Record<string, unknown>, env: JobEnvironment): S;
  /** One bounded step from a saved state. */
  step(state: S, env: JobEnvironment): Promise<StepResult<S>>;
  /** What the report shows of the state (counts, findings). */
  result(state: S): Record<string, unknown>;
}
