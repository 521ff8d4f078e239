// Berth's configuration: every Worker variable and secret is parsed and validated here, once, into one typed
// Config. Names follow CNCF Distribution's environment overrides (REGISTRY_STORAGE_S3_*), with its defaults
// and limits, so a Distribution setup carries over. A bad value throws ConfigError naming the setting;
// secrets are never echoed.

import { parseAuthConfig, type AuthConfig } from "./auth";
import { parseGc, readUploadPurgeAge, type GcConfig } from "./gc";
import { parseObservability, type ObservabilityConfig } from "./logging";
import { parseMaintenance, type MaintenanceConfig } from "./maintenance";
import { parseNotifications, type NotificationsConfig } from "./notifications";
import { parseS3, type S3Config } from "./storage";
import { parseUiConfig, type UiConfig } from "./ui";
import { parseUpstreams, type MirrorConfig } from "./upstreams";
import { DAY, MiB, SECOND, readBool, readDuration, readInt, type Env } from "./values";

export { ConfigError, parseGoDuration, type Env } from "./values";
export type { S3Config } from "./storage";
export type { AuthConfig } from "./auth";
export type { ImmutableTags, MaintenanceConfig } from "./maintenance";
export type { UiConfig } from "./ui";
export type { GcConfig } from "./gc";
export type { RetentionConfig } from "./retention";
export type { NotificationEndpoint, NotificationsConfig } from "./notifications";
export type { MirrorConfig, Upstream } from "./upstreams";
export type { ObservabilityConfig } from "./logging";

/** What the upload-session Durable Object needs: it parses only these (no auth secrets, no policies). */
export interface UploadConfig {
  s3: S3Config;
  /** REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE (Go duration): an idle upload session expires after this, ms. */
  uploadExpiryMs: number;
  /**
   * BERTH_CHUNK_MAX_LENGTH: largest request body clients should send (OCI-Chunk-Max-Length on POST), bytes.
   * Cloudflare refuses bodies over 100 MB on Free/Pro zones before the Worker sees them.
   */
  chunkMaxLength: number;
}

export interface Config extends UploadConfig {
  /** REGISTRY_STORAGE_REDIRECT_DISABLE: stream blobs through the Worker instead of 307 to presigned URLs. */
  redirectDisable: boolean;
  /** BERTH_REDIRECT_EXPIRY (Go duration or seconds): lifetime of presigned download URLs, seconds. */
  redirectExpirySeconds: number;
  /** REGISTRY_STORAGE_DELETE_ENABLED: allow DELETE of blobs and manifests. */
  deleteEnabled: boolean;
  /** BERTH_EDGE_CACHE (default true): keep manifest bytes and blob sizes in the data center's cache too. */
  edgeCache: boolean;
  /** Read-only mode and immutable tags (REGISTRY_STORAGE_MAINTENANCE_READONLY, BERTH_IMMUTABLE_TAGS). */
  maintenance: MaintenanceConfig;
  /** Authentication and access control (REGISTRY_AUTH, REGISTRY_ACCESSCONTROL, …). */
  auth: AuthConfig;
  /** The web UI and cross-origin API access (BERTH_UI, BERTH_CORS_ORIGINS). */
  ui: UiConfig;
  /** Online garbage collection (BERTH_GC, BERTH_GC_DELAY, …). */
  gc: GcConfig;
  /** Webhook endpoints (REGISTRY_NOTIFICATIONS). */
  notifications: NotificationsConfig;
  /** Pull-through cache: the upstreams mirrored (REGISTRY_PROXY_*, BERTH_UPSTREAMS). */
  mirror: MirrorConfig;
  /** The operator's log level and the metrics endpoint's bearer secret (BERTH_LOG_LEVEL, BERTH_METRICS_TOKEN). */
  observability: ObservabilityConfig;
}

/** The settings of the upload session (a subset of parseConfig's); throws ConfigError for the first bad one. */
export function parseUploadConfig(env: Env): UploadConfig {
  return {
    s3: parseS3(env),
    uploadExpiryMs: readUploadPurgeAge(env),
    chunkMaxLength: readInt(env, "BERTH_CHUNK_MAX_LENGTH", 64 * MiB, 5 * MiB),
  };
}

/** Parses and validates every setting; throws ConfigError for the first bad one. */
export function parseConfig(env: Env): Config {
  const upload = parseUploadConfig(env);
  const mirror = parseUpstreams(env);
  // Presigned URLs take X-Amz-Expires in whole seconds.
  const expiryMs = readDuration(env, "BERTH_REDIRECT_EXPIRY", 20 * 60 * SECOND, SECOND, 7 * DAY, "between 1s and 7 days (168h)", true);
  return {
    ...upload,
    redirectDisable: readBool(env, "REGISTRY_STORAGE_REDIRECT_DISABLE", false),
    redirectExpirySeconds: expiryMs / SECOND,
    deleteEnabled: readBool(env, "REGISTRY_STORAGE_DELETE_ENABLED", true),
    edgeCache: readBool(env, "BERTH_EDGE_CACHE", true),
    maintenance: parseMaintenance(env),
    auth: parseAuthConfig(env),
    ui: parseUiConfig(env),
    gc: parseGc(env, mirror),
    notifications: parseNotifications(env),
    mirror,
    observability: parseObservability(env),
  };
}
