// Every metric Berth exports, in the order GET /metrics shows them: name, Prometheus type, help text and label
// names. One list, so the renderer, the counting code and the README cannot disagree about a name. Counters end
// in _total; the histogram's buckets (seconds) suit a registry: redirects and HEADs take milliseconds, blob
// uploads seconds to minutes.

export type MetricType = "counter" | "histogram" | "gauge";

export interface MetricDef {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
}

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

export const METRICS = [
  { name: "berth_http_requests_total", type: "counter", help: "Requests answered, by route, method and status class.", labels: ["route", "method", "status"] },
  { name: "berth_http_request_duration_seconds", type: "histogram", help: "Time from a request's arrival to its answer's headers, by route and method.", labels: ["route", "method"] },
  { name: "berth_received_bytes_total", type: "counter", help: "Bytes of blobs and manifests that pushes stored (a blob already stored counts again).", labels: ["kind"] },
  { name: "berth_blobs_pushed_total", type: "counter", help: "Blob uploads completed and verified.", labels: [] },
  { name: "berth_blobs_mounted_total", type: "counter", help: "Blobs linked from another repository without an upload.", labels: [] },
  { name: "berth_manifests_pushed_total", type: "counter", help: "Manifests stored by PUT.", labels: [] },
  { name: "berth_deletes_total", type: "counter", help: "Successful deletes, by what was deleted.", labels: ["kind"] },
  { name: "berth_pulls_total", type: "counter", help: "Manifests served (GET and HEAD) and blob GETs answered.", labels: ["kind"] },
  { name: "berth_redirects_total", type: "counter", help: "Blob GETs answered with a redirect to a presigned URL of the bucket.", labels: [] },
  { name: "berth_s3_requests_total", type: "counter", help: "Requests sent to the S3 API (each retry counts), by operation.", labels: ["operation"] },
  { name: "berth_s3_errors_total", type: "counter", help: "S3 requests that failed: network errors, 5xx, 429 (throttled), 401/403 (refused).", labels: ["operation", "kind"] },
  { name: "berth_upload_sessions_started_total", type: "counter", help: "Upload sessions opened (including monolithic uploads).", labels: [] },
  { name: "berth_upload_sessions_committed_total", type: "counter", help: "Upload sessions completed with a verified digest.", labels: [] },
  { name: "berth_upload_sessions_expired_total", type: "counter", help: "Upload sessions removed by their expiry alarm after being idle.", labels: [] },
  { name: "berth_upstream_requests_total", type: "counter", help: "Requests sent to pull-through upstreams (each URL tried counts), by upstream and what was asked for.", labels: ["upstream", "operation"] },
  { name: "berth_upstream_errors_total", type: "counter", help: "Upstream requests that failed: missing (404), throttled (429), refused (401/403), unavailable (5xx, network).", labels: ["upstream", "kind"] },
  { name: "berth_upstream_fills_total", type: "counter", help: "Manifests and blobs fetched from an upstream and stored in its cache.", labels: ["upstream", "kind"] },
  { name: "berth_upstream_fill_bytes_total", type: "counter", help: "Bytes of manifests and blobs fetched from an upstream and stored in its cache.", labels: ["upstream"] },
  { name: "berth_upstream_stale_total", type: "counter", help: "Answers served from the cache because the upstream failed, by what was asked for.", labels: ["upstream", "what"] },
  { name: "berth_notification_deliveries_total", type: "counter", help: "Events an endpoint accepted.", labels: ["endpoint"] },
  { name: "berth_notification_failures_total", type: "counter", help: "Delivery attempts that failed (a non-2xx/3xx answer, a timeout or a network error).", labels: ["endpoint"] },
  { name: "berth_notification_dead_letters_total", type: "counter", help: "Events moved to the dead-letter list after maxattempts.", labels: ["endpoint"] },
  { name: "berth_notification_queued", type: "gauge", help: "Events waiting for delivery now (counted up to 10000 per outbox).", labels: ["endpoint"] },
  { name: "berth_notification_dead_letters", type: "gauge", help: "Dead letters held now (counted up to 10000 per outbox).", labels: ["endpoint"] },
] as const satisfies readonly MetricDef[];

type Def = (typeof METRICS)[number];
export type CounterName = Extract<Def, { type: "counter" }>["name"];
export type HistogramName = Extract<Def, { type: "histogram" }>["name"];
export type GaugeName = Extract<Def, { type: "gauge" }>["name"];
export type LabelsOf<N extends Def["name"]> = Record<Extract<Def, { name: N }>["labels"][number], string>;

export function definition(name: string): MetricDef | undefined {
  return (METRICS as readonly MetricDef[]).find((m) => m.name === name);
}
