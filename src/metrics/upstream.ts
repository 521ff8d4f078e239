// The pull-through cache's upstream counter (upstream/client.ts calls it once per request it sends to an
// upstream registry, its token endpoint included): requests by upstream and operation, and the ones that
// failed by kind. A function at the bottom of src/, so the upstream client counts without knowing where
// counts go (as the S3 client does with metrics/s3.ts).

import { isolateTally } from "./flush";

/** `operation`: manifest, blob, tags, referrers, catalog, token or other; `failure` null for a 2xx/3xx answer. */
export function countUpstreamRequest(upstream: string, operation: string, failure: string | null): void {
  isolateTally.add("berth_upstream_requests_total", { upstream, operation });
  if (failure !== null) isolateTally.add("berth_upstream_errors_total", { upstream, kind: failure });
}
