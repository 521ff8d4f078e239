// The stores' contracts over the memory driver, in Distribution's bucket layout: tags (set, resolve, delete,
// list order, pointingTo), referrers (add, remove, list order), repositories (list and exists, nested names,
// "_" directories ignored), blobs (links and their cache, the walk and its cursor, writes that leave nothing
// behind when refused, presigned URL reuse) and manifests (per-repository visibility, the per-isolate cache).
import { describe, expect, it } from "vitest";
import type { Digest } from "../../src/oci/digest";
import { storageOn } from "../../src/storage";
import { BodyCutError } from "../../src/storage/blob-writer";
import { MemoryDriver } from "../../src/storage/driver/memory";
import { bytesOf, cutOff, digestOf, pattern, readAll, sameBytes, sha256, streamOf } from "./support/content";
import { Clock } from "./support/memory";

const ROOT = "root";
const BASE = `${ROOT}/docker/registry/v2/`;
const d = (c: string): Digest => ({ algorithm: "sha256", hex: c.repeat(64) });
const fmt = (x: Digest) => `${x.algorithm}:${x.hex}`;

function stores() {
  const clock = new Clock();
  const driver = new MemoryDriver(clock.now);
  return { driver, clock, ...storageOn(driver, ROOT) };
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("TagStore", () => {
  it("set then resolve; moving a tag keeps every digest it named in its index", async () => {
    const { tags, driver } = stores();
    expect(await tags.resolve("r", "v1")).toBeNull();
    await tags.set("r", "v1", d("a"));
    expect(await tags.resolve("r", "v1")).toEqual(d("a"));
    await tags.set("r", "v1", d("b"));
    expect(await tags.resolve("r", "v1")).toEqual(d("b"));
    expect(driver.keys(`${BASE}repositories/r/_manifests/tags/v1/`)).toEqual([
      `${BASE}repositories/r/_manifests/tags/v1/current/link`,
      `${BASE}repositories/r/_manifests/tags/v1/index/sha256/${"a".repeat(64)}/link`,
      `${BASE}repositories/r/_manifests/tags/v1/index/sha256/${"b".repeat(64)}/link`,
    ]);
    // Links hold exactly "<alg>:<hex>", as Distribution writes them.
    expect(new TextDecoder().decode(driver.objects.get(`${BASE}repositories/r/_manifests/tags/v1/current/link`)!.bytes)).toBe(fmt(d("b")));
  });

  it("the current link is written last: a tag moves only once its index entry is in place", async () => {
    const { tags, driver } = stores();
    const order: string[] = [];
    driver.fault = (op, key) => void (op === "put" && order.push(key.slice(key.indexOf("/tags/") + 6)));
    await tags.set("r", "v1", d("a"));
    expect(order).toEqual([`v1/index/sha256/${"a".repeat(64)}/link`, "v1/current/link"]);
  });

  it("delete removes the tag's current link and index, reports whether it existed, and spares tags sharing a prefix", async () => {
    const { tags, driver } = stores();
    await tags.set("r", "v1", d("a"));
    await tags.set("r", "v1", d("b"));
    await tags.set("r", "v1.0", d("a"));
    await tags.set("r", "v10", d("a"));
    expect(await tags.delete("r", "v1")).toBe(true);
    expect(await tags.delete("r", "v1")).toBe(false);
    expect(await tags.resolve("r", "v1")).toBeNull();
    expect(driver.keys(`${BASE}repositories/r/_manifests/tags/v1/`)).toEqual([]);
    expect(await tags.list("r")).toEqual(["v1.0", "v10"]);
  });

  it("lists in lexical order, which is not the bucket's key order", async () => {
    const { tags } = stores();
    for (const t of ["v1", "v1.0", "v1-a", "V", "latest", "_under"]) await tags.set("r", t, d("a"));
    expect(await tags.list("r")).toEqual(["V", "_under", "latest", "v1", "v1-a", "v1.0"]);
    expect(await tags.list("none")).toEqual([]);
  });

  it("pointingTo finds the tags whose current link names the digest (not those that once did)", async () => {
    const { tags } = stores();
    await tags.set("r", "a", d("1"));
    await tags.set("r", "b", d("2"));
    await tags.set("r", "c", d("1"));
    await tags.set("r", "moved", d("1"));
    await tags.set("r", "moved", d("2"));
    await tags.set("other", "a", d("1"));
    expect(await tags.pointingTo("r", d("1"))).toEqual(["a", "c"]);
    expect(await tags.pointingTo("r", d("3"))).toEqual([]);
  });

  it("a corrupt link is an error on resolve, and is skipped by pointingTo", async () => {
    const { tags, driver } = stores();
    await tags.set("r", "good", d("1"));
    driver.seed(`${BASE}repositories/r/_manifests/tags/bad/current/link`, "not a digest");
    await expect(tags.resolve("r", "bad")).rejects.toThrow(/corrupt/);
    expect(await tags.pointingTo("r", d("1"))).toEqual(["good"]);
  });
});

describe("ReferrerStore", () => {
  const desc = (c: string, artifactType?: string) => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: fmt(d(c)),
    size: 100,
    ...(artifactType ? { artifactType } : {}),
  });

  it("lists a subject's referrers ordered by digest, per subject and per repository", async () => {
    const { referrers } = stores();
    await referrers.add("r", d("5"), d("c"), desc("c", "x/sig"));
    await referrers.add("r", d("5"), d("a"), desc("a"));
    await referrers.add("r", d("5"), d("b"), desc("b", "x/sbom"));
    await referrers.add("r", d("6"), d("d"), desc("d"));
    await referrers.add("other", d("5"), d("e"), desc("e"));
    expect(await referrers.list("r", d("5"))).toEqual([desc("a"), desc("b", "x/sbom"), desc("c", "x/sig")]);
    expect(await referrers.list("r", d("6"))).toEqual([desc("d")]);
    expect(await referrers.list("r", d("7"))).toEqual([]);
  });

  it("adding the same pair again replaces it; remove takes one pair (a missing one is fine)", async () => {
    const { referrers } = stores();
    await referrers.add("r", d("5"), d("a"), desc("a"));
    await referrers.add("r", d("5"), d("a"), desc("a", "x/new"));
    await referrers.add("r", d("5"), d("b"), desc("b"));
    await referrers.remove("r", d("5"), d("b"));
    await referrers.remove("r", d("5"), d("8"));
    expect(await referrers.list("r", d("5"))).toEqual([desc("a", "x/new")]);
  });

  it("lives under _berth/, where Distribution never looks, and skips entries it cannot read", async () => {
    const { referrers, driver } = stores();
    await referrers.add("r", d("5"), d("a"), desc("a"));
    expect(driver.keys(`${BASE}repositories/r/`)).toEqual([`${BASE}repositories/r/_berth/referrers/sha256/${"5".repeat(64)}/sha256/${"a".repeat(64)}`]);
    driver.seed(`${BASE}repositories/r/_berth/referrers/sha256/${"5".repeat(64)}/sha256/${"b".repeat(64)}`, "{broken");
    expect(await referrers.list("r", d("5"))).toEqual([desc("a")]);
  });
});

describe("RepositoryStore", () => {
  function withRepos() {
    const s = stores();
    const link = (name: string, rest: string) => s.driver.seed(`${BASE}repositories/${name}/${rest}`, "x");
    link("b", `_layers/sha256/${"1".repeat(64)}/link`);
    link("a/x", `_layers/sha256/${"1".repeat(64)}/link`);
    link("a/x/deep", `_layers/sha256/${"1".repeat(64)}/link`);
    link("a", `_layers/sha256/${"1".repeat(64)}/link`);
    link("a-b", `_layers/sha256/${"1".repeat(64)}/link`);
    link("c", `_manifests/revisions/sha256/${"1".repeat(64)}/link`); // no _layers, but manifests: listed
    link("a/_uploads/u", `_layers/data`); // under an "_" directory: never a repository
    link("a/_berth/y", `_layers/z`);
    return s;
  }

  it("lists every directory holding _layers/ or _manifests/, nested names included, in lexical order", async () => {
    const { repositories } = withRepos();
    expect(await repositories.list()).toEqual(["a", "a-b", "a/x", "a/x/deep", "b", "c"]);
  });

  it("exists: the repository holds something of its own; a nested repository does not make its parent one", async () => {
    const { repositories, driver } = withRepos();
    driver.seed(`${BASE}repositories/parent/child/_layers/x`, "x");
    expect(await repositories.exists("a")).toBe(true);
    expect(await repositories.exists("c")).toBe(true);
    expect(await repositories.exists("parent/child")).toBe(true);
    expect(await repositories.exists("parent")).toBe(false);
    expect(await repositories.exists("a-b-c")).toBe(false);
    expect(await repositories.exists("nothing")).toBe(false);
  });

  it("exists costs one list request", async () => {
    const { repositories, driver } = withRepos();
    driver.calls.list = 0;
    await repositories.exists("a");
    expect(driver.calls.list).toBe(1);
  });
});

describe("BlobStore", () => {
  it("a blob is in a repository only with both its data and the repository's link", async () => {
    const { blobs } = stores();
    const data = pattern(10);
    const digest = digestOf(sha256(data));
    expect(await blobs.statInRepository("r", digest)).toBeNull();
    await blobs.write(digest, streamOf(data), { partSize: 1024 });
    expect(await blobs.stat(digest)).toEqual({ digest, size: 10 });
    expect(await blobs.statInRepository("r", digest)).toBeNull();
    await blobs.link("r", digest);
    expect(await blobs.statInRepository("r", digest)).toEqual({ digest, size: 10 });
    expect(await blobs.statInRepository("other", digest)).toBeNull();
    await blobs.unlink("r", digest);
    expect(await blobs.isLinked("r", digest)).toBe(false);
  });

  it("remembers sizes and links (a warm check costs nothing); unlink forgets at once", async () => {
    const { blobs, driver } = stores();
    const digest = d("a");
    driver.seed(`${BASE}blobs/sha256/aa/${"a".repeat(64)}/data`, "xyz");
    driver.seed(`${BASE}repositories/r/_layers/sha256/${"a".repeat(64)}/link`, fmt(digest));
    expect(await blobs.statInRepository("r", digest)).toEqual({ digest, size: 3 });
    expect(driver.calls.head).toBe(2);
    expect(await blobs.statInRepository("r", digest)).toEqual({ digest, size: 3 });
    expect(driver.calls.head).toBe(2);
    await blobs.unlink("r", digest);
    expect(await blobs.isLinked("r", digest)).toBe(false);
    // What another isolate learnt is told to this one: remember() and rememberLink() spare the reads.
    const fresh = storageOn(driver, ROOT).blobs;
    fresh.remember(d("b"), 42);
    fresh.rememberLink("r", d("b"));
    const heads = driver.calls.head;
    expect(await fresh.statInRepository("r", d("b"))).toEqual({ digest: d("b"), size: 42 });
    expect(driver.calls.head).toBe(heads);
  });

  it("write: one put when the blob fits a part, else a multipart upload; onPart sees every byte in order", async () => {
    const { blobs, driver } = stores();
    const small = pattern(100, 1);
    const seen: number[] = [];
    expect(await blobs.write(digestOf(sha256(small)), streamOf(small), { partSize: 1024, onPart: async (b) => void seen.push(b.byteLength) })).toBe(100);
    expect(driver.calls).toMatchObject({ put: 1, createMultipart: 0 });
    const big = pattern(2500, 2);
    const hash: Uint8Array[] = [];
    const started: unknown[] = [];
    await blobs.write(digestOf(sha256(big)), streamOf(big.subarray(0, 7), big.subarray(7)), {
      partSize: 1024,
      onPart: async (b) => void hash.push(b.slice()),
      onStarted: async (h) => void started.push(h),
    });
    expect(driver.calls).toMatchObject({ put: 1, createMultipart: 1, uploadPart: 3, completeMultipart: 1 });
    expect(sha256(new Uint8Array(hash.flatMap((h) => [...h])))).toBe(sha256(big));
    const key = `${BASE}blobs/sha256/${sha256(big).slice(7, 9)}/${sha256(big).slice(7)}/data`;
    expect(started).toEqual([{ key, uploadId: expect.any(String) }]);
    expect(sameBytes(driver.objects.get(key)!.bytes, big)).toBe(true);
  });

  it("write leaves nothing when beforeComplete refuses, whether one part or many", async () => {
    for (const size of [100, 5000]) {
      const { blobs, driver } = stores();
      const data = pattern(size);
      let sizeSeen = -1;
      const refused = blobs.write(digestOf(sha256(data)), streamOf(data), {
        partSize: 1024,
        beforeComplete: async (n) => {
          sizeSeen = n;
          throw new Error("digest mismatch");
        },
      });
      await expect(refused).rejects.toThrow("digest mismatch");
      expect(sizeSeen).toBe(size);
      expect(driver.keys()).toEqual([]);
      expect(driver.openUploads()).toEqual([]);
    }
  });

  it("write of a body that breaks off throws BodyCutError and leaves nothing", async () => {
    const { blobs, driver } = stores();
    const data = pattern(3000);
    const err = await blobs.write(digestOf(sha256(data)), cutOff(data.subarray(0, 2000)), { partSize: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyCutError);
    expect((err as BodyCutError).bytesRead).toBe(2000);
    expect(driver.keys()).toEqual([]);
    expect(driver.openUploads()).toEqual([]);
  });

  it("abandonWrite aborts a multipart upload its owner lost track of", async () => {
    const { blobs, driver } = stores();
    const key = `${BASE}blobs/sha256/aa/${"a".repeat(64)}/data`;
    const uploadId = await driver.createMultipart(key);
    await blobs.abandonWrite({ key, uploadId });
    expect(driver.openUploads()).toEqual([]);
  });

  it("walk yields every blob in key order with a cursor to resume after it; other keys are skipped", async () => {
    const { blobs, driver } = stores();
    const digests = ["3", "1", "f", "c"].map((c) => d(c));
    for (const x of digests) driver.seed(`${BASE}blobs/sha256/${x.hex.slice(0, 2)}/${x.hex}/data`, x.hex.slice(0, 3));
    driver.seed(`${BASE}blobs/sha256/00/${"1".repeat(64)}/data`, "misplaced"); // wrong fan-out directory
    driver.seed(`${BASE}blobs/sha256/11/stray`, "x");
    driver.seed(`${BASE}repositories/r/_layers/sha256/${"1".repeat(64)}/link`, "x");
    const walked = await all(blobs.walk());
    expect(walked.map((b) => b.digest.hex[0])).toEqual(["1", "3", "c", "f"]);
    expect(walked[0]).toMatchObject({ size: 3, cursor: `${BASE}blobs/sha256/11/${"1".repeat(64)}/data` });
    expect((await all(blobs.walk(walked[1]!.cursor))).map((b) => b.digest.hex[0])).toEqual(["c", "f"]);
    expect(await all(blobs.walk(walked[3]!.cursor))).toEqual([]);
  });

  it("presigned URLs are reused for a quarter of their lifetime, and signed anew for another lifetime", async () => {
    const { blobs, driver } = stores();
    const u1 = await blobs.presignedUrl(d("a"), 1200);
    expect(await blobs.presignedUrl(d("a"), 1200)).toBe(u1);
    expect(driver.calls.presignGet).toBe(1);
    await blobs.presignedUrl(d("b"), 1200);
    await blobs.presignedUrl(d("a"), 60);
    expect(driver.calls.presignGet).toBe(3);
  });

  it("open reads the data, or a range of it", async () => {
    const { blobs, driver } = stores();
    driver.seed(`${BASE}blobs/sha256/aa/${"a".repeat(64)}/data`, "0123456789");
    expect(new TextDecoder().decode(await readAll((await blobs.open(d("a"), { start: 3, end: 4 }))!.body))).toBe("34");
    expect(await blobs.open(d("b"))).toBeNull();
  });
});

describe("ManifestStore", () => {
  const bytes = bytesOf('{"schemaVersion":2}');
  const digest = digestOf(sha256(bytes));

  it("putData stores the bytes with their type; link makes them the repository's; get needs that link", async () => {
    const { manifests, driver } = stores();
    await manifests.putData(digest, bytes, "application/vnd.oci.image.manifest.v1+json");
    expect(driver.keys()).toEqual([`${BASE}blobs/sha256/${digest.hex.slice(0, 2)}/${digest.hex}/data`]);
    expect(await manifests.get("r", digest)).toBeNull();
    await manifests.link("r", digest);
    expect(driver.keys(`${BASE}repositories/`)).toEqual([`${BASE}repositories/r/_manifests/revisions/sha256/${digest.hex}/link`]);
    expect(await manifests.get("r", digest)).toEqual({ bytes, contentType: "application/vnd.oci.image.manifest.v1+json" });
    expect(await manifests.exists("r", digest)).toBe(true);
    expect(await manifests.get("other", digest)).toBeNull();
    await manifests.unlink("r", digest);
    expect(await manifests.get("r", digest)).toBeNull();
    expect(await manifests.readData(digest)).not.toBeNull(); // the bytes stay for garbage collection to judge
  });

  it("recentlyExists answers from this isolate's memory of a link it wrote or saw; exists always looks", async () => {
    const { manifests, driver } = stores();
    await manifests.putData(digest, bytes, "application/vnd.oci.image.manifest.v1+json");
    await manifests.link("r", digest);
    const heads = driver.calls.head;
    expect(await manifests.recentlyExists("r", digest)).toBe(true);
    expect(driver.calls.head).toBe(heads);
    expect(await manifests.exists("r", digest)).toBe(true);
    expect(driver.calls.head).toBe(heads + 1);
    // Removed by another writer, and said so: looked up again, and found gone.
    await storageOn(driver, ROOT).manifests.unlink("r", digest);
    manifests.noteLink("r", digest, false);
    expect(await manifests.recentlyExists("r", digest)).toBe(false);
    expect(await manifests.recentlyExists("other", digest)).toBe(false);
  });

  it("reads the bytes once per isolate; a generic stored type reads as none", async () => {
    const { manifests, driver } = stores();
    driver.seed(`${BASE}blobs/sha256/${digest.hex.slice(0, 2)}/${digest.hex}/data`, bytes, { contentType: "application/octet-stream" });
    expect(await manifests.readData(digest)).toEqual({ bytes, contentType: null });
    expect(await manifests.readData(digest)).toEqual({ bytes, contentType: null });
    expect(driver.calls.get).toBe(1);
    expect(await manifests.readData(d("9"))).toBeNull();
  });

  it("does not keep manifests above 64 KiB in memory", async () => {
    const { manifests, driver } = stores();
    const big = new Uint8Array(64 * 1024 + 1).fill(0x20);
    const bigDigest = digestOf(sha256(big));
    await manifests.putData(bigDigest, big, "application/vnd.oci.image.index.v1+json");
    await manifests.readData(bigDigest);
    await manifests.readData(bigDigest);
    expect(driver.calls.get).toBe(2);
  });
});
