// A background job as the coordinator runs it: a plain-data state, advanced by bounded steps. Each step does
// at most a fixed amount of work (a Durable Object alarm has a subrequest limit and 15 minutes of wall time),
// returns the new state — the checkpoint the coordinator saves before the next alarm — and says whether the
// job is done (or when its next step may run at the earliest). A step must be safe to run again from the last
// saved state (the object may die mid-step).

import type { ReferrerDescriptor } from "../oci/referrers-tag";
import type { GcConfig } from "../config/gc";
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
  /** The state a new run starts from; throws Error for bad parameters. */
  start(params: Record<string, unknown>, env: JobEnvironment): S;
  /** One bounded step from a saved state. */
  step(state: S, env: JobEnvironment): Promise<StepResult<S>>;
  /** What the report shows of the state (counts, findings). */
  result(state: S): Record<string, unknown>;
}
