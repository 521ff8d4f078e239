// Periodic sync (src/jobs/sync) over the in-memory registry and the fake upstream: which repositories and
// tags its content entries copy (prefix globs, tags.regex, tags.semver), where to (destination, stripPrefix),
// byte for byte with every blob, unchanged tags skipped and moved ones copied again, failures retried per
// maxRetries/retryDelay and then reported, an index's children copied, a step re-run from its saved state,
// the schedule, and the admin API.
import { beforeEach, describe, expect, it } from "vitest";
import { sync } from "../../src/jobs/sync/job";
import { isSemver, keepsTag, localName } from "../../src/jobs/sync/match";
import type { SyncState } from "../../src/jobs/sync/state";
import { syncsDue } from "../../src/jobs/schedule";
import type { JobReport } from "../../src/jobs/protocol";
import type { SyncContent } from "../../src/config/upstreams";
import { bytesOf, sameBytes } from "./support/content";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";
import { FakeUpstream, UPSTREAM } from "./support/upstream";

type Content = { prefix: string; tags?: { regex?: string; semver?: boolean }; destination?: string; stripPrefix?: boolean };

function env(content: Content[], extra: Record<string, unknown> = {}): Record<string, string> {
  return {
    BERTH_UPSTREAMS: JSON.stringify([
      { name: "up", urls: [UPSTREAM], prefix: "mirror", pollInterval: "1h", maxRetries: 2, retryDelay: "30s", content, ...extra },
      { name: "plain", urls: ["https://plain.test"], prefix: "plain" },
    ]),
  };
}

/** A report as the admin API answers it (one upstream's, or every one's under `upstreams`). */
type Answer = JobReport & { upstreams: JobReport[] };
const json = (res: Response) => res.json() as Promise<Answer>;

let up: FakeUpstream;
let r: TestRegistry;

function make(content: Content[], extra: Record<string, unknown> = {}): TestRegistry {
  r = registry({ env: env(content, extra), upstreamFetch: up.fetch });
  return r;
}

/** Starts a run of the upstream's sync and runs it to its end; its report. */
async function runSync(reg = r): Promise<JobReport> {
  const started = await reg.jobRunner.start("sync", { upstream: "up" });
  expect(started).toMatchObject({ started: true });
  await reg.runJobs(500);
  const report = (await reg.jobRunner.status("sync", "up"))!;
  expect(report.state).toBe("done");
  return report;
}

async function localTag(repo: string, tag: string): Promise<string | null> {
  const d = await r.storage.tags.resolve(repo, tag);
  return d ? `${d.algorithm}:${d.hex}` : null;
}

beforeEach(() => {
  up = new FakeUpstream();
});

describe("what sync copies", () => {
  it("copies only the tags its filter matches, in the repositories its prefix glob covers", async () => {
    const v1 = up.image("team/app", "v1");
    const v2 = up.image("team/app", "v2");
    up.image("team/app", "latest");
    up.image("team/sub/lib", "v1"); // "*" stays within a segment
    up.image("other/x", "v1");
    make([{ prefix: "/team/*", tags: { regex: "^v" } }]);
    const report = await runSync();
    expect(report.result).toMatchObject({ upstream: "up", repositories: 1, tagsSeen: 3, tagsMatched: 2, copied: 2, skipped: 0, failed: 0 });
    expect(await localTag("mirror/team/app", "v1")).toBe(v1.manifest);
    expect(await localTag("mirror/team/app", "v2")).toBe(v2.manifest);
    expect(await localTag("mirror/team/app", "latest")).toBeNull();
    expect(r.keys("repositories/mirror/team/sub")).toEqual([]);
    expect(r.keys("repositories/mirror/other")).toEqual([]);
    // Byte for byte, with every blob in the bucket and linked in the repository.
    expect(sameBytes(r.blobData(v1.manifest), up.manifests.get(`team/app@${v1.manifest}`)!.bytes)).toBe(true);
    for (const d of [v1.layer, v1.config, v2.layer]) {
      expect(sameBytes(r.blobData(d), up.blobs.get(d)!)).toBe(true);
      expect(await r.storage.blobs.isLinked("mirror/team/app", { algorithm: "sha256", hex: d.slice(7) }, true)).toBe(true);
    }
    expect(report.result.copiedList).toEqual(["mirror/team/app:v1", "mirror/team/app:v2"]);
    expect(Number(report.result.bytesCopied)).toBeGreaterThan(0);
  });

  it("** spans segments; tags.semver keeps semantic versions only, and with a regex both must hold", async () => {
    // "1.2" and "v1.x" pass the regex but are not semantic versions; "2.0.0" is one, but fails the regex.
    for (const t of ["v1.2.3", "1.0.0", "1.0.0-rc.1", "1.2", "v1.x", "v2", "latest", "2.0.0"]) up.image("team/sub/lib", t);
    make([{ prefix: "team/**", tags: { regex: "^v?1\\.", semver: true } }]);
    await runSync();
    const tags = (await r.storage.tags.list("mirror/team/sub/lib")).sort();
    expect(tags).toEqual(["1.0.0", "1.0.0-rc.1", "v1.2.3"]);
  });

  it("a catalog of several pages is read to its end", async () => {
    up.catalogPageSize = 2;
    for (const n of ["a", "b", "c", "d", "e"]) up.image(`team/${n}`, "v1");
    make([{ prefix: "team/*" }]);
    const report = await runSync();
    expect(report.result).toMatchObject({ repositories: 5, copied: 5 });
    expect(up.registryRequests("GET").filter((s) => s.url.includes("/_catalog")).length).toBe(3);
  });

  it("a prefix without a glob names one repository: synced without the catalog", async () => {
    up.image("team/app", "v1");
    up.image("team/other", "v1");
    make([{ prefix: "/team/app" }]);
    expect((await runSync()).result).toMatchObject({ repositories: 1, copied: 1 });
    expect(up.seen.some((s) => s.url.includes("/_catalog"))).toBe(false);
    expect(await localTag("mirror/team/other", "v1")).toBeNull();
  });

  it("a repository the upstream has no tags for is noted, not a failure", async () => {
    make([{ prefix: "team/gone" }]);
    expect((await runSync()).result).toMatchObject({ repositories: 1, copied: 0, failed: 0, notes: ["team/gone: the upstream has no tags for it"] });
  });

  it("destination and stripPrefix place the copies as zot's rules say, under the upstream's prefix", async () => {
    const a = up.image("team/app", "v1");
    const b = up.image("lib/sub/x", "v1");
    const c = up.image("tools/y", "v1");
    make([
      { prefix: "/team/app", destination: "/apps", stripPrefix: true },
      { prefix: "lib/**", destination: "libs", stripPrefix: true },
      { prefix: "tools/*", destination: "t" },
    ]);
    await runSync();
    expect(await localTag("mirror/apps", "v1")).toBe(a.manifest);
    expect(await localTag("mirror/libs/sub/x", "v1")).toBe(b.manifest);
    expect(await localTag("mirror/t/tools/y", "v1")).toBe(c.manifest);
  });
});

describe("the mapping and filters, as pure functions", () => {
  const content = (c: Partial<SyncContent>): SyncContent => ({ prefix: "/a/**", tagsRegex: null, tagsSemver: false, destination: null, stripPrefix: false, ...c });

  it("names: the default is <upstream prefix>/<remote>; a name that would be empty is refused", () => {
    expect(localName("hub", "a/b", content({}))).toBe("hub/a/b");
    expect(localName("hub", "a/b", content({ stripPrefix: true }))).toBe("hub/b");
    expect(localName("hub", "a/b", content({ destination: "d", stripPrefix: true }))).toBe("hub/d/b");
    expect(() => localName("", "a", content({ prefix: "a", stripPrefix: true }))).toThrow(/not valid/);
  });

  it("semver: optional leading v, pre-releases, no partial versions or leading zeros", () => {
    expect(["1.2.3", "v1.2.3", "0.0.1-alpha.1", "10.20.30-rc-1"].every(isSemver)).toBe(true);
    expect(["1.2", "v1", "01.2.3", "latest", "1.2.3.4"].some(isSemver)).toBe(false);
    expect(keepsTag(content({ tagsRegex: /^v/ }), "prod-v1")).toBe(false);
    expect(keepsTag(content({ tagsRegex: /v/ }), "prod-v1")).toBe(true); // unanchored, like zot's regex
    expect(keepsTag(content({ tagsSemver: true }), "v1.2")).toBe(false);
    expect(keepsTag(content({ tagsSemver: true }), "v1.2.0")).toBe(true);
  });
});

describe("runs after the first", () => {
  it("skips tags cached at the same digest (a HEAD each, no GET), copies a moved tag again", async () => {
    up.image("team/app", "v1");
    up.image("team/app", "v2");
    make([{ prefix: "team/*" }]);
    await runSync();
    const gets = up.registryRequests("GET").length;
    const again = await runSync();
    expect(again.result).toMatchObject({ copied: 0, skipped: 2, failed: 0 });
    expect(up.registryRequests("GET").filter((s) => s.url.includes("/manifests/") || s.url.includes("/blobs/")).length).toBe(
      up.registryRequests("GET").slice(0, gets).filter((s) => s.url.includes("/manifests/") || s.url.includes("/blobs/")).length,
    );
    const moved = up.image("team/app", "v1", bytesOf("a new layer for v1"));
    const third = await runSync();
    expect(third.result).toMatchObject({ copied: 1, skipped: 1 });
    expect(await localTag("mirror/team/app", "v1")).toBe(moved.manifest);
    expect(sameBytes(r.blobData(moved.layer), bytesOf("a new layer for v1"))).toBe(true);
  });

  it("a failing tag is retried after retryDelay up to maxRetries, then reported; the other tags are copied", async () => {
    const bad = up.image("team/app", "v1", bytesOf("the real layer"));
    const good = up.image("team/app", "v2");
    up.corrupt.set(bad.layer, bytesOf("a wrong layer!")); // as long as the real one, but its digest never holds
    make([{ prefix: "team/*" }]);
    const t0 = r.clock.t;
    const report = await runSync();
    expect(report.result).toMatchObject({ copied: 1, failed: 1 });
    expect(report.result.failures).toEqual([{ repository: "mirror/team/app", tag: "v1", reason: expect.stringContaining("digest"), attempts: 3 }]);
    expect(up.registryRequests("GET").filter((s) => s.url.endsWith(`/blobs/${bad.layer}`)).length).toBe(3);
    expect(r.clock.t - t0).toBeGreaterThanOrEqual(2 * 30_000); // waited retryDelay twice
    expect(r.blobData(bad.layer)).toBeUndefined();
    expect(await localTag("mirror/team/app", "v1")).toBeNull();
    expect(await localTag("mirror/team/app", "v2")).toBe(good.manifest);
  });

  it("an upstream that is down: the catalog is retried, then the run ends saying why", async () => {
    up.image("team/app", "v1");
    make([{ prefix: "team/*" }]);
    up.down = true;
    const report = await runSync();
    expect(report.result).toMatchObject({ repositories: 0, copied: 0, failed: 1 });
    expect((report.result.failures as { repository: string; attempts: number }[])[0]).toMatchObject({ repository: "(catalog)", attempts: 3 });
  });
});

describe("indexes and resumability", () => {
  function index(repo: string, tag: string): { index: string; children: { manifest: string; layer: string; config: string }[] } {
    const children = ["amd64", "arm64"].map((arch) => {
      const img = up.image(repo, `tmp-${arch}`, bytesOf(`layer ${arch}`));
      up.tags.delete(`${repo}:tmp-${arch}`); // children are reached by digest only
      return img;
    });
    const body = bytesOf(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: children.map((c, i) => ({
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: c.manifest,
          size: up.manifests.get(`${repo}@${c.manifest}`)!.bytes.byteLength,
          platform: { os: "linux", architecture: ["amd64", "arm64"][i] },
        })),
      }),
    );
    return { index: up.manifest(repo, tag, body, "application/vnd.oci.image.index.v1+json"), children };
  }

  it("an index is copied with every child manifest and all their blobs", async () => {
    const img = index("team/multi", "v1");
    make([{ prefix: "team/*" }]);
    const report = await runSync();
    expect(report.result).toMatchObject({ copied: 1, manifestsCopied: 3, blobsCopied: 3 }); // one config is shared
    expect(await localTag("mirror/team/multi", "v1")).toBe(img.index);
    for (const c of img.children) {
      expect(await r.storage.manifests.exists("mirror/team/multi", { algorithm: "sha256", hex: c.manifest.slice(7) })).toBe(true);
      expect(sameBytes(r.blobData(c.layer), up.blobs.get(c.layer)!)).toBe(true);
    }
    // Pulled through the router (onDemand would not be asked: everything is local).
    up.down = true;
    await expectStatus(await r.call("GET", `/v2/mirror/team/multi/manifests/${img.children[1]!.manifest}`), 200);
    expect((await r.call("GET", `/v2/mirror/team/multi/blobs/${img.children[1]!.layer}`)).status).toBe(307);
  });

  it("a step re-run from its saved state (the object died after doing its work) ends the same", async () => {
    index("team/multi", "v1");
    up.image("team/app", "v1");
    up.image("team/app", "v2");
    make([{ prefix: "team/*" }]);
    let state = sync.start({ upstream: "up" }, r.jobEnv);
    for (let i = 0; i < 50; i++) {
      await sync.step(state, r.jobEnv); // its work is done, its checkpoint lost
      const next = await sync.step(state, r.jobEnv);
      state = next.state;
      if (next.wakeAt) r.clock.t = next.wakeAt;
      if (next.done) break;
    }
    const s: SyncState = state;
    expect(s.phase).toBe("done");
    // A re-run finds what the lost step stored: those tags count as unchanged, nothing fails or is left out.
    expect(s.counts).toMatchObject({ repositories: 2, failed: 0 });
    expect(s.counts.copied + s.counts.skipped).toBe(3);
    expect((await r.storage.tags.list("mirror/team/app")).sort()).toEqual(["v1", "v2"]);
    expect(await r.storage.tags.list("mirror/team/multi")).toEqual(["v1"]);
    for (const [key, bytes] of up.blobs) {
      if (key.length > 0) expect(sameBytes(r.blobData(key), bytes)).toBe(true);
    }
  });
});

describe("onDemand: false", () => {
  it("only sync fills the cache: a tag it did not copy is unknown, one it copied is served with its blobs", async () => {
    const v1 = up.image("team/app", "v1");
    up.image("team/app", "dev");
    make([{ prefix: "team/*", tags: { regex: "^v" } }], { onDemand: false });
    await expectError(await r.call("GET", "/v2/mirror/team/app/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    await runSync();
    await expectStatus(await r.call("GET", "/v2/mirror/team/app/manifests/v1"), 200);
    expect((await r.call("GET", `/v2/mirror/team/app/blobs/${v1.layer}`)).status).toBe(307);
    await expectError(await r.call("GET", "/v2/mirror/team/app/manifests/dev"), 404, "MANIFEST_UNKNOWN");
  });
});

describe("the schedule", () => {
  const report = (startedAt: number, state: JobReport["state"] = "done"): JobReport =>
    ({ id: "x", kind: "sync", state, startedAt: new Date(startedAt).toISOString(), updatedAt: "", finishedAt: null, steps: 1, result: {}, error: null });

  it("an upstream is due when its pollInterval passed since its last run started (with the slack), never while it runs", async () => {
    make([{ prefix: "team/*" }]);
    const ups = r.cfg.mirror.upstreams;
    const hour = 3600_000;
    const t = 10 * hour;
    expect(await syncsDue(ups, async () => null, t)).toEqual({ due: ["up"], nextAt: null });
    expect(await syncsDue(ups, async () => report(t - 30 * 60_000), t)).toEqual({ due: [], nextAt: t + 30 * 60_000 });
    expect((await syncsDue(ups, async () => report(t - hour + 60_000), t)).due).toEqual(["up"]); // within the slack
    expect((await syncsDue(ups, async () => report(t - 2 * hour, "running"), t)).due).toEqual([]);
  });
});

describe("the admin API: /v2/_berth/ext/sync", () => {
  it("POST starts a run (202), again while it runs answers it (200); GET shows every upstream's report", async () => {
    up.image("team/app", "v1");
    make([{ prefix: "team/*" }]);
    const idle = await json(await expectStatus(await r.call("GET", "/v2/_berth/ext/sync"), 200));
    expect(idle).toEqual({ upstreams: [{ kind: "sync", state: "idle", result: { upstream: "up" } }] });
    const started = await json(await expectStatus(await r.call("POST", "/v2/_berth/ext/sync?upstream=up"), 202));
    expect(started).toMatchObject({ kind: "sync", state: "running", result: { upstream: "up", phase: "catalog" } });
    const same = await json(await expectStatus(await r.call("POST", "/v2/_berth/ext/sync"), 200));
    expect(same.upstreams[0]!.id).toBe(started.id);
    await r.runJobs(100);
    const done = await json(await expectStatus(await r.call("GET", "/v2/_berth/ext/sync?upstream=up"), 200));
    expect(done).toMatchObject({ id: started.id, state: "done", result: { copied: 1, failures: [] } });
  });

  it("refuses unknown upstreams, upstreams without sync, unknown parameters, and callers who are not admins", async () => {
    make([{ prefix: "team/*" }]);
    expect((await expectError(await r.call("POST", "/v2/_berth/ext/sync?upstream=nope"), 404, "UNSUPPORTED")).message).toMatch(/no upstream named "nope"; known: up, plain/);
    expect((await expectError(await r.call("GET", "/v2/_berth/ext/sync?upstream=plain"), 400, "UNSUPPORTED")).message).toMatch(/plain has no periodic sync/);
    await expectError(await r.call("POST", "/v2/_berth/ext/sync?dryRun=true"), 400, "UNSUPPORTED");
    await expectError(await r.call("DELETE", "/v2/_berth/ext/sync"), 405, "UNSUPPORTED");
    r.access.deny("admin");
    await expectError(await r.call("GET", "/v2/_berth/ext/sync"), 403, "DENIED");
    expect(await r.jobRunner.status("sync", "up")).toBeNull();
  });
});
