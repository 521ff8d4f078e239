// What the pull-through cache reports beyond its answers, over the in-memory registry and a fake upstream: a
// fill (a manifest or blob fetched and stored) once per content, a blob's only after its digest held, stale
// answers when the upstream fails; the streamed blob's pull noted at the read seam; fills' audit lines and
// counts; every request sent upstream counted by operation, failures by kind, the token endpoint's too.
import { beforeEach, describe, expect, it } from "vitest";
import { auditFill } from "../../src/http/audit";
import { countMirror } from "../../src/http/observe";
import { isolateTally } from "../../src/metrics/flush";
import { Tally } from "../../src/metrics/tally";
import { readAll } from "./support/content";
import { expectStatus, registry, type TestRegistry } from "./support/registry";
import { FakeUpstream, UPSTREAM } from "./support/upstream";

const env = { BERTH_UPSTREAMS: JSON.stringify([{ name: "hub", urls: [UPSTREAM], prefix: "hub", ttl: "10m" }]) };
const TTL_MS = 10 * 60_000;

let up: FakeUpstream;
let r: TestRegistry;

beforeEach(() => {
  up = new FakeUpstream();
  r = registry({ env, upstreamFetch: up.fetch });
  isolateTally.take(); // counts of earlier tests
});

async function pull(path: string): Promise<Response> {
  const res = await expectStatus(await r.call("GET", path), 200);
  await readAll(res.body);
  await Promise.all(r.background);
  return res;
}

describe("fill events", () => {
  it("a manifest fetched is one fill (with its tag); served again from the cache, none", async () => {
    const img = up.image("team/app", "1");
    await pull("/v2/hub/team/app/manifests/1");
    await pull("/v2/hub/team/app/manifests/1");
    const size = up.manifests.get(`team/app@${img.manifest}`)!.bytes.byteLength;
    expect(r.mirrorEvents).toEqual([{ action: "manifest.fill", upstream: "hub", repository: "hub/team/app", digest: img.manifest, size, tag: "1" }]);
  });

  it("a blob streamed from the upstream is a fill once stored and verified, and a pull at the read seam", async () => {
    const img = up.image("team/app", "1", new TextEncoder().encode("layer bytes of the image"));
    await pull(`/v2/hub/team/app/blobs/${img.layer}`);
    expect(r.mirrorEvents).toEqual([{ action: "blob.fill", upstream: "hub", repository: "hub/team/app", digest: img.layer, size: 24 }]);
    expect(r.reads).toContainEqual({ action: "blob.pull", repository: "hub/team/app", digest: img.layer });
  });

  it("wrong bytes from the upstream are no fill", async () => {
    const img = up.image("team/app", "1");
    up.corrupt.set(img.layer, new TextEncoder().encode("not the layer at all"));
    const res = await r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`);
    await readAll(res.body).catch(() => null);
    await Promise.allSettled(r.background);
    expect(r.mirrorEvents.filter((e) => e.action === "blob.fill")).toEqual([]);
  });

  it("a cached tag served because the upstream is down is a stale event; so are tags and referrers", async () => {
    const img = up.image("team/app", "1");
    await pull("/v2/hub/team/app/manifests/1");
    await pull("/v2/hub/team/app/tags/list");
    await pull(`/v2/hub/team/app/referrers/${img.manifest}`);
    up.down = true;
    r.clock.advance(TTL_MS * 2);
    await pull("/v2/hub/team/app/manifests/1");
    await pull("/v2/hub/team/app/tags/list");
    await pull(`/v2/hub/team/app/referrers/${img.manifest}`);
    expect(r.mirrorEvents.filter((e) => e.action === "stale")).toEqual(
      (["manifest", "tags", "referrers"] as const).map((what) => ({ action: "stale", upstream: "hub", repository: "hub/team/app", what })),
    );
  });
});

describe("upstream request counts", () => {
  it("counts every request sent upstream by operation, the token endpoint's too, and failures by kind (not the 401 challenge)", async () => {
    up.auth = "token";
    const img = up.image("team/app", "1");
    await pull("/v2/hub/team/app/manifests/1");
    await pull(`/v2/hub/team/app/blobs/${img.layer}`);
    expect((await r.call("GET", "/v2/hub/team/app/manifests/nope")).status).toBe(404);
    const counts = isolateTally.take() ?? {};
    expect(counts['berth_upstream_requests_total{upstream="hub",operation="token"}']).toBe(1); // cached per scope after that
    expect(counts['berth_upstream_requests_total{upstream="hub",operation="manifest"}']).toBe(3); // challenge, GET, the missing one
    expect(counts['berth_upstream_requests_total{upstream="hub",operation="blob"}']).toBe(1);
    expect(counts['berth_upstream_errors_total{upstream="hub",kind="missing"}']).toBe(1);
    expect(Object.keys(counts).filter((k) => k.startsWith("berth_upstream_errors_total"))).toHaveLength(1);
  });

  it("an unreachable upstream counts as unavailable", async () => {
    up.down = true;
    expect((await r.call("GET", "/v2/hub/team/app/manifests/1")).status).toBe(500);
    const counts = isolateTally.take() ?? {};
    expect(counts['berth_upstream_errors_total{upstream="hub",kind="unavailable"}']).toBe(1);
  });
});

describe("fill audit lines and counts", () => {
  const request = { id: "ray-1", caller: { user: "alice", groups: [], anonymous: false }, clientAddress: "198.51.100.4", userAgent: "containerd/2.0", method: "GET", host: "r.example", origin: "https://r.example" };

  it("a fill's line names the upstream, the cache repository, the digest and tag, and nothing of the request's headers", () => {
    const lines: string[] = [];
    const rec = auditFill({ action: "manifest.fill", upstream: "hub", repository: "hub/library/alpine", digest: "sha256:" + "a".repeat(64), size: 500, tag: "3" }, request, "/v2/library/alpine/manifests/3", (l) => lines.push(l));
    expect(lines).toEqual([JSON.stringify(rec)]);
    expect(rec).toMatchObject({ audit: "berth", action: "fill", outcome: "success", actor: "alice", repository: "hub/library/alpine", reference: "3", tags: ["3"], upstream: "hub", path: "/v2/library/alpine/manifests/3", error: null });
    const blob = auditFill({ action: "blob.fill", upstream: "hub", repository: "hub/x", digest: "sha256:" + "b".repeat(64), size: 9 }, request, "/v2/hub/x/blobs/sha256:bbb", () => {});
    expect(blob).toMatchObject({ reference: "sha256:" + "b".repeat(64), tags: [] });
  });

  it("fills count by upstream and kind with their bytes; stale answers by what was asked", () => {
    const t = new Tally();
    countMirror(t, { action: "manifest.fill", upstream: "hub", repository: "hub/x", digest: "sha256:" + "a".repeat(64), size: 500, tag: null });
    countMirror(t, { action: "blob.fill", upstream: "hub", repository: "hub/x", digest: "sha256:" + "b".repeat(64), size: 1000 });
    countMirror(t, { action: "stale", upstream: "hub", repository: "hub/x", what: "tags" });
    expect(t.take()).toEqual({
      'berth_upstream_fills_total{upstream="hub",kind="manifest"}': 1,
      'berth_upstream_fills_total{upstream="hub",kind="blob"}': 1,
      'berth_upstream_fill_bytes_total{upstream="hub"}': 1500,
      'berth_upstream_stale_total{upstream="hub",what="tags"}': 1,
    });
  });
});
