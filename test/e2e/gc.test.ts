// Online garbage collection end to end: wrangler dev + Swift, the coordinator Durable Object running the `gc`
// job through the admin API. Images share layers; one is deleted; a dry run lists exactly its unshared blobs
// and deletes nothing; a real run removes exactly those keys from the bucket and every other image still pulls
// byte-identical; delete-untagged removes an untagged image; and pushes that reuse old unreferenced layers
// while runs follow each other (BERTH_GC_DELAY=0) leave every tag whole.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { listKeys } from "./harness/s3.js";
import { blobOf, imageManifest, putManifestOk, randomBlob, type Blob, type Manifest } from "./helpers/manifests.js";
import { collectGarbage, type GcReport } from "./helpers/gc.js";
import { errorCode, pushBlob, rand, req } from "./helpers/registry.js";

const ROOT = `t-gc-${rand()}`;
const BLOBS = `${ROOT}/docker/registry/v2/blobs/`;

let berth: Berth;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, BERTH_GC_DELAY: "0", BERTH_GC_FENCE_LEASE: "1s" });
});

afterAll(async () => {
  await berth?.stop();
});

/** Starts a run (waiting out one that is on) and returns its report once it is done. */
const collect = (query = ""): Promise<GcReport> => collectGarbage(berth.url, query, () => berth.logs());

async function blobKeys(): Promise<string[]> {
  return (await listKeys(BLOBS)).filter((k) => k.endsWith("/data"));
}

const keyOf = (digest: string) => `${BLOBS}sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;

async function pushImage(repo: string, tag: string, layers: Blob[]): Promise<{ manifest: Manifest; config: Blob }> {
  const config = blobOf(JSON.stringify({ os: "linux", architecture: "amd64", r: rand() }));
  for (const b of [config, ...layers]) await pushBlob(berth.url, repo, b);
  const manifest = imageManifest({ config, layers });
  await putManifestOk(berth.url, repo, tag, manifest);
  return { manifest, config };
}

/** Pulls the image by tag as a client does and checks every byte against its digest. */
async function pullsWhole(repo: string, tag: string): Promise<void> {
  const res = await req(berth.url, `/v2/${repo}/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
  expect(res.status, `${repo}:${tag}`).toBe(200);
  const doc = JSON.parse(await res.text()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [doc.config.digest, ...doc.layers.map((l) => l.digest)]) {
    const redirect = await req(berth.url, `/v2/${repo}/blobs/${d}`, { redirect: "manual" });
    expect(redirect.status, `${repo}:${tag} blob ${d}`).toBe(307);
    await redirect.body?.cancel();
    const blob = await fetch(redirect.headers.get("Location")!);
    expect(blob.status, `${repo}:${tag} blob ${d} from the bucket`).toBe(200);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(d);
  }
}

describe("garbage collection", () => {
  it("dry run lists exactly the unshared blobs of a deleted image; the real run deletes exactly those keys; the rest pulls", async () => {
    const shared = randomBlob(5000);
    const a = await pushImage("gc/app", "a", [shared, randomBlob(3000)]);
    const aLayer = JSON.parse(new TextDecoder().decode(a.manifest.bytes)).layers[1].digest as string;
    await pushImage("gc/app", "b", [shared, randomBlob(4000)]);
    await pushImage("gc/other", "latest", [shared]);
    const del = await req(berth.url, `/v2/gc/app/manifests/${a.manifest.digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    const unshared = [a.config.digest, aLayer, a.manifest.digest].sort();

    const before = await blobKeys();
    const dry = await collect("?dryRun=true");
    expect(dry.result.dryRun).toBe(true);
    expect([...dry.result.blobs].sort()).toEqual(unshared);
    expect(await blobKeys()).toEqual(before);

    const real = await collect();
    expect([...real.result.blobs].sort()).toEqual(unshared);
    const after = await blobKeys();
    expect(after.sort()).toEqual(before.filter((k) => !unshared.map(keyOf).includes(k)).sort());
    await pullsWhole("gc/app", "b");
    await pullsWhole("gc/other", "latest");
    // Nothing more to collect.
    expect((await collect("?dryRun=true")).result.blobs).toEqual([]);
  });

  it("delete-untagged removes a manifest no tag reaches, and its blobs", async () => {
    const kept = await pushImage("gc/untagged", "keep", [randomBlob(700)]);
    const loose = await pushImage("gc/untagged", "loose", [randomBlob(800)]);
    expect((await req(berth.url, "/v2/gc/untagged/manifests/loose", { method: "DELETE" })).status).toBe(202);
    const report = await collect("?deleteUntagged=true");
    expect(report.result.manifestsRemovedList).toEqual([`gc/untagged@${loose.manifest.digest}`]);
    expect(report.result.blobs, JSON.stringify(report.result)).toContain(loose.manifest.digest);
    expect(report.result.blobs).not.toContain(kept.config.digest);
    expect(await errorCode(await req(berth.url, `/v2/gc/untagged/manifests/${loose.manifest.digest}`))).toBe("MANIFEST_UNKNOWN");
    await pullsWhole("gc/untagged", "keep");
  });

  it("pushes reusing old unreferenced layers while runs follow each other: every tag stays whole", async () => {
    // Layers that were referenced once and no longer are: what a sweep takes unless the fence holds.
    const old = Array.from({ length: 6 }, () => randomBlob(2000));
    const gone = await pushImage("gc/race", "old", old);
    expect((await req(berth.url, `/v2/gc/race/manifests/${gone.manifest.digest}`, { method: "DELETE" })).status).toBe(202);

    let collecting = true;
    const runs = (async () => {
      let n = 0;
      while (collecting && n < 8) {
        await collect();
        n++;
      }
      return n;
    })();
    // A client's push: HEAD each blob, upload only the missing ones, PUT the manifest; on MANIFEST_BLOB_UNKNOWN
    // (a blob swept between HEAD and PUT) upload again and retry, as docker and skopeo do.
    const pushLikeAClient = async (i: number) => {
      const layers = [old[i % old.length]!, old[(i + 1) % old.length]!];
      const config = blobOf(JSON.stringify({ os: "linux", i, r: rand() }));
      const manifest = imageManifest({ config, layers });
      for (let attempt = 0; attempt < 5; attempt++) {
        for (const b of [config, ...layers]) {
          const head = await req(berth.url, `/v2/gc/race/blobs/${b.digest}`, { method: "HEAD" });
          if (head.status !== 200) await pushBlob(berth.url, "gc/race", b);
        }
        const res = await req(berth.url, `/v2/gc/race/manifests/t${i}`, {
          method: "PUT",
          headers: { "Content-Type": manifest.mediaType },
          body: manifest.bytes,
        });
        if (res.status === 201) return;
        expect(await errorCode(res)).toBe("MANIFEST_BLOB_UNKNOWN");
      }
      throw new Error(`push t${i} never landed`);
    };
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 4 }, (_, k) => pushLikeAClient(round * 4 + k)));
    }
    collecting = false;
    expect(await runs).toBeGreaterThan(0);
    await collect();
    for (let i = 0; i < 24; i++) await pullsWhole("gc/race", `t${i}`);
  });
});
