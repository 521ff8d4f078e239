// The data center's cache (the Workers Cache API, as wrangler dev's workerd provides it) under wrangler dev +
// Swift: once one isolate has read them, a new isolate (the Worker reloaded: nothing in its memory) answers a
// manifest GET by digest and a blob HEAD with one S3 request each (the repository's link), where it needed two;
// with BERTH_EDGE_CACHE=false they need two again. Counted with Berth's own /metrics (berth_s3_requests_total).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { OCI_MANIFEST, pushImageBlobs, putManifestOk, rand, req } from "./helpers/manifests.js";

const TOKEN = `metrics-${rand(24)}`;
let on: Berth;
let off: Berth;

beforeAll(async () => {
  [on, off] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-edge-${rand()}`, BERTH_METRICS_TOKEN: TOKEN }),
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-edge-off-${rand()}`, BERTH_METRICS_TOKEN: TOKEN, BERTH_EDGE_CACHE: "false" }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([on?.stop(), off?.stop()]);
});

/** Every S3 request the registry made so far (all operations). */
async function s3Requests(b: Berth): Promise<number> {
  const text = await (await req(b.url, "/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("berth_s3_requests_total"))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/** S3 requests of one manifest GET by digest and one blob HEAD, in a new isolate. */
async function pullCost(b: Berth): Promise<{ manifest: number; blob: number }> {
  const repo = `edge/${rand()}`;
  const { config, layers, manifest } = await pushImageBlobs(b.url, repo);
  await putManifestOk(b.url, repo, manifest.digest, manifest);
  const get = () => req(b.url, `/v2/${repo}/manifests/${manifest.digest}`, { headers: { Accept: OCI_MANIFEST } }).then(async (r) => (await r.arrayBuffer(), r.status));
  const head = () => req(b.url, `/v2/${repo}/blobs/${layers[0]!.digest}`, { method: "HEAD" }).then((r) => r.status);
  expect(config.size).toBeGreaterThan(0);
  // The pushing isolate remembers what it wrote; the first new isolate to be asked reads the bucket and fills
  // the data center's cache; the next new one finds it there.
  await b.reload();
  expect([await get(), await head()]).toEqual([200, 200]);
  await b.reload();
  const t0 = await s3Requests(b);
  expect(await get()).toBe(200);
  const t1 = await s3Requests(b);
  expect(await head()).toBe(200);
  const t2 = await s3Requests(b);
  return { manifest: t1 - t0, blob: t2 - t1 };
}

describe("the edge cache", () => {
  it("a new isolate answers a manifest GET by digest and a blob HEAD with one S3 request each; without it, two", async () => {
    const [withCache, without] = await Promise.all([pullCost(on), pullCost(off)]);
    expect(without).toEqual({ manifest: 2, blob: 2 });
    expect(withCache).toEqual({ manifest: 1, blob: 1 });
  });
});
