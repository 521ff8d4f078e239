// The metrics of one answered request, counted in the isolate's Tally (src/metrics) from its outcome:
// requests by route, method and status class, the duration histogram, what the write and read seams heard
// (blobs, manifests and bytes pushed, mounts, deletes, pulls), and redirects issued; and what the pull-through
// cache fetched or served stale. Also one data point in
// the Workers Analytics Engine dataset when one is bound (METRICS_DATASET), which is what that product is
// for: a point per request, sampled and queried with SQL, costing no Durable Object write.

import type { Tally } from "../metrics/tally";
import type { MirrorEvent } from "../registry/mirror-events";
import type { RequestOutcome } from "./outcome";

const METHODS = new Set(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]);

/** Methods outside the API's set count as "other": a label's values stay a small fixed set. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : "other";
}

export function statusClass(status: number): string {
  return `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx`;
}

/** Bytes of blobs and manifests the request stored. */
function receivedBytes(o: RequestOutcome): { blob: number; manifest: number } {
  const out = { blob: 0, manifest: 0 };
  for (const e of o.written) {
    if (e.action === "blob.commit") out.blob += e.size;
    else if (e.action === "manifest.put") out.manifest += e.size;
  }
  return out;
}

export function countRequest(tally: Tally, o: RequestOutcome): void {
  const route = o.route.route;
  const method = methodLabel(o.method);
  tally.add("berth_http_requests_total", { route, method, status: statusClass(o.status) });
  tally.observe("berth_http_request_duration_seconds", { route, method }, Math.max(0, o.durationMs) / 1000);
  const bytes = receivedBytes(o);
  tally.add("berth_received_bytes_total", { kind: "blob" }, bytes.blob);
  tally.add("berth_received_bytes_total", { kind: "manifest" }, bytes.manifest);
  for (const e of o.written) {
    switch (e.action) {
      case "blob.commit":
        tally.add("berth_blobs_pushed_total", {});
        break;
      case "blob.mount":
        tally.add("berth_blobs_mounted_total", {});
        break;
      case "manifest.put":
        tally.add("berth_manifests_pushed_total", {});
        break;
      case "manifest.delete":
        tally.add("berth_deletes_total", { kind: "manifest" });
        break;
      case "tag.delete":
        tally.add("berth_deletes_total", { kind: "tag" });
        break;
      case "blob.delete":
        tally.add("berth_deletes_total", { kind: "blob" });
        break;
      case "tag.set":
        break;
    }
  }
  for (const p of o.pulled) tally.add("berth_pulls_total", { kind: p.action === "manifest.pull" ? "manifest" : "blob" });
  if (route === "blob" && o.method === "GET" && o.status === 307) tally.add("berth_redirects_total", {});
}

/** What the pull-through cache did (upstream names come from the settings: a small fixed set of labels). */
export function countMirror(tally: Tally, e: MirrorEvent): void {
  if (e.action === "stale") {
    tally.add("berth_upstream_stale_total", { upstream: e.upstream, what: e.what });
    return;
  }
  tally.add("berth_upstream_fills_total", { upstream: e.upstream, kind: e.action === "manifest.fill" ? "manifest" : "blob" });
  tally.add("berth_upstream_fill_bytes_total", { upstream: e.upstream }, e.size);
}

/** The Analytics Engine binding's one method (workers-types' AnalyticsEngineDataset). */
export interface DataPointSink {
  writeDataPoint(point: { indexes?: string[]; blobs?: (string | null)[]; doubles?: number[] }): void;
}

/**
 * One point per request. Blobs: route, method, status (as text), status class, repository, audit action
 * (empty when none). Doubles: duration in ms, bytes stored. Index: the route (the sampling key).
 */
export function dataPoint(sink: DataPointSink, o: RequestOutcome, action: string | null): void {
  const bytes = receivedBytes(o);
  sink.writeDataPoint({
    indexes: [o.route.route],
    blobs: [o.route.route, methodLabel(o.method), String(o.status), statusClass(o.status), o.route.repository ?? "", action ?? ""],
    doubles: [Math.max(0, o.durationMs), bytes.blob + bytes.manifest],
  });
}
