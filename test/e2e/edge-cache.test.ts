// The data center's cache (the Workers Cache API, as wrangler dev's workerd provides it) under wrangler dev +
// Swift: once one isolate has read them, a new isolate (the Worker reloaded: nothing in its memory) answers a
// manifest GET by digest and a blob HEAD with one S3 request each (the repository's link), and (redirects off) a
// blob GET, whole or a range, with none: the bytes come from the data center; with BERTH_EDGE_CACHE=false, more. Counted with Berth's own /metrics (berth_s3_requests_total).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { OCI_MANIFEST, pushImageBlobs, putManifestOk, rand, req } from "./helpers/manifests.js";

const TOKEN = `metrics-${rand(24)}`;
let on: Berth;
let off: Berth;

beforeAll(async () => {
  [on, off] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-edge-${rand()}`, BERTH_METRICS_TOKEN: TOKEN, REGISTRY_STORAGE_REDIRECT_DISABLE: "true" }),
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-edge-off-${rand()}`, BERTH_METRICS_TOKEN: TOKEN, REGISTRY_STORAGE_REDIRECT_DISABLE: "true", BERTH_EDGE_CACHE: "false" }),
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

/** S3 requests of one manifest GET by digest, one blob HEAD, a blob GET and a ranged blob GET, in a new isolate. */
async function pullCost(b: Berth): Promise<{ manifest: number; blob: number; blobGet: number; range: number }> {
  const repo = `edge/${rand()}`;
  const { config, layers, manifest } = await pushImageBlobs(b.url, repo);
  await putManifestOk(b.url, repo, manifest.digest, manifest);
  const get = () => req(b.url, `/v2/${repo}/manifests/${manifest.digest}`, { headers: { Accept: OCI_MANIFEST } }).then(async (r) => (await r.arrayBuffer(), r.status));
  const head = () => req(b.url, `/v2/${repo}/blobs/${layers[0]!.digest}`, { method: "HEAD" }).then((r) => r.status);
  const bytes = (range?: string) =>
    req(b.url, `/v2/${repo}/blobs/${layers[0]!.digest}`, range ? { headers: { Range: range } } : {}).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }));
  expect(config.size).toBeGreaterThan(0);
  // The pushing isolate remembers what it wrote; the first new isolate to be asked reads the bucket and fills
  // the data center's cache; the next new one finds it there.
  await b.reload();
  expect([await get(), await head()]).toEqual([200, 200]);
  expect((await bytes()).status).toBe(200); // its bytes are copied into the data center's cache behind the answer
  await b.reload();
  const t0 = await s3Requests(b);
  expect(await get()).toBe(200);
  const t1 = await s3Requests(b);
  expect(await head()).toBe(200);
  const t2 = await s3Requests(b);
  expect(await bytes()).toEqual({ status: 200, body: Buffer.from(layers[0]!.bytes) });
  const t3 = await s3Requests(b);
  expect(await bytes("bytes=10-19")).toEqual({ status: 206, body: Buffer.from(layers[0]!.bytes.slice(10, 20)) });
  const t4 = await s3Requests(b);
  return { manifest: t1 - t0, blob: t2 - t1, blobGet: t3 - t2, range: t4 - t3 };
}

describe("the edge cache", () => {
  it("a new isolate answers a manifest GET by digest and a blob HEAD with one S3 request (the link), and blob GETs (redirects off) from the data center", async () => {
    const [withCache, without] = await Promise.all([pullCost(on), pullCost(off)]);
    // Without it: the link and the data's GET or HEAD; then (the isolate remembering the link and size from the
    // HEAD) the bytes. With it: the link only, and the bytes, whole or a range, from the data center.
    expect(without).toEqual({ manifest: 2, blob: 2, blobGet: 1, range: 1 });
    expect(withCache).toEqual({ manifest: 1, blob: 1, blobGet: 0, range: 0 });
  });
});
