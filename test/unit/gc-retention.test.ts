// Retention policies applied by garbage-collection runs (src/jobs/gc/retain.ts) over the in-memory bucket:
// tags judged by push and pull times as the bucket records them, the dry runs (the run's and retention's
// own), the untagged manifests a policy removes after its delay, the tags that are never removed (immutable,
// or used by a push during the run), and the pull records that feed pulledWithin.
import { describe, expect, it } from "vitest";
import { PULL_RECORD_INTERVAL_MS, PullRecorder } from "../../src/registry/pulls";
import type { RequestInfo } from "../../src/registry/request";
import { sha256 } from "./support/content";
import { pushImage, putManifest, type PushedImage } from "./support/flows";
import { blobKey, collect, drive, start } from "./support/gc";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";

const HOUR = 3600_000;

function withRetention(policy: unknown, env: Record<string, string> = {}): TestRegistry {
  return registry({ env: { BERTH_GC_DELAY: "0", BERTH_RETENTION: JSON.stringify(policy), ...env } });
}

/** Pushes images tagged `tags` in `repo`, an hour apart (the tag links' times are their push times). */
async function pushTags(r: TestRegistry, repo: string, tags: string[], seed: number): Promise<Record<string, PushedImage>> {
  const out: Record<string, PushedImage> = {};
  for (const [i, t] of tags.entries()) {
    out[t] = await pushImage(r, repo, t, seed + i);
    r.clock.advance(HOUR);
  }
  return out;
}

function own(i: PushedImage): string[] {
  return [sha256(i.config), sha256(i.layer), i.manifest.digest].sort();
}

describe("retention policies in a collection", () => {
  const policy = {
    delay: "1h",
    policies: [{ repositories: ["ci/**"], keepTags: [{ patterns: ["^prod-"] }, { mostRecentlyPushedCount: 2 }] }],
  };

  it("removes the tags no rule keeps, then what only they kept; a dry run lists each tag with its rule and removes nothing", async () => {
    const r = withRetention(policy);
    const img = await pushTags(r, "ci/app", ["prod-1", "t1", "t2", "t3"], 10);
    const other = await pushTags(r, "other", ["old"], 20); // no policy matches: everything is kept
    r.clock.advance(2 * HOUR);

    const dry = await collect(r, { dryRun: "true" });
    expect(dry.result).toMatchObject({ retention: "simulate", tagsRemoved: 1 });
    expect(dry.result.tagsRemovedList).toEqual([
      { repository: "ci/app", tag: "t1", digest: img.t1!.manifest.digest, reason: expect.stringMatching(/^policies\[0\]\.keepTags\[1\]: .*not among the 2 most recently pushed/) },
    ]);
    // The report shows what removing t1 would free: its manifest (a policy deletes untagged ones) and blobs.
    expect(dry.result.manifestsRemovedList).toEqual([`ci/app@${img.t1!.manifest.digest}`]);
    expect([...(dry.result.blobs as string[])].sort()).toEqual(own(img.t1!));
    await expectStatus(await r.call("GET", "/v2/ci/app/manifests/t1"), 200);

    const real = await collect(r);
    expect(real.result).toMatchObject({ retention: "apply", tagsRemoved: 1, manifestsRemoved: 1, blobsSwept: 3 });
    expect((real.result.tagsRemovedList as { tag: string }[]).map((t) => t.tag)).toEqual(["t1"]);
    await expectError(await r.call("GET", "/v2/ci/app/manifests/t1"), 404, "MANIFEST_UNKNOWN");
    await expectError(await r.call("GET", `/v2/ci/app/manifests/${img.t1!.manifest.digest}`), 404, "MANIFEST_UNKNOWN");
    for (const d of own(img.t1!)) expect(r.keys()).not.toContain(blobKey(d));
    for (const t of ["prod-1", "t2", "t3"]) await expectStatus(await r.call("GET", `/v2/ci/app/manifests/${t}`), 200);
    await expectStatus(await r.call("GET", "/v2/other/manifests/old"), 200);
    for (const d of own(other.old!)) expect(r.keys()).toContain(blobKey(d));
  });

  it("retention's own dryRun lists the tags in a real run and keeps them and what they point at, even with delete-untagged", async () => {
    const r = withRetention({ ...policy, dryRun: true });
    const img = await pushTags(r, "ci/app", ["t1", "t2", "t3"], 30);
    const report = await collect(r, { deleteUntagged: "true" });
    expect(report.result).toMatchObject({ retention: "report", dryRun: false, tagsRemoved: 1, manifestsUntagged: 0, manifestsRemoved: 0, blobsSwept: 0 });
    expect((report.result.tagsRemovedList as { tag: string }[]).map((t) => t.tag)).toEqual(["t1"]);
    await expectStatus(await r.call("GET", "/v2/ci/app/manifests/t1"), 200);
    for (const d of own(img.t1!)) expect(r.keys()).toContain(blobKey(d));
  });

  it("a policy's deleteUntagged removes untagged manifests only past its delay; referrers stay without deleteReferrers", async () => {
    const r = withRetention({ delay: "24h", policies: [{ repositories: ["**"], keepTags: [{ patterns: [".*"] }] }] });
    const old = await pushImage(r, "r", null, 40);
    const subject = await pushImage(r, "r", null, 41);
    const sbom = await pushImage(r, "r", null, 42, { subject: subject.manifest, artifactType: "application/spdx+json" });
    r.clock.advance(48 * HOUR);
    const young = await pushImage(r, "r", null, 43);
    const tagged = await pushImage(r, "r", "v1", 44);
    const report = await collect(r);
    // subject is untagged and old: it goes; its referrer stays (deleteReferrers is false), and so does young.
    expect([...(report.result.manifestsRemovedList as string[])].sort()).toEqual([`r@${old.manifest.digest}`, `r@${subject.manifest.digest}`].sort());
    for (const m of [young, tagged, sbom]) await expectStatus(await r.call("GET", `/v2/r/manifests/${m.manifest.digest}`), 200);
  });

  it("never removes an immutable tag, nor a tag whose manifest a push used during the run", async () => {
    const r = withRetention(
      { policies: [{ repositories: ["**"], keepTags: [{ mostRecentlyPushedCount: 1 }] }] },
      { BERTH_IMMUTABLE_TAGS: JSON.stringify({ "**": ["^v"] }) },
    );
    const img = await pushTags(r, "app", ["v1", "a", "b", "c"], 50);
    await start(r);
    await drive(r, 50, (s) => s.result.phase === "retention");
    // Between the decision (a and b go) and the removal, a client pushes a again: its tag stays.
    await putManifest(r, "app", "a", img.a!.manifest);
    const report = await drive(r);
    expect((report.result.tagsRemovedList as { tag: string }[]).map((t) => t.tag)).toEqual(["b"]);
    for (const t of ["v1", "a", "c"]) await expectStatus(await r.call("GET", `/v2/app/manifests/${t}`), 200);
    await expectError(await r.call("GET", "/v2/app/manifests/b"), 404, "MANIFEST_UNKNOWN");
    for (const d of own(img.a!)) expect(r.keys()).toContain(blobKey(d));
  });
});

describe("pull records", () => {
  const GET = { method: "GET" } as RequestInfo;

  /** A recorder over the registry's bucket, as one isolate has it; returns a way to feed it pulls and settle. */
  function isolate(r: TestRegistry) {
    const recorder = new PullRecorder(r.storage.pulls, r.clock.now, () => {});
    return async (request: RequestInfo = GET) => {
      const work: Promise<unknown>[] = [];
      for (const e of r.reads.splice(0)) recorder.pulled(e, request, (w) => void work.push(w));
      await Promise.all(work);
    };
  }

  it("pulledWithin keeps the tags pulled in its window and removes the rest, with their pull records", async () => {
    const r = withRetention({ policies: [{ repositories: ["**"], keepTags: [{ pulledWithin: "24h" }] }] });
    const img = await pushTags(r, "app", ["pulled", "idle", "never"], 60);
    await expectStatus(await r.call("GET", "/v2/app/manifests/idle"), 200);
    await isolate(r)(); // idle's pull, long before the window
    r.clock.advance(48 * HOUR);
    await expectStatus(await r.call("GET", "/v2/app/manifests/pulled"), 200);
    await isolate(r)();
    expect(r.keys("repositories/app/_berth/pulls/")).toHaveLength(2);
    const report = await collect(r);
    expect(report.result.tagsRemovedList).toEqual([
      expect.objectContaining({ tag: "idle", reason: expect.stringContaining("not pulled within 24h") }),
      expect.objectContaining({ tag: "never", reason: expect.stringContaining("never pulled (pulledWithin 24h)") }),
    ]);
    await expectStatus(await r.call("GET", "/v2/app/manifests/pulled"), 200);
    // The removed manifests' pull records went with them.
    expect(r.keys("repositories/app/_berth/pulls/")).toEqual([`repositories/app/_berth/pulls/sha256/${img.pulled!.manifest.digest.slice(7)}`]);
  });

  it("are written at most once per manifest per interval, across isolates, and only for GETs", async () => {
    const r = registry();
    await pushImage(r, "app", "t", 70);
    const puts = () => r.driver.calls.put;
    const first = isolate(r);
    await expectStatus(await r.call("HEAD", "/v2/app/manifests/t"), 200);
    await first({ method: "HEAD" } as RequestInfo);
    expect(r.keys("repositories/app/_berth/pulls/")).toEqual([]);

    let before = puts();
    for (let i = 0; i < 3; i++) await expectStatus(await r.call("GET", "/v2/app/manifests/t"), 200);
    await first();
    expect(puts() - before).toBe(1);
    expect(r.keys("repositories/app/_berth/pulls/")).toHaveLength(1);

    // Another isolate sees the fresh record and writes nothing; after the interval, one write again.
    const second = isolate(r);
    r.clock.advance(PULL_RECORD_INTERVAL_MS / 2);
    before = puts();
    await expectStatus(await r.call("GET", "/v2/app/manifests/t"), 200);
    await second();
    expect(puts() - before).toBe(0);
    r.clock.advance(PULL_RECORD_INTERVAL_MS);
    await expectStatus(await r.call("GET", "/v2/app/manifests/t"), 200);
    await second();
    expect(puts() - before).toBe(1);
  });
});
