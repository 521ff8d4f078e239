// Metrics: the Tally's series keys and histogram buckets, the Prometheus text the renderer writes, the metrics
// object's table adding batches from several isolates, the Flusher's batching (one send per delay, a failed
// send put back, a scrape's flush after the ones under way), the S3 counter, and GET /metrics through the
// router: after a known sequence of requests the counters show exactly those numbers, and callers without the
// token or admin rights are refused.
import { describe, expect, it } from "vitest";
import { Flusher } from "../../src/metrics/flush";
import { renderPrometheus } from "../../src/metrics/render";
import { countS3Attempt } from "../../src/metrics/s3";
import { isolateTally } from "../../src/metrics/flush";
import { MetricsTable } from "../../src/metrics/table";
import { Tally, type MetricsBatch } from "../../src/metrics/tally";
import { pattern, sha256 } from "./support/content";
import { openUpload, patch, pushImage } from "./support/flows";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";
import { memorySql } from "./support/sqlite";

const TOKEN = "scrape-token-0123456789";

/** The value of one series line in an exposition, or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(r: TestRegistry): Promise<string> {
  const res = await expectStatus(await r.call("GET", "/metrics"), 200);
  expect(res.headers.get("Content-Type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

describe("Tally and the Prometheus text", () => {
  it("writes HELP and TYPE for every metric, 0 for unlabelled counters nothing counted, and escapes label values", () => {
    const t = new Tally();
    t.add("berth_s3_requests_total", { operation: 'Odd"Op\\' }, 2);
    const text = renderPrometheus(t.take()!);
    expect(text).toContain("# HELP berth_http_requests_total ");
    expect(text).toContain("# TYPE berth_http_request_duration_seconds histogram");
    expect(text).toContain("# TYPE berth_notification_queued gauge");
    expect(value(text, "berth_blobs_pushed_total")).toBe(0);
    expect(text).toContain('berth_s3_requests_total{operation="Odd\\"Op\\\\"} 2\n');
    expect(t.take()).toBeNull();
  });

  it("keeps histogram buckets cumulative and in increasing le, then _sum and _count", () => {
    const t = new Tally();
    t.observe("berth_http_request_duration_seconds", { route: "blob", method: "GET" }, 0.02);
    t.observe("berth_http_request_duration_seconds", { route: "blob", method: "GET" }, 3);
    const lines = renderPrometheus(t.take()!).split("\n").filter((l) => l.startsWith("berth_http_request_duration_seconds"));
    const series = (s: string) => `berth_http_request_duration_seconds${s}`;
    const le = lines.filter((l) => l.includes("_bucket")).map((l) => /le="([^"]+)"/.exec(l)![1]);
    expect(le).toEqual(["0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300", "+Inf"].filter((b) => le.includes(b)));
    const text = lines.join("\n") + "\n";
    expect(value(text, series('_bucket{route="blob",method="GET",le="0.025"}'))).toBe(1);
    expect(value(text, series('_bucket{route="blob",method="GET",le="5"}'))).toBe(2);
    expect(value(text, series('_bucket{route="blob",method="GET",le="+Inf"}'))).toBe(2);
    expect(value(text, series('_sum{route="blob",method="GET"}'))).toBeCloseTo(3.02);
    expect(value(text, series('_count{route="blob",method="GET"}'))).toBe(2);
    expect(lines.at(-1)).toMatch(/_count/);
    expect(lines.at(-2)).toMatch(/_sum/);
  });

  it("the metrics object's table adds batches from several isolates key by key", async () => {
    const table = new MetricsTable(memorySql());
    const a = new Tally();
    const b = new Tally();
    a.add("berth_blobs_pushed_total", {}, 2);
    b.add("berth_blobs_pushed_total", {}, 3);
    b.add("berth_pulls_total", { kind: "manifest" });
    await table.add(a.take()!);
    await table.add(b.take()!);
    expect(await table.read()).toEqual({ berth_blobs_pushed_total: 5, 'berth_pulls_total{kind="manifest"}': 1 });
  });
});

describe("Flusher", () => {
  function setup(send: (b: MetricsBatch) => Promise<void>) {
    const t = new Tally();
    let now = 1000;
    const timers: (() => void)[] = [];
    const f = new Flusher(t, { delayMs: 5000, now: () => now, sleep: () => new Promise<void>((resolve) => timers.push(resolve)) });
    f.useSender(send);
    const kept: Promise<unknown>[] = [];
    return { t, f, timers, kept, waitUntil: (p: Promise<unknown>) => void kept.push(p), advance: (ms: number) => (now += ms) };
  }

  it("arms one flush per delay whatever the number of requests, and sends one batch", async () => {
    const sent: MetricsBatch[] = [];
    const s = setup(async (b) => void sent.push(b));
    for (let i = 0; i < 50; i++) {
      s.t.add("berth_redirects_total", {});
      s.f.soon(s.waitUntil);
    }
    expect(s.timers).toHaveLength(1);
    s.timers[0]!();
    await Promise.all(s.kept);
    expect(sent).toEqual([{ berth_redirects_total: 50 }]);
  });

  it("puts a failed batch back, to go with the next one", async () => {
    const sent: MetricsBatch[] = [];
    let fail = true;
    const s = setup(async (b) => {
      if (fail) throw new Error("object unavailable");
      sent.push(b);
    });
    s.t.add("berth_redirects_total", {});
    await s.f.flush();
    fail = false;
    s.t.add("berth_redirects_total", {});
    await s.f.flush();
    expect(sent).toEqual([{ berth_redirects_total: 2 }]);
  });

  it("re-arms when an armed flush never ran (its context ended), and a flush waits for one under way", async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const s = setup(async (b) => {
      order.push(`send ${JSON.stringify(b)}`);
      if (order.length === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    s.t.add("berth_redirects_total", {});
    s.f.soon(s.waitUntil);
    s.advance(20_000);
    s.f.soon(s.waitUntil);
    expect(s.timers).toHaveLength(2);
    const first = s.f.flush();
    await new Promise((resolve) => setTimeout(resolve, 0)); // the first send has taken its batch
    s.t.add("berth_blobs_pushed_total", {});
    const second = s.f.flush().then(() => order.push("second done"));
    await Promise.resolve();
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['send {"berth_redirects_total":1}', 'send {"berth_blobs_pushed_total":1}', "second done"]);
  });
});

describe("the S3 counter", () => {
  it("counts every attempt by operation, and as errors only failures (not a 404)", () => {
    isolateTally.take();
    countS3Attempt("HeadObject", 404);
    countS3Attempt("PutObject", 200);
    countS3Attempt("PutObject", 503);
    countS3Attempt("PutObject", null);
    countS3Attempt("GetObject", 403);
    countS3Attempt("ListObjectsV2", 429);
    expect(isolateTally.take()).toEqual({
      'berth_s3_requests_total{operation="HeadObject"}': 1,
      'berth_s3_requests_total{operation="PutObject"}': 3,
      'berth_s3_requests_total{operation="GetObject"}': 1,
      'berth_s3_requests_total{operation="ListObjectsV2"}': 1,
      'berth_s3_errors_total{operation="PutObject",kind="server"}': 1,
      'berth_s3_errors_total{operation="PutObject",kind="network"}': 1,
      'berth_s3_errors_total{operation="GetObject",kind="refused"}': 1,
      'berth_s3_errors_total{operation="ListObjectsV2",kind="throttled"}': 1,
    });
  });
});

describe("GET /metrics", () => {
  it("after a known sequence of requests shows exactly those counts", async () => {
    const r = registry();
    const img = await pushImage(r, "team/app", "v1"); // 2 monolithic POSTs + 1 manifest PUT
    const up = await openUpload(r, "team/app");
    const chunk = pattern(700, 9);
    await expectStatus(await patch(r, up.location, { body: chunk }), 202);
    await expectStatus(await r.call("PUT", `${up.location}?digest=${sha256(chunk)}`), 201);
    await expectStatus(await r.call("GET", "/v2/team/app/manifests/v1"), 200);
    await expectStatus(await r.call("HEAD", "/v2/team/app/manifests/v1"), 200);
    const redirect = await r.call("GET", `/v2/team/app/blobs/${sha256(img.layer)}`);
    expect(redirect.status).toBe(307);
    await expectError(await r.call("GET", "/v2/team/app/manifests/nope"), 404, "MANIFEST_UNKNOWN");
    await expectStatus(await r.call("POST", `/v2/team/other/blobs/uploads/?mount=${sha256(img.layer)}&from=team/app`), 201);
    await expectStatus(await r.call("DELETE", "/v2/team/app/manifests/v1"), 202); // the tag

    const text = await scrape(r);
    const bytes = img.config.byteLength + img.layer.byteLength + chunk.byteLength;
    expect(value(text, 'berth_http_requests_total{route="upload",method="POST",status="2xx"}')).toBe(4);
    expect(value(text, 'berth_http_requests_total{route="upload",method="PATCH",status="2xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="upload",method="PUT",status="2xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="manifest",method="PUT",status="2xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="manifest",method="GET",status="2xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="manifest",method="GET",status="4xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="manifest",method="HEAD",status="2xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="manifest",method="DELETE",status="2xx"}')).toBe(1);
    expect(value(text, 'berth_http_requests_total{route="blob",method="GET",status="3xx"}')).toBe(1);
    expect(value(text, 'berth_http_request_duration_seconds_count{route="manifest",method="GET"}')).toBe(2);
    expect(value(text, "berth_blobs_pushed_total")).toBe(3);
    expect(value(text, "berth_blobs_mounted_total")).toBe(1);
    expect(value(text, "berth_manifests_pushed_total")).toBe(1);
    expect(value(text, 'berth_received_bytes_total{kind="blob"}')).toBe(bytes);
    expect(value(text, 'berth_received_bytes_total{kind="manifest"}')).toBe(img.manifest.bytes.byteLength);
    expect(value(text, 'berth_pulls_total{kind="manifest"}')).toBe(2);
    expect(value(text, 'berth_pulls_total{kind="blob"}')).toBe(1);
    expect(value(text, "berth_redirects_total")).toBe(1);
    expect(value(text, 'berth_deletes_total{kind="tag"}')).toBe(1);
    expect(value(text, "berth_upload_sessions_started_total")).toBe(3);
    expect(value(text, "berth_upload_sessions_committed_total")).toBe(3);
    expect(value(text, "berth_upload_sessions_expired_total")).toBe(0);
    // The scrape itself is counted once it is answered: the next scrape shows it.
    expect(value(await scrape(r), 'berth_http_requests_total{route="metrics",method="GET",status="2xx"}')).toBe(1);
  });

  it("counts an upload session that expired", async () => {
    const r = registry({ env: { REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: "1m" } });
    await openUpload(r, "team/app");
    r.clock.t += 61_000;
    expect(await r.sessions.fireDueAlarms()).toBe(1);
    expect(value(await scrape(r), "berth_upload_sessions_expired_total")).toBe(1);
  });

  it("with a token set, refuses anonymous callers (401 with a Bearer challenge) and answers the token", async () => {
    const r = registry({ env: { BERTH_METRICS_TOKEN: TOKEN } });
    const refused = await r.call("GET", "/metrics");
    expect(refused.headers.get("WWW-Authenticate")).toBe('Bearer realm="berth-metrics"');
    await expectError(refused, 401, "UNAUTHORIZED");
    r.metricsTokenAccepted = true;
    await scrape(r);
  });

  it("refuses a known user who is not an admin, and serves one who is", async () => {
    const r = registry({ env: { BERTH_METRICS_TOKEN: TOKEN } });
    r.ctx.request.caller = { user: "bob", groups: [], anonymous: false };
    r.access.deny("admin");
    await expectError(await r.call("GET", "/metrics"), 403, "DENIED");
    const admin = registry({ env: { BERTH_METRICS_TOKEN: TOKEN } });
    admin.ctx.request.caller = { user: "alice", groups: [], anonymous: false };
    await scrape(admin);
  });

  it("adds each notification endpoint's deliveries, failures and dead letters from the outboxes", async () => {
    const endpoints = JSON.stringify({ endpoints: [{ name: "hook", url: "https://hooks.example.com/x", maxattempts: 1, threshold: 1 }] });
    const r = registry({ env: { REGISTRY_NOTIFICATIONS: endpoints } });
    const shard = r.outboxAt(0);
    await shard.storage.put({ "s:hook": { failures: 1, notBefore: 0, delivered: 4, failedAttempts: 2, deadLettered: 1, lastError: "HTTP 500" } });
    const text = await scrape(r);
    expect(value(text, 'berth_notification_deliveries_total{endpoint="hook"}')).toBe(4);
    expect(value(text, 'berth_notification_failures_total{endpoint="hook"}')).toBe(2);
    expect(value(text, 'berth_notification_dead_letters_total{endpoint="hook"}')).toBe(1);
    expect(value(text, 'berth_notification_queued{endpoint="hook"}')).toBe(0);
  });
});

