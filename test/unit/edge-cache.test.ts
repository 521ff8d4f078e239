// The data center's cache as the stores use it (storage/edge-cache.ts), with an in-memory stand-in for the Cache
// API shared by two "isolates" (two sets of stores over one bucket): a new isolate finds a manifest's bytes and
// a blob's size there without asking the bucket; links are still asked for, so a deleted manifest is not served;
// a size is trusted no longer than 5 minutes after the bucket said so, whichever isolate took it over; `fresh`
// always asks the bucket; entries are kept apart by scope (bucket and root).
import { afterEach, describe, expect, it, vi } from "vitest";
import { digestBytes, formatDigest } from "../../src/oci/digest";
import { storageOn } from "../../src/storage";
import { MemoryDriver } from "../../src/storage/driver/memory";
import type { EdgeCache } from "../../src/storage/edge-cache";

/** The Cache API's behaviour that matters here: entries under keys, gone after their max-age. */
class FakeEdge implements EdgeCache {
  readonly entries = new Map<string, { body: Uint8Array; meta: Record<string, string>; until: number }>();
  async get(key: string) {
    const e = this.entries.get(key);
    return e && Date.now() < e.until ? { body: e.body, meta: e.meta } : null;
  }
  async put(key: string, body: Uint8Array, meta: Record<string, string>, maxAgeS: number) {
    this.entries.set(key, { body, meta, until: Date.now() + maxAgeS * 1000 });
  }
  async open(key: string, range: { start: number; end: number } | null) {
    const e = await this.get(key);
    if (!e) return null;
    return new Response(range ? e.body.slice(range.start, range.end + 1) : e.body).body!;
  }
  async putStream(key: string, body: ReadableStream<Uint8Array>, _length: number, maxAgeS: number) {
    await this.put(key, new Uint8Array(await new Response(body).arrayBuffer()), {}, maxAgeS);
  }
}

const enc = (s: string) => new TextEncoder().encode(s);
const MIN = 60_000;

afterEach(() => vi.useRealTimers());

async function setup() {
  const driver = new MemoryDriver();
  const edge = new FakeEdge();
  const first = storageOn(driver, "root", edge);
  const manifest = enc(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", layers: [] }));
  const md = await digestBytes("sha256", manifest);
  await first.manifests.putData(md, manifest, "application/vnd.oci.image.manifest.v1+json");
  await first.manifests.link("team/app", md);
  const blob = enc("layer bytes");
  const bd = await digestBytes("sha256", blob);
  driver.seed(`root/docker/registry/v2/blobs/sha256/${bd.hex.slice(0, 2)}/${bd.hex}/data`, blob);
  return { driver, edge, md, bd, manifest };
}

describe("the edge cache behind the stores", () => {
  it("a new isolate gets a manifest's bytes from the data center: a GET by digest costs one request (the link), not two", async () => {
    const { driver, edge, md, manifest } = await setup();
    let n = driver.requests;
    await storageOn(driver, "root", new FakeEdge()).manifests.get("team/app", md); // no data center copy: link + bytes
    expect(driver.requests - n).toBe(2);
    n = driver.requests;
    await storageOn(driver, "root", edge).manifests.get("team/app", md); // the first in this data center: fills it
    expect(driver.requests - n).toBe(2);
    n = driver.requests;
    const got = await storageOn(driver, "root", edge).manifests.get("team/app", md);
    expect(driver.requests - n).toBe(1);
    expect(got).toEqual({ bytes: manifest, contentType: "application/vnd.oci.image.manifest.v1+json" });
  });

  it("links are never taken from it: a manifest unlinked elsewhere is not served from the cached bytes", async () => {
    const { driver, edge, md } = await setup();
    await storageOn(driver, "root", edge).manifests.get("team/app", md);
    await storageOn(driver, "root").manifests.unlink("team/app", md);
    expect(await storageOn(driver, "root", edge).manifests.get("team/app", md)).toBeNull();
  });

  it("a blob's size: from the data center in a new isolate, for at most 5 minutes after the bucket said so; fresh asks the bucket", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { driver, edge, bd } = await setup();
    expect(await storageOn(driver, "root", edge).blobs.stat(bd)).toEqual({ digest: bd, size: 11 });
    vi.advanceTimersByTime(4 * MIN);
    const late = storageOn(driver, "root", edge);
    let n = driver.requests;
    expect(await late.blobs.stat(bd)).toEqual({ digest: bd, size: 11 });
    expect(driver.requests).toBe(n);
    // It took the size over at 4 minutes, and keeps it only until 5 minutes after the bucket answered.
    vi.advanceTimersByTime(1 * MIN + 1);
    n = driver.requests;
    expect(await late.blobs.stat(bd)).toEqual({ digest: bd, size: 11 });
    expect(driver.requests).toBe(n + 1);
    n = driver.requests;
    expect(await storageOn(driver, "root", edge).blobs.stat(bd, true)).toEqual({ digest: bd, size: 11 });
    expect(driver.requests).toBe(n + 1);
  });

  it("a blob the bucket no longer holds is not answered from it once its 5 minutes are over", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { driver, edge, bd } = await setup();
    await storageOn(driver, "root", edge).blobs.stat(bd);
    driver.objects.delete(`root/docker/registry/v2/blobs/sha256/${bd.hex.slice(0, 2)}/${bd.hex}/data`);
    vi.advanceTimersByTime(5 * MIN + 1);
    expect(await storageOn(driver, "root", edge).blobs.stat(bd)).toBeNull();
  });

  it("blob bytes: copied in the background of a GET that missed, then read (whole or a range) without the bucket", async () => {
    const { driver, edge, bd } = await setup();
    const a = storageOn(driver, "root", edge);
    expect(await a.blobs.openNear(bd, null)).toBeNull();
    await a.blobs.fillNear(bd, 11);
    await a.blobs.fillNear(bd, 11); // once per isolate a minute
    expect(driver.calls.get).toBe(1);
    const b = storageOn(driver, "root", edge);
    const n = driver.requests;
    expect(await new Response(await b.blobs.openNear(bd, null)).text()).toBe("layer bytes");
    expect(await new Response(await b.blobs.openNear(bd, { start: 6, end: 10 })).text()).toBe("bytes");
    expect(driver.requests).toBe(n);
    // Without a data center's cache there is nothing to copy into: no second read of the bucket.
    await storageOn(driver, "root").blobs.fillNear(bd, 11);
    expect(driver.calls.get).toBe(1);
  });

  it("keeps nothing for absent blobs, and keys entries by digest algorithm and hex", async () => {
    const { driver, edge, bd, md } = await setup();
    const missing = await digestBytes("sha256", enc("never stored"));
    expect(await storageOn(driver, "root", edge).blobs.stat(missing)).toBeNull();
    await storageOn(driver, "root", edge).blobs.stat(bd);
    await storageOn(driver, "root", edge).manifests.readData(md);
    expect([...edge.entries.keys()].sort()).toEqual([`blob-size/sha256/${bd.hex}`, `manifest/sha256/${md.hex}`]);
    expect(formatDigest(bd)).toMatch(/^sha256:/);
  });
});
