// Online garbage collection (src/jobs/gc) over the in-memory bucket, driven through the job runner as the
// coordinator drives it, with the fence wired as in the Worker: what a run marks and sweeps (shared layers,
// the delay, dry runs, delete-untagged with indexes and referrers), Distribution's upload leftovers, the
// admin API, and the race the fence closes (a blob seen during a run is never swept under a manifest).
import { describe, expect, it } from "vitest";
import { COOLDOWN_MS } from "../../src/jobs/gc/fence";
import { GcLedger } from "../../src/jobs/gc/ledger";
import { descriptor, imageIndex, imageManifest, pattern, sha256, sha512, type Built } from "./support/content";
import { pushBlob, pushImage, putManifest, type PushedImage } from "./support/flows";
import { blobKey, collect, drive, start } from "./support/gc";
import { expectError, expectStatus, registry, ROOT, type TestRegistry } from "./support/registry";
import { memorySql } from "./support/sqlite";

const HOUR = 3600_000;
const BASE = `${ROOT}/docker/registry/v2/`;

/** An image in `repo` whose layers are `shared` plus one of its own. */
async function pushSharing(r: TestRegistry, repo: string, tag: string, shared: Uint8Array[], seed: number): Promise<{ manifest: Built; own: string[] }> {
  const config = new TextEncoder().encode(JSON.stringify({ os: "linux", seed }));
  const layer = pattern(2000 + seed, seed);
  for (const b of [config, layer, ...shared]) await pushBlob(r, repo, b);
  const manifest = imageManifest({ config: descriptor(config, "application/vnd.oci.image.config.v1+json"), layers: [...shared, layer].map((b) => descriptor(b)) });
  await putManifest(r, repo, tag, manifest);
  return { manifest, own: [sha256(config), sha256(layer), manifest.digest] };
}

describe("garbage collection", () => {
  it("sweeps exactly what no manifest references: a dry run lists it, a real run deletes it, the rest pulls", async () => {
    const r = registry();
    const a: PushedImage = await pushImage(r, "team/app", "a", 1);
    const b = await pushSharing(r, "team/app", "b", [a.layer], 2);
    const other = await pushSharing(r, "other", "latest", [a.config], 3);
    await expectStatus(await r.call("DELETE", `/v2/team/app/manifests/${a.manifest.digest}`), 202);
    r.clock.advance(2 * HOUR);

    const dry = await collect(r, { dryRun: "true" });
    // a's layer is still in b, a's config in `other`: only a's manifest bytes are unreferenced.
    expect(dry.result.blobs).toEqual([a.manifest.digest]);
    expect(dry.result).toMatchObject({ dryRun: true, blobsSwept: 1, repositories: 2, manifests: 2 });
    expect(r.keys()).toContain(blobKey(a.manifest.digest));

    await expectStatus(await r.call("DELETE", `/v2/other/manifests/${other.manifest.digest}`), 202);
    r.clock.advance(2 * HOUR);
    const real = await collect(r, { perStep: "3" });
    // With `other` gone too, nothing references a's config any more.
    const gone = [a.manifest.digest, sha256(a.config), ...other.own].sort();
    expect([...(real.result.blobs as string[])].sort()).toEqual(gone);
    expect(real.result).toMatchObject({ dryRun: false, blobsSwept: 5, manifestsRemoved: 0 });
    expect(real.steps).toBeGreaterThan(5); // a few objects per step: the checkpoints carried it
    for (const d of gone) expect(r.keys()).not.toContain(blobKey(d));
    // The layer links of the swept blobs went with them.
    expect(r.keys("repositories/other/_layers/")).toEqual([]);
    expect(r.keys("repositories/team/app/_layers/")).toHaveLength(3); // b's config and layer, and a's layer
    // b still pulls whole.
    await expectStatus(await r.call("GET", "/v2/team/app/manifests/b"), 200);
    for (const d of [sha256(a.layer), ...b.own.slice(0, 2)]) await expectStatus(await r.call("HEAD", `/v2/team/app/blobs/${d}`), 200);
  });

  it("keeps blobs younger than the delay, and sweeps them once they are older", async () => {
    const r = registry();
    const stray = await pushBlob(r, "r", pattern(500, 9));
    r.clock.advance(30 * 60_000);
    expect((await collect(r)).result.blobs).toEqual([]);
    r.clock.advance(HOUR);
    expect((await collect(r)).result.blobs).toEqual([stray]);
    await expectError(await r.call("HEAD", `/v2/r/blobs/${stray}`), 404, "BLOB_UNKNOWN");
  });

  it("delete-untagged removes manifests no tag reaches, but keeps a tagged index's children and a kept subject's referrers", async () => {
    const r = registry();
    const c1 = await pushImage(r, "multi", null, 11);
    const c2 = await pushImage(r, "multi", null, 12);
    const index = imageIndex([c1.manifest, c2.manifest]);
    await putManifest(r, "multi", "v1", index);
    const sbom = await pushImage(r, "multi", null, 13, { subject: index, artifactType: "application/spdx+json" });
    const loose = await pushImage(r, "multi", null, 14);
    r.clock.advance(2 * HOUR);

    const dry = await collect(r, { dryRun: "true", deleteUntagged: "true" });
    expect(dry.result.manifestsRemovedList).toEqual([`multi@${loose.manifest.digest}`]);
    expect(r.keys()).toContain(`repositories/multi/_manifests/revisions/sha256/${loose.manifest.digest.slice(7)}/link`);

    const real = await collect(r, { deleteUntagged: "true" });
    expect(real.result).toMatchObject({ manifestsRemoved: 1, blobsSwept: 3 });
    expect([...(real.result.blobs as string[])].sort()).toEqual([sha256(loose.config), sha256(loose.layer), loose.manifest.digest].sort());
    await expectError(await r.call("GET", `/v2/multi/manifests/${loose.manifest.digest}`), 404, "MANIFEST_UNKNOWN");
    for (const m of [c1, c2, sbom]) await expectStatus(await r.call("GET", `/v2/multi/manifests/${m.manifest.digest}`), 200);
    const referrers = (await (await r.call("GET", `/v2/multi/referrers/${index.digest}`)).json()) as { manifests: { digest: string }[] };
    expect(referrers.manifests.map((d) => d.digest)).toEqual([sbom.manifest.digest]);
  });

  it("walks blobs/sha512/ as blobs/sha256/: what a sha512 manifest references stays, an unreferenced sha512 blob goes with its links", async () => {
    const r = registry();
    const config = new TextEncoder().encode(JSON.stringify({ os: "linux", seed: 21 }));
    const layer = pattern(1500, 21);
    const stray = pattern(700, 22);
    const dConfig = await pushBlob(r, "r", config, "sha512");
    const dLayer = await pushBlob(r, "r", layer, "sha512");
    const dStray = await pushBlob(r, "r", stray, "sha512");
    const manifest = imageManifest({
      config: { ...descriptor(config, "application/vnd.oci.image.config.v1+json"), digest: dConfig },
      layers: [{ ...descriptor(layer), digest: dLayer }],
    });
    const dManifest = sha512(manifest.bytes);
    await putManifest(r, "r", dManifest, manifest);
    r.clock.advance(2 * HOUR);

    const report = await collect(r);
    expect(report.result).toMatchObject({ blobsWalked: 4, blobsMarked: 3, blobsSwept: 1 });
    expect(report.result.blobs).toEqual([dStray]);
    expect(r.keys("blobs/sha512/").sort()).toEqual([dConfig, dLayer, dManifest].map(blobKey).sort());
    expect(r.keys("repositories/r/_layers/sha512/")).toHaveLength(2);
    await expectError(await r.call("HEAD", `/v2/r/blobs/${dStray}`), 404, "BLOB_UNKNOWN");
    await expectStatus(await r.call("GET", `/v2/r/manifests/${dManifest}`), 200);
    for (const d of [dConfig, dLayer]) await expectStatus(await r.call("HEAD", `/v2/r/blobs/${d}`), 200);
  });

  it("removes Distribution's upload leftovers and multipart uploads begun longer ago than the purge age", async () => {
    const r = registry();
    await pushImage(r, "r", "t", 1);
    r.driver.seed(`${BASE}repositories/r/_uploads/0b1c/startedat`, "2025-01-01T00:00:00Z");
    const abandoned = await r.driver.createMultipart(`${BASE}blobs/sha256/aa/${"a".repeat(64)}/data`);
    await r.driver.createMultipart(`${BASE}repositories/r/_uploads/0b1c/data`);
    await r.driver.createMultipart("outside/the/registry"); // another program's, under no registry key
    r.clock.advance(200 * HOUR);
    r.driver.seed(`${BASE}repositories/r/_uploads/fresh/startedat`, "now");
    const fresh = await r.driver.createMultipart(`${BASE}blobs/sha256/bb/${"b".repeat(64)}/data`);

    const dry = await collect(r, { dryRun: "true" });
    expect(dry.result).toMatchObject({ uploadsRemoved: 1, multipartAborted: 2 });
    expect(r.driver.openUploads()).toHaveLength(4);

    const report = await collect(r);
    expect(report.result).toMatchObject({ uploadsRemoved: 1, multipartAborted: 2 });
    expect(r.keys("repositories/r/_uploads/")).toEqual(["repositories/r/_uploads/fresh/startedat"]);
    const open = r.driver.openUploads().map((u) => u.uploadId);
    expect(open).toContain(fresh);
    expect(open).not.toContain(abandoned);
    expect(open).toHaveLength(2);
  });

  it("closes the race: a blob a client saw (HEAD 200) during the run is never swept, and its manifest lands whole", async () => {
    const r = registry({ env: { BERTH_GC_DELAY: "0" } });
    const old = await pushImage(r, "r", "t", 1);
    await expectStatus(await r.call("DELETE", "/v2/r/manifests/t"), 202);
    await expectStatus(await r.call("DELETE", `/v2/r/manifests/${old.manifest.digest}`), 202);
    r.clock.advance(HOUR);
    await start(r);
    // Step the run until it has marked; the old layer and config are unreferenced now.
    await drive(r, 20, (s) => s.result.phase === "sweep");
    expect((await r.jobRunner.status("gc"))?.result.phase).toBe("sweep");
    // A client checks the blobs during the run, skips uploading them, and pushes a manifest naming them.
    for (const b of [old.config, old.layer]) await expectStatus(await r.call("HEAD", `/v2/r/blobs/${sha256(b)}`), 200);
    await putManifest(r, "r", "again", old.manifest);
    const report = await drive(r);
    expect(report.result.blobs).toEqual([]);
    await expectStatus(await r.call("GET", "/v2/r/manifests/again"), 200);
    for (const b of [old.config, old.layer]) expect(r.keys()).toContain(blobKey(sha256(b)));
  });

  it("a manifest PUT checked during one run and linked only after the next one swept gets MANIFEST_BLOB_UNKNOWN, never a link over a deleted blob", async () => {
    const r = registry({ env: { BERTH_GC_DELAY: "0" } });
    const old = await pushImage(r, "r", "t", 1);
    await expectStatus(await r.call("DELETE", `/v2/r/manifests/${old.manifest.digest}`), 202);
    r.clock.advance(HOUR);
    const started = await r.jobRunner.start("gc", {});
    if ("error" in started) throw new Error(started.error);
    // The PUT checks its blobs during this run, then waits in the repository's queue of writes (here: held).
    const writer = r.writer("r");
    const link = writer.linkManifest.bind(writer);
    let release!: () => void;
    const held = new Promise<void>((go) => (release = go));
    let reached!: () => void;
    const waiting = new Promise<void>((go) => (reached = go));
    writer.linkManifest = async (repo, l) => {
      reached();
      await held;
      return link(repo, l);
    };
    const put = r.call("PUT", "/v2/r/manifests/again", { body: old.manifest.bytes, headers: { "Content-Type": old.manifest.mediaType } });
    await waiting;
    expect((await drive(r)).result.blobs).toEqual([]); // this run: vouched for, kept
    // The next run starts from an empty ledger, waits out the grace, and finds the old blobs unreferenced.
    const next = await collect(r);
    expect(next.result.blobs).toContain(sha256(old.layer));
    release();
    await expectError(await put, 400, "MANIFEST_BLOB_UNKNOWN");
  });

  it("a run marks only once every lease has ended and every writer answered during the last run has finished", async () => {
    const r = registry({ env: { BERTH_GC_DELAY: "0" } });
    await pushBlob(r, "r", pattern(10, 1)); // vouched while idle: a lease
    const leased = r.clock.t + r.cfg.gc.fenceLeaseMs;
    expect(await r.fence.markNotBefore()).toBe(leased + r.fence.graceMs());
    r.clock.advance(HOUR);
    await collect(r); // sweeps the blob: a cooldown follows
    // A manifest PUT vouches during the cooldown and goes on to link without asking again: the next run
    // (whose ledger starts empty) must not mark before that request has had its grace to finish.
    r.clock.advance(1000);
    expect(await r.fence.vouch("r", [sha256("x")])).toEqual({ active: true, idleUntil: 0 });
    expect(await r.fence.markNotBefore()).toBeGreaterThanOrEqual(r.clock.t + r.fence.graceMs());
  });

  it("a dry run right after a deleting run does not end the cooldown: writers still ask until it is over", async () => {
    const r = registry({ env: { BERTH_GC_DELAY: "0" } });
    const gone = await pushImage(r, "r", "t", 1);
    await expectStatus(await r.call("DELETE", `/v2/r/manifests/${gone.manifest.digest}`), 202);
    r.clock.advance(HOUR);
    expect((await collect(r)).result.blobsSwept).toBeGreaterThan(0);
    r.clock.advance(1000);
    await collect(r, { dryRun: true });
    // Isolates may still hold "exists" for what the real run deleted: an answer without a run on must not be a lease.
    r.clock.advance(1000);
    expect(await r.fence.vouch("r", [sha256("x")])).toEqual({ active: true, idleUntil: 0 });
    r.clock.advance(COOLDOWN_MS);
    expect((await r.fence.vouch("r", [sha256("x")])).active).toBe(false);
  });

  it("a mark step run again after a crash does not undo a rescue: a vouched manifest stays kept", () => {
    const ledger = new GcLedger(memorySql());
    const d = sha256("manifest");
    ledger.saveRefs(d, { blobs: [sha256("layer")], children: [], subject: null, lenient: false });
    ledger.addDoomed("r", d, null);
    expect(ledger.rescue("r", d)).toBe(1);
    ledger.addDoomed("r", d, null); // the repository finished once more from the last checkpoint
    expect(ledger.isDoomed("r", d)).toBe(false);
    expect(ledger.doomedAfter(null, 10)).toEqual([]);
    expect(ledger.isMarked(sha256("layer"))).toBe(true);
  });

  it("admin API: POST starts a run (202, a dry run with ?dryRun=true), GET shows its report; others are refused", async () => {
    const r = registry();
    await pushBlob(r, "r", pattern(10, 1));
    r.clock.advance(2 * HOUR);
    const res = await expectStatus(await r.call("POST", "/v2/_berth/ext/gc?dryRun=true"), 202);
    expect(await res.json()).toMatchObject({ kind: "gc", state: "running" });
    await drive(r);
    const report = await (await expectStatus(await r.call("GET", "/v2/_berth/ext/gc"), 200)).json();
    expect(report).toMatchObject({ kind: "gc", state: "done", result: { dryRun: true, blobsSwept: 1 } });
    await expectError(await r.call("POST", "/v2/_berth/ext/gc?dryRun=perhaps"), 400, "UNSUPPORTED");
    r.access.deny("admin");
    await expectError(await r.call("GET", "/v2/_berth/ext/gc"), 403, "DENIED");
    await expectError(await r.call("POST", "/v2/_berth/ext/gc"), 403, "DENIED");
  });
});
