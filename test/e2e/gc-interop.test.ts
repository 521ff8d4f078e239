// The two garbage collectors on one bucket: Berth (wrangler dev) and CNCF Distribution 2.8 (docker-registry)
// share a bucket and rootdirectory and both write to it: images through each, layers shared between
// repositories and between the writers (uploaded again, mounted across), an index through each (one child in
// both), referrers, a moved tag, untagged pushes, blobs never used, and manifests deleted through each
// registry, the other's included. The test's own model (helpers/gc-world.ts) derives the garbage. Per
// scenario (untagged manifests kept; BERTH_GC_DELETE_UNTAGGED=true):
//  1. before any collection, Berth's dry run and Distribution's `garbage-collect --dry-run` name the same blobs,
//     the model's garbage (with delete-untagged: Distribution 2.8 also takes a kept index's children and
//     referrers, and exactly what only they reference, its known gaps; Berth keeps them);
//  2. Berth's real run deletes exactly that; every manifest left in the bucket, whoever wrote it, has what it
//     references there, hashing right; no layer link names a deleted blob;
//  3. every kept manifest, by tag and by digest, pulls byte-identical through Berth and through Distribution;
//  4. afterwards Distribution's dry run finds nothing more to delete (with --delete-untagged: only those gaps).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { parseGarbageCollect, startDistribution, type Distribution, type GarbageCollectOutput } from "./harness/distribution.js";
import { getObject, listKeys } from "./harness/s3.js";
import { collectGarbage, type GcReport } from "./helpers/gc.js";
import { World, type Keep, type Writer } from "./helpers/gc-world.js";
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, randomBlob } from "./helpers/manifests.js";
import { digestOf, getFollowing, rand } from "./helpers/registry.js";

const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
/** S3's LastModified may be whole seconds: a blob must be older than this before a run with delay 0 sees it as old. */
const SETTLE_MS = 2_000;

interface Expected {
  garbage: string[];
  /** "repo@digest", sorted. */
  removed: string[];
}

interface Scenario {
  root: string;
  deleteUntagged: boolean;
  berth: Berth;
  dist: Distribution;
  B: Writer;
  D: Writer;
  world: World;
  /** Repositories and manifests the scenario's assertions name. */
  fixtures: Awaited<ReturnType<typeof populate>>;
  /** Taken before any real run: both dry runs, and the model's garbage and untagged manifests under each definition. */
  before: { berthDry: GcReport; dist: GarbageCollectOutput; distOut: string; ours: Expected; theirs: Expected };
  real?: Promise<GcReport>;
}

/**
 * The writes, the same in both scenarios; fresh random blobs each time. Repositories that do not depend on
 * each other are written at once (a small push through Distribution on Swift takes a second or more).
 */
async function populate(world: World, B: Writer, D: Writer) {
  const common = randomBlob(3000); // in most repositories, uploaded through both registries
  const shared = randomBlob(2000); // Berth's, mounted into a repository of Distribution's
  const distShared = randomBlob(2500); // Distribution's, mounted into a repository of Berth's

  const [bApp, bGone, dLib, dMulti, childC] = await Promise.all([
    (async () => {
      const v1 = await world.image(B, "gci/b-app", "v1", [common, randomBlob(1000)]);
      const v2 = await world.image(B, "gci/b-app", "v2", [common, shared]);
      await world.image(B, "gci/b-app", "v3", [randomBlob(1100)]); // moved below: this revision stays, untagged
      const v3 = await world.image(B, "gci/b-app", "v3", [common]);
      await world.image(B, "gci/b-app", "@", [randomBlob(300)], { subject: v3.manifest }); // a referrer of v3
      await world.upload(B, "gci/b-app", randomBlob(700)); // never referenced
      return { v1, v2 };
    })(),
    (async () => {
      await world.image(B, "gci/b-gone", "keep", [common]);
      return world.image(B, "gci/b-gone", "v1", [common, randomBlob(1200)]);
    })(),
    (async () => {
      await world.image(D, "gci/d-lib", "v2", [common]);
      return world.image(D, "gci/d-lib", "v1", [distShared]);
    })(),
    (async () => {
      const [childA, childB, childE] = await Promise.all([
        world.image(D, "gci/d-multi", "@", [common, randomBlob(600)]),
        world.image(D, "gci/d-multi", "@", [randomBlob(650)]),
        world.image(D, "gci/d-multi", "@", [randomBlob(500)]),
      ]);
      await world.index(D, "gci/d-multi", "multi", [childA.manifest, childB.manifest]);
      const oldIndex = await world.index(D, "gci/d-multi", "old", [childE.manifest]);
      return { childA, childB, oldIndex };
    })(),
    world.image(B, "gci/b-multi", "@", [common, randomBlob(700)]),
  ]);
  const { childA, childB, oldIndex } = dMulti;

  const [dApp] = await Promise.all([
    (async () => {
      await world.mount(D, "gci/d-app", shared.digest, "gci/b-app");
      const v1 = await world.image(D, "gci/d-app", "v1", [common, shared], { present: [shared] });
      const v2 = await world.image(D, "gci/d-app", "v2", [common, randomBlob(1300)]);
      await world.image(D, "gci/d-app", "@", [randomBlob(900)]); // pushed by digest: never tagged
      await world.image(D, "gci/d-app", "@", [randomBlob(400)], { subject: v1.manifest }); // a referrer of v1
      await world.upload(D, "gci/d-app", randomBlob(800)); // never referenced
      return { v1, v2 };
    })(),
    (async () => {
      await world.mount(B, "gci/b-over-d", distShared.digest, "gci/d-lib");
      await world.image(B, "gci/b-over-d", "v1", [distShared, common], { present: [distShared] });
    })(),
    (async () => {
      // Distribution's child A, the same bytes, in Berth's index too: its blobs mounted from Distribution's repository.
      for (const b of [childA.config, ...childA.layers]) await world.mount(B, "gci/b-multi", b.digest, "gci/d-multi");
      await world.put(B, "gci/b-multi", "@", childA.manifest, world.docs.get(childA.manifest.digest)!);
      await world.index(B, "gci/b-multi", "multi", [childC.manifest, childA.manifest]);
    })(),
  ]);

  // Each registry deletes a manifest of its own and one the other wrote.
  await Promise.all([
    (async () => {
      await world.deleteManifest(B, "gci/b-app", bApp.v1.manifest.digest);
      await world.deleteManifest(B, "gci/b-app", bApp.v2.manifest.digest); // `shared` stays: Distribution's d-app:v1 uses it
    })(),
    world.deleteManifest(B, "gci/d-app", dApp.v2.manifest.digest),
    world.deleteManifest(B, "gci/d-multi", oldIndex.digest), // its child stays, untagged
    world.deleteManifest(D, "gci/b-gone", bGone.manifest.digest),
    world.deleteManifest(D, "gci/d-lib", dLib.manifest.digest), // `distShared` stays: Berth's b-over-d uses it
  ]);
  return { shared, distShared, dV1: dApp.v1, childA, childB };
}

async function distGc(dist: Distribution, args: string[]): Promise<{ out: string; gc: GarbageCollectOutput }> {
  const r = await dist.garbageCollect(args);
  const out = `${r.stdout}\n${r.stderr}`;
  if (r.code !== 0 || /level=(error|fatal|panic)|panic:|failed to/i.test(out)) {
    throw new Error(`garbage-collect ${args.join(" ")}: exit ${r.code}\n${out.slice(-4000)}`);
  }
  const gc = parseGarbageCollect(out);
  if (!gc.summary || gc.summary.blobs !== gc.eligibleBlobs.size || gc.summary.manifests !== gc.eligibleManifests.length) {
    throw new Error(`garbage-collect ${args.join(" ")}: summary does not match its lines\n${out.slice(-4000)}`);
  }
  return { out, gc };
}

const sorted = (xs: Iterable<string>) => [...xs].sort();
const prefix = (s: Scenario) => `${s.root}/docker/registry/v2/`;
const dataKey = (s: Scenario, d: string) => `${prefix(s)}blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}/data`;

async function setUp(deleteUntagged: boolean): Promise<Scenario> {
  const root = `t-gci-${rand()}`;
  const vars: Record<string, string> = { REGISTRY_STORAGE_S3_ROOTDIRECTORY: root, BERTH_GC_DELAY: "0", BERTH_GC_FENCE_LEASE: "1s" };
  if (deleteUntagged) vars.BERTH_GC_DELETE_UNTAGGED = "true";
  const [berth, dist] = await Promise.all([startBerth(vars), startDistribution({ rootdirectory: root })]);
  const B = { name: "Berth", url: berth.url };
  const D = { name: "Distribution", url: dist.url };
  const world = new World();
  const fixtures = await populate(world, B, D);
  const args = deleteUntagged ? ["--dry-run", "--delete-untagged"] : ["--dry-run"];
  const { out: distOut, gc } = await distGc(dist, args);
  await new Promise((r) => setTimeout(r, Math.max(0, world.lastWrite + SETTLE_MS - Date.now())));
  const berthDry = await collectGarbage(berth.url, "?dryRun=true", () => berth.logs());
  const expected = (k: Keep): Expected => ({ garbage: world.garbage(k), removed: deleteUntagged ? world.removed(k) : [] });
  const before = { berthDry, dist: gc, distOut, ours: expected(deleteUntagged ? "berth" : "all"), theirs: expected(deleteUntagged ? "distribution-2.8" : "all") };
  return { root, deleteUntagged, berth, dist, B, D, world, fixtures, before };
}

/** Berth's real run, once per scenario, whichever test asks first; the model then records what it removed. */
function realRun(s: Scenario): Promise<GcReport> {
  s.real ??= collectGarbage(s.berth.url, "", () => s.berth.logs()).then((r) => {
    s.world.collected(s.deleteUntagged ? "berth" : "all");
    return r;
  });
  return s.real;
}

const digestsOf = (removed: string[]) => sorted(removed.map((m) => m.slice(m.indexOf("@") + 1)));

/** Every revision link in the bucket, "repo@digest". */
async function bucketRevisions(s: Scenario): Promise<string[]> {
  const re = /^(.+)\/_manifests\/revisions\/sha256\/([0-9a-f]{64})\/link$/;
  return (await listKeys(`${prefix(s)}repositories/`))
    .map((k) => re.exec(k.slice(`${prefix(s)}repositories/`.length)))
    .flatMap((m) => (m ? [`${m[1]}@sha256:${m[2]}`] : []));
}

async function hashedObject(s: Scenario, digest: string): Promise<Uint8Array | null> {
  const bytes = await getObject(dataKey(s, digest));
  return bytes && digestOf(bytes) === digest ? bytes : null;
}

for (const deleteUntagged of [false, true]) {
  describe(deleteUntagged ? "with delete-untagged" : "untagged manifests kept", () => {
    let s: Scenario;

    // Two servers, ~90 writes through both registries on Swift, two dry runs: on a busy 2-core box, more
    // than the default hook timeout.
    beforeAll(async () => {
      s = await setUp(deleteUntagged);
    }, 300_000);
    afterAll(async () => {
      await Promise.all([s?.berth.stop(), s?.dist.stop()]);
    });

    it("before any run, Berth's dry run and Distribution's name the same garbage: the model's", async () => {
      const { berthDry, dist, distOut, ours, theirs } = s.before;
      // The model itself: 16 blobs of deleted manifests and never-used uploads, 9 more of untagged manifests.
      expect(ours.garbage.length).toBe(deleteUntagged ? 25 : 16);
      for (const b of [s.fixtures.shared, s.fixtures.distShared]) expect(ours.garbage).not.toContain(b.digest);
      expect(berthDry.result.dryRun).toBe(true);
      expect(sorted(berthDry.result.blobs), "Berth's dry run vs the model").toEqual(ours.garbage);
      expect(sorted(berthDry.result.manifestsRemovedList)).toEqual(ours.removed);
      expect(sorted(dist.eligibleBlobs), `Distribution's dry run vs the model\n${distOut.slice(-3000)}`).toEqual(theirs.garbage);
      expect(sorted(dist.eligibleManifests)).toEqual(digestsOf(theirs.removed));
      if (!deleteUntagged) {
        expect(sorted(dist.eligibleBlobs), "Distribution's garbage vs Berth's").toEqual(sorted(berthDry.result.blobs));
        return;
      }
      // With delete-untagged, 2.8 also removes the children of a kept index (distribution/distribution#3178) and
      // referrers (it predates OCI 1.1's subject), and what only they reference. Exactly that differs.
      expect(ours.garbage.filter((d) => !theirs.garbage.includes(d)), "garbage Berth sees and Distribution does not").toEqual([]);
      const extra = theirs.garbage.filter((d) => !ours.garbage.includes(d));
      const { childA, childB, dV1 } = s.fixtures;
      for (const b of [childA.config, childA.layers[1]!, childB.config, childB.layers[0]!]) expect(extra).toContain(b.digest);
      expect(extra).not.toContain(childA.manifest.digest); // its index marks its bytes, though its revisions would go
      expect(extra).not.toContain(dV1.manifest.digest);
      expect(extra.length).toBe(12); // 3 children's configs and own layers; 2 referrers' manifests, configs, layers
    });

    it("Berth's real run deletes exactly the garbage; every manifest left has what it references, hashing right", async () => {
      const { ours } = s.before;
      const dataKeys = async () => sorted((await listKeys(`${prefix(s)}blobs/`)).filter((k) => k.endsWith("/data")));
      expect(await dataKeys(), "the dry run deleted nothing").toEqual(sorted([...s.world.blobs.keys()].map((d) => dataKey(s, d))));
      const report = await realRun(s);
      expect(sorted(report.result.blobs)).toEqual(ours.garbage);
      expect(report.result.blobsSwept).toBe(ours.garbage.length);
      expect(sorted(report.result.manifestsRemovedList)).toEqual(ours.removed);

      expect(await dataKeys()).toEqual(sorted([...s.world.blobs.keys()].map((d) => dataKey(s, d))));
      const revisions = sorted(await bucketRevisions(s));
      expect(revisions).toEqual(sorted([...s.world.revisions].flatMap(([repo, ds]) => [...ds].map((d) => `${repo}@${d}`))));
      expect(revisions.filter((r) => s.world.writers.get(r) === "Distribution").length).toBeGreaterThanOrEqual(deleteUntagged ? 5 : 7);
      // From the bucket alone: each manifest's bytes, and what they name, are there and hash right.
      for (const r of revisions) {
        const bytes = await hashedObject(s, r.slice(r.indexOf("@") + 1));
        expect(bytes, `${r}: manifest bytes`).not.toBeNull();
        const doc = JSON.parse(new TextDecoder().decode(bytes!)) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
        const named = [doc.config, ...(doc.layers ?? []), ...(doc.manifests ?? [])].flatMap((x) => (x ? [x.digest] : []));
        expect(named.length, r).toBeGreaterThan(0);
        for (const d of named) expect(await hashedObject(s, d), `${r} names ${d}`).not.toBeNull();
      }
      // Berth removes the layer links of what it swept; every link left names a blob that is there.
      const links = (await listKeys(`${prefix(s)}repositories/`)).filter((k) => /\/_layers\/sha256\/[0-9a-f]{64}\/link$/.test(k));
      expect(links.length).toBeGreaterThan(10);
      for (const k of links) expect(await getObject(dataKey(s, `sha256:${/([0-9a-f]{64})\/link$/.exec(k)![1]}`)), k).not.toBeNull();
    });

    it("every kept manifest pulls byte-identical through Berth and through Distribution, by tag and by digest", async () => {
      await realRun(s);
      let pulled = 0;
      const pull = async (w: Writer, repo: string, ref: string, digest: string) => {
        const doc = s.world.docs.get(digest)!;
        const m = await getFollowing(w.url, `/v2/${repo}/manifests/${ref}`, ACCEPT);
        expect(m.status, `${w.name}: ${repo}:${ref}`).toBe(200);
        expect(Buffer.from(m.bytes).equals(Buffer.from(doc.manifest.bytes)), `${w.name}: ${repo}:${ref} bytes`).toBe(true);
        for (const d of doc.blobs) {
          const b = await getFollowing(w.url, `/v2/${repo}/blobs/${d}`);
          expect(b.status, `${w.name}: ${repo} blob ${d}`).toBe(200);
          expect(Buffer.from(b.bytes).equals(Buffer.from(s.world.blobs.get(d)!)), `${w.name}: ${repo} blob ${d} bytes`).toBe(true);
        }
        pulled++;
      };
      // One repository after another; within one, each reference through both registries at once.
      for (const [repo, digests] of s.world.revisions) {
        const refs = [...s.world.tagsOf(repo), ...[...digests].map((d) => [d, d] as const)];
        await Promise.all(refs.flatMap(([ref, digest]) => [s.B, s.D].map((w) => pull(w, repo, ref, digest))));
      }
      expect(pulled).toBeGreaterThan(20);
    });

    it("after Berth's run, Distribution's dry run finds nothing more to delete", async () => {
      await realRun(s);
      const plain = await distGc(s.dist, ["--dry-run"]);
      expect(sorted(plain.gc.eligibleBlobs), plain.out.slice(-3000)).toEqual([]);
      expect(plain.gc.summary!.marked).toBeGreaterThan(20);
      expect((await collectGarbage(s.berth.url, "?dryRun=true", () => s.berth.logs())).result.blobs, "Berth's own second look").toEqual([]);
      if (!deleteUntagged) return;
      // With --delete-untagged, 2.8 still wants exactly what it wanted beyond Berth before: the gaps above.
      const again = await distGc(s.dist, ["--dry-run", "--delete-untagged"]);
      const { ours, theirs } = s.before;
      expect(sorted(again.gc.eligibleBlobs)).toEqual(theirs.garbage.filter((d) => !ours.garbage.includes(d)));
      const stillUntagged = s.world.removed("distribution-2.8");
      expect(stillUntagged.length).toBe(6); // two referrers, Distribution's two index children, Berth's two
      expect(sorted(again.gc.eligibleManifests)).toEqual(digestsOf(stillUntagged));
    });
  });
}
