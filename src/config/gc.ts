// Settings of the online garbage collector (README "Garbage collection"), named like zot's `gc`, `gcDelay`,
// `gcInterval` where it has them. Parsed by the Worker (for the Cron Trigger and the admin API's defaults)
// and by the job coordinator that runs the collector. Retention policies (retention.ts) belong to it: a run
// applies them before it marks.

import { parseRetention, type RetentionConfig } from "./retention";
import { proxyEviction, type MirrorConfig } from "./upstreams";
import { DAY, SECOND, readBool, readDuration, type Env } from "./values";

export interface GcConfig {
  /** BERTH_GC: whether the Cron Trigger starts runs (on-demand runs through the admin API work either way). */
  enabled: boolean;
  /**
   * BERTH_GC_DELAY (default 1h): a blob written more recently than this before a run's sweep is never swept,
   * and it is the longest a push may take between seeing a blob and pushing the manifest that references it.
   */
  delayMs: number;
  /** BERTH_GC_INTERVAL (default 24h): a Cron Trigger starts a run only when the last one started this long ago. */
  intervalMs: number;
  /** BERTH_GC_DELETE_UNTAGGED (default false, as Distribution): also remove manifests no tag reaches. */
  deleteUntagged: boolean;
  /** BERTH_GC_DRY_RUN (default false): runs report what they would delete and delete nothing. */
  dryRun: boolean;
  /**
   * REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE (default 168h, Distribution's): leftovers of uploads
   * (Distribution's `_uploads/`, stale multipart uploads) older than this are removed.
   */
  uploadPurgeAgeMs: number;
  /**
   * BERTH_GC_FENCE_LEASE (default 20s): while no run is on, a Worker isolate vouches to the coordinator at
   * most once per lease; a run waits up to about twice this long before it marks.
   */
  fenceLeaseMs: number;
  /**
   * BERTH_RETENTION (zot's retention policies): which tags a run removes first; null = none. In proxy mode
   * without it, REGISTRY_PROXY_TTL's eviction (config/upstreams.ts proxyEviction).
   */
  retention: RetentionConfig | null;
}

/** REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE (Go duration, default 168h) in ms: upload sessions and leftovers. */
export function readUploadPurgeAge(env: Env): number {
  const ms = readDuration(env, "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", 168 * 3600 * SECOND, SECOND, Number.MAX_SAFE_INTEGER, "at least 1s");
  return Math.round(ms);
}

/** `mirror`: the parsed upstreams (parseUpstreams), whose REGISTRY_PROXY_TTL is the default retention in proxy mode. */
export function parseGc(env: Env, mirror: MirrorConfig): GcConfig {
  return {
    enabled: readBool(env, "BERTH_GC", true),
    delayMs: readDuration(env, "BERTH_GC_DELAY", 3600 * SECOND, 0, 30 * DAY, "between 0s and 720h"),
    intervalMs: readDuration(env, "BERTH_GC_INTERVAL", DAY, 60 * SECOND, 365 * DAY, "between 1m and 8760h"),
    deleteUntagged: readBool(env, "BERTH_GC_DELETE_UNTAGGED", false),
    dryRun: readBool(env, "BERTH_GC_DRY_RUN", false),
    uploadPurgeAgeMs: readUploadPurgeAge(env),
    fenceLeaseMs: readDuration(env, "BERTH_GC_FENCE_LEASE", 20 * SECOND, SECOND, 300 * SECOND, "between 1s and 5m"),
    retention: parseRetention(env) ?? proxyEviction(mirror),
  };
}
