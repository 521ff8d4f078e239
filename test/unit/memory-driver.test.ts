// The in-memory StorageDriver's own contract, the one the S3 driver has too (storage/driver/index.ts): whole
// and ranged reads, puts of every body kind with exact lengths, deletes that do not mind missing keys, walks
// in key order that page and resume, directories, multipart uploads visible only once completed; and what
// tests rely on: request counters, the fault hook, seeding without counting.
import { describe, expect, it } from "vitest";
import { MemoryDriver } from "../../src/storage/driver/memory";
import { bytesOf, readAll, streamOf } from "./support/content";
import { Clock } from "./support/memory";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const text = async (d: MemoryDriver, key: string, range?: { start: number; end: number }) =>
  new TextDecoder().decode(await readAll((await d.get(key, range))!.body));

describe("objects", () => {
  it("put then get and head: bytes, size, content type, time of writing", async () => {
    const clock = new Clock(1_000_000);
    const d = new MemoryDriver(clock.now);
    await d.put("a/b", "hello", { length: 5, contentType: "text/plain" });
    await d.put("a/c", bytesOf("bytes"), { length: 5 });
    await d.put("a/d", streamOf(bytesOf("str"), bytesOf("eam")), { length: 6 });
    expect(await text(d, "a/b")).toBe("hello");
    expect(await text(d, "a/d")).toBe("stream");
    expect(await d.head("a/b")).toEqual({ size: 5, contentType: "text/plain", lastModified: 1_000_000 });
    clock.advance(5);
    await d.put("a/c", bytesOf("bytes"), { length: 5 });
    expect(await d.head("a/c")).toEqual({ size: 5, contentType: null, lastModified: 1_000_005 });
    const got = (await d.get("a/b"))!;
    expect({ size: got.size, contentType: got.contentType, range: got.range }).toEqual({ size: 5, contentType: "text/plain", range: null });
    expect((await all(d.walk("a/")))[0]).toEqual({ key: "a/b", size: 5, lastModified: 1_000_000 });
  });

  it("refuses a put whose length is not the body's", async () => {
    const d = new MemoryDriver();
    await expect(d.put("k", "abc", { length: 4 })).rejects.toThrow(/3 bytes, length said 4/);
    expect(await d.head("k")).toBeNull();
  });

  it("a put keeps its own copy of the bytes", async () => {
    const d = new MemoryDriver();
    const buf = bytesOf("abc");
    await d.put("k", buf, { length: 3 });
    buf[0] = 0x7a;
    expect(await text(d, "k")).toBe("abc");
  });

  it("reads a range inside the object, reporting the whole size; a range outside it is an error", async () => {
    const d = new MemoryDriver();
    await d.put("k", "0123456789", { length: 10 });
    const r = (await d.get("k", { start: 2, end: 5 }))!;
    expect({ size: r.size, range: r.range }).toEqual({ size: 10, range: { start: 2, end: 5 } });
    expect(await text(d, "k", { start: 2, end: 5 })).toBe("2345");
    expect(await text(d, "k", { start: 9, end: 9 })).toBe("9");
    await expect(d.get("k", { start: 5, end: 10 })).rejects.toThrow(/not satisfiable/);
    await expect(d.get("k", { start: 5, end: 4 })).rejects.toThrow(/not satisfiable/);
  });

  it("missing objects read as null; deleting them is fine", async () => {
    const d = new MemoryDriver();
    expect(await d.get("nope")).toBeNull();
    expect(await d.head("nope")).toBeNull();
    await d.delete("nope");
    await d.deleteMany(["nope", "neither"]);
  });

  it("deleteMany removes exactly the keys given, 1000 a request", async () => {
    const d = new MemoryDriver();
    const keys = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(4, "0")}`);
    for (const k of keys) d.seed(k, "x");
    d.seed("keep", "x");
    await d.deleteMany(keys);
    expect(d.calls.deleteMany).toBe(3);
    expect(d.keys()).toEqual(["keep"]);
  });
});

describe("listings", () => {
  function seeded(): MemoryDriver {
    const d = new MemoryDriver();
    for (const k of ["p/b", "p/a", "p/c/1", "p/c/2", "p/d/x/y", "q/a", "pz"]) d.seed(k, k);
    return d;
  }

  it("walk visits every key under the prefix, in key order, nested ones included", async () => {
    const d = seeded();
    expect((await all(d.walk("p/"))).map((o) => o.key)).toEqual(["p/a", "p/b", "p/c/1", "p/c/2", "p/d/x/y"]);
    expect((await all(d.walk("p"))).map((o) => o.key)).toContain("pz");
    expect(await all(d.walk("none/"))).toEqual([]);
  });

  it("walk pages: one list request per page, and one more to find the end of a full last page", async () => {
    const d = seeded();
    await all(d.walk("p/", { pageSize: 2 }));
    expect(d.calls.list).toBe(3);
    d.calls.list = 0;
    await all(d.walk("p/", { pageSize: 5 }));
    expect(d.calls.list).toBe(2);
    d.calls.list = 0;
    await all(d.walk("p/"));
    expect(d.calls.list).toBe(1);
  });

  it("walk resumes after a key (exclusive), whether or not that key still exists", async () => {
    const d = seeded();
    expect((await all(d.walk("p/", { after: "p/c/1" }))).map((o) => o.key)).toEqual(["p/c/2", "p/d/x/y"]);
    expect((await all(d.walk("p/", { after: "p/bb", pageSize: 1 }))).map((o) => o.key)).toEqual(["p/c/1", "p/c/2", "p/d/x/y"]);
    expect(await all(d.walk("p/", { after: "p/z" }))).toEqual([]);
  });

  it("a walk that stops early reads no further pages", async () => {
    const d = seeded();
    for await (const _ of d.walk("p/", { pageSize: 1 })) break;
    expect(d.calls.list).toBe(1);
  });

  it("directories are the immediate sub-prefixes, in key order; plain objects are not among them", async () => {
    const d = seeded();
    expect(await all(d.directories("p/"))).toEqual(["p/c/", "p/d/"]);
    expect(await all(d.directories("p/d/"))).toEqual(["p/d/x/"]);
    expect(await all(d.directories("q/"))).toEqual([]);
    expect(d.calls.list).toBe(3);
  });
});

describe("multipart uploads", () => {
  it("the object appears only once completed, made of the parts in part-number order", async () => {
    const d = new MemoryDriver();
    const id = await d.createMultipart("big");
    const e2 = await d.uploadPart("big", id, 2, bytesOf("world"));
    const buf = bytesOf("hello ");
    const e1 = await d.uploadPart("big", id, 1, buf);
    buf.fill(0); // the part was copied: the caller may reuse its buffer
    expect(await d.head("big")).toBeNull();
    expect(d.openUploads()).toEqual([{ key: "big", uploadId: id }]);
    await d.completeMultipart("big", id, [
      { partNumber: 2, etag: e2 },
      { partNumber: 1, etag: e1 },
    ]);
    expect(await text(d, "big")).toBe("hello world");
    expect(d.openUploads()).toEqual([]);
  });

  it("refuses a completion naming a part it does not have, or with the wrong ETag", async () => {
    const d = new MemoryDriver();
    const id = await d.createMultipart("k");
    const e1 = await d.uploadPart("k", id, 1, bytesOf("a"));
    await expect(d.completeMultipart("k", id, [{ partNumber: 1, etag: "etag-1-2" }])).rejects.toThrow(/part 1/);
    await expect(d.completeMultipart("k", id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: "x" }])).rejects.toThrow(/part 2/);
    expect(await d.head("k")).toBeNull();
  });

  it("abort drops the upload (again is fine); its id is no good afterwards, nor under another key", async () => {
    const d = new MemoryDriver();
    const id = await d.createMultipart("k");
    await expect(d.uploadPart("other", id, 1, bytesOf("a"))).rejects.toThrow(/no multipart upload/);
    await d.abortMultipart("other", id); // another key's abort does not touch it
    expect(d.openUploads()).toHaveLength(1);
    await d.abortMultipart("k", id);
    await d.abortMultipart("k", id);
    expect(d.openUploads()).toEqual([]);
    await expect(d.uploadPart("k", id, 1, bytesOf("a"))).rejects.toThrow(/no multipart upload/);
    expect(await d.head("k")).toBeNull();
  });
});

describe("what tests rely on", () => {
  it("counts every request by operation; seeding counts nothing", async () => {
    const d = new MemoryDriver();
    d.seed("k", "v");
    expect(d.requests).toBe(0);
    await d.get("k");
    await d.head("k");
    await d.head("k");
    await d.presignGet("k", 60);
    expect(d.calls).toMatchObject({ get: 1, head: 2, presignGet: 1, put: 0 });
    expect(d.requests).toBe(4);
  });

  it("the fault hook fails the chosen operation, after counting it, and nothing else", async () => {
    const d = new MemoryDriver();
    d.fault = (op, key) => {
      if (op === "put" && key.startsWith("bad/")) throw new Error("injected");
    };
    await expect(d.put("bad/k", "v", { length: 1 })).rejects.toThrow("injected");
    await d.put("good/k", "v", { length: 1 });
    expect(d.keys()).toEqual(["good/k"]);
    expect(d.calls.put).toBe(2);
  });

  it("presigned URLs name the key and their expiry by the driver's clock", async () => {
    const d = new MemoryDriver(() => 10_000);
    expect(await d.presignGet("a/b", 60)).toBe("https://bucket.invalid/a/b?expires=70");
  });

  it("keys() lists sorted keys under a prefix", () => {
    const d = new MemoryDriver();
    for (const k of ["b", "a/2", "a/1"]) d.seed(k, "");
    expect(d.keys()).toEqual(["a/1", "a/2", "b"]);
    expect(d.keys("a/")).toEqual(["a/1", "a/2"]);
  });
});
