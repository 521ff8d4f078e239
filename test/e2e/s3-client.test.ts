// End-to-end tests of Berth's S3 client (src/storage/s3) against the real Swift s3api started by the e2e
// global setup, once signed with SigV4 and once with SigV2 (`v4auth: false`). Requests go through a small
// strict proxy that, like AWS, refuses PUT/POST bodies without Content-Length (Swift itself accepts chunked
// uploads) and records what was sent, so header rules are checked on the wire.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { S3Config } from "../../src/config";
import { S3Client, S3Error } from "../../src/storage/driver/s3/client";
import { hmacSha1Base64, stringToSignV2 } from "../../src/storage/driver/s3/sigv2";
import type { S3Settings } from "./harness/global-setup.js";
import { listMultipartUploads } from "./harness/s3.js";

const MiB = 1024 * 1024;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** Forwards to Swift keeping the Host header (signatures cover it); answers 411 like AWS for unsized writes. */
async function startStrictProxy(target: string): Promise<{ endpoint: string; seen: Seen[]; close: () => Promise<void> }> {
  const t = new URL(target);
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const method = req.method ?? "";
    seen.push({ method, url: req.url ?? "", headers: req.headers });
    if ((method === "PUT" || method === "POST") && (req.headers["content-length"] === undefined || req.headers["transfer-encoding"])) {
      req.resume();
      res.writeHead(411, { "content-type": "application/xml" });
      res.end("<Error><Code>MissingContentLength</Code><Message>You must provide the Content-Length HTTP header.</Message></Error>");
      return;
    }
    const up = http.request(
      { host: t.hostname, port: t.port, method, path: req.url, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", (e) => res.destroy(e));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The S3 server handed over by the e2e global setup (vitest provide/inject). */
function server(): S3Settings {
  return inject("s3");
}

const md5b64 = (b: Uint8Array) => createHash("md5").update(b).digest("base64");
const md5hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const bytesOf = async (res: Response | null) => (res ? new Uint8Array(await res.arrayBuffer()) : null);

function streamOf(data: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.subarray(off, off + chunk));
      off += chunk;
    },
  });
}

async function expectS3Error(p: Promise<unknown>, status: number, code?: string): Promise<S3Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(S3Error);
  const s3err = err as S3Error;
  expect(s3err.status).toBe(status);
  if (code !== undefined) expect(s3err.code).toBe(code);
  expect(s3err.message).not.toContain(server().secretKey);
  return s3err;
}

let proxy: Awaited<ReturnType<typeof startStrictProxy>>;
beforeAll(async () => {
  proxy = await startStrictProxy(server().endpoint);
});
afterAll(async () => {
  await proxy?.close();
});

describe.each([
  ["SigV4", true],
  ["SigV2", false],
])("S3Client with %s", (label, v4auth) => {
  const root = `s3-client/${randomUUID()}/${label}`;

  function config(over: Partial<S3Config> = {}): S3Config {
    const s = server();
    return {
      bucket: s.bucket,
      region: s.region,
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      accessKey: s.accessKey,
      secretKey: s.secretKey,
      v4auth,
      rootDirectory: "",
      encrypt: false,
      keyId: undefined,
      chunkSize: 10 * MiB,
      storageClass: "NONE",
      objectAcl: "private",
      multipartCopyChunkSize: 32 * MiB,
      multipartCopyMaxConcurrency: 100,
      multipartCopyThresholdSize: 32 * MiB,
      redirectEndpoint: undefined,
      ...over,
    };
  }
  const client = (over: Partial<S3Config> = {}) => new S3Client(config(over));

  it("put/get/head/delete round-trip; missing objects are null", async () => {
    const c = client();
    const key = `${root}/obj/sha256:ab/data`;
    const data = randomBytes(1000);
    const written = Date.now();
    const before = proxy.seen.length;
    const { etag } = await c.put(key, data, { length: data.length, contentType: "application/octet-stream", contentMd5: md5b64(data) });
    // The request really was signed with the scheme under test.
    const auth = String(proxy.seen[before]?.headers.authorization);
    expect(auth.startsWith(v4auth ? "AWS4-HMAC-SHA256 Credential=" : `AWS ${server().accessKey}:`)).toBe(true);
    expect(etag).toBe(md5hex(data));
    const head = await c.head(key);
    expect(head).toEqual({ size: 1000, etag: md5hex(data), contentType: "application/octet-stream", lastModified: expect.any(Number) });
    // Last-Modified has whole seconds (an HTTP date).
    expect(Math.abs(head!.lastModified - written)).toBeLessThan(3000);
    expect(await bytesOf(await c.get(key))).toEqual(new Uint8Array(data));
    await c.delete(key);
    expect(await c.get(key)).toBeNull();
    expect(await c.head(key)).toBeNull();
    await c.delete(key); // deleting a missing key is fine
  });

  it("puts strings, empty bodies and streams, always with Content-Length", async () => {
    const c = client();
    await c.put(`${root}/str`, "sha256:0123", { length: 11 });
    expect(new TextDecoder().decode((await bytesOf(await c.get(`${root}/str`)))!)).toBe("sha256:0123");
    await c.put(`${root}/empty`, new Uint8Array(0), { length: 0 });
    expect((await c.head(`${root}/empty`))?.size).toBe(0);
    const big = randomBytes(3 * MiB + 17);
    const before = proxy.seen.length;
    await c.put(`${root}/stream`, streamOf(big), { length: big.length });
    const sent = proxy.seen.slice(before).find((s) => s.method === "PUT");
    expect(sent?.headers["content-length"]).toBe(String(big.length));
    expect(sent?.headers["transfer-encoding"]).toBeUndefined();
    expect(await bytesOf(await c.get(`${root}/stream`))).toEqual(new Uint8Array(big));
    // A wrong Content-MD5 is refused by the server, surfacing as an S3Error.
    await expectS3Error(c.put(`${root}/badmd5`, "abc", { length: 3, contentMd5: md5b64(Buffer.from("abd")) }), 400, "BadDigest");
  });

  it("Range GET answers 206 with exactly the requested bytes", async () => {
    const c = client();
    const key = `${root}/range`;
    const data = randomBytes(4096);
    await c.put(key, data, { length: data.length });
    const res = await c.get(key, { range: "bytes=100-1123" });
    expect(res?.status).toBe(206);
    expect(res?.headers.get("content-range")).toBe("bytes 100-1123/4096");
    expect(await bytesOf(res)).toEqual(new Uint8Array(data.subarray(100, 1124)));
    const tail = await c.get(key, { range: "bytes=-10" });
    expect(tail?.status).toBe(206);
    expect(await bytesOf(tail)).toEqual(new Uint8Array(data.subarray(4086)));
    await expectS3Error(c.get(key, { range: "bytes=5000-6000" }), 416, "InvalidRange");
  });

  it("lists with a delimiter, paging by 2, keys and prefixes decoded", async () => {
    const c = client();
    const p = `${root}/list/`;
    const names = ["a", "b", "c:colon", "d/x", "d/y", "e/z", "f.-_"];
    for (const n of names) await c.put(p + n, n, { length: n.length });

    const keys: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await c.list({ prefix: p, delimiter: "/", maxKeys: 2, continuationToken: token });
      expect(page.keys.length + page.prefixes.length).toBeLessThanOrEqual(2);
      keys.push(...page.keys.map((k) => k.key));
      prefixes.push(...page.prefixes);
      for (const k of page.keys) expect(k.size).toBe(k.key.slice(p.length).length);
      token = page.nextToken;
      pages++;
    } while (token && pages < 20);
    expect(keys).toEqual([`${p}a`, `${p}b`, `${p}c:colon`, `${p}f.-_`]);
    expect(prefixes).toEqual([`${p}d/`, `${p}e/`]);
    expect(pages).toBe(3);

    const flat = await c.list({ prefix: p });
    expect(flat.keys.map((k) => k.key)).toEqual(names.map((n) => p + n));
    expect(flat.nextToken).toBeUndefined();
    const after = await c.list({ prefix: p, startAfter: `${p}d/y` });
    expect(after.keys.map((k) => k.key)).toEqual([`${p}e/z`, `${p}f.-_`]);
    expect((await c.list({ prefix: `${root}/nothing-here/` })).keys).toEqual([]);
  });

  it("multipart upload of 5 MiB + 1 byte completes with exact bytes; parts may be streams", async () => {
    const c = client();
    const key = `${root}/mpu/data`;
    const part1 = randomBytes(5 * MiB);
    const part2 = randomBytes(1);
    const uploadId = await c.createMultipart(key, { contentType: "application/octet-stream" });
    const e1 = await c.uploadPart(key, uploadId, 1, streamOf(part1), part1.length);
    const e2 = await c.uploadPart(key, uploadId, 2, part2, 1, md5b64(part2));
    expect(e1).toBe(md5hex(part1));
    await c.completeMultipart(key, uploadId, [
      { partNumber: 2, etag: e2 },
      { partNumber: 1, etag: e1 },
    ]);
    const head = await c.head(key);
    expect(head?.size).toBe(5 * MiB + 1);
    expect(head?.etag).toMatch(/-2$/);
    expect(await bytesOf(await c.get(key))).toEqual(new Uint8Array(Buffer.concat([part1, part2])));
  });

  it("aborts a multipart upload (twice is fine); completing it afterwards fails", async () => {
    const c = client();
    const key = `${root}/abort/data`;
    const uploadId = await c.createMultipart(key);
    const etag = await c.uploadPart(key, uploadId, 1, "x", 1);
    expect((await listMultipartUploads(`${root}/abort/`)).map((u) => u.uploadId)).toEqual([uploadId]);
    await c.abortMultipart(key, uploadId);
    await c.abortMultipart(key, uploadId);
    expect(await listMultipartUploads(`${root}/abort/`)).toEqual([]);
    await expectS3Error(c.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]), 404, "NoSuchUpload");
  });

  it("lists multipart uploads under a prefix, with their start times, and pages with markers", async () => {
    const c = client();
    const before = Date.now() - 2000; // Swift's times have whole seconds
    const keys = [`${root}/mpu/a/data`, `${root}/mpu/b/data`, `${root}/mpu/c/data`];
    const ids: string[] = [];
    for (const k of keys) ids.push(await c.createMultipart(k));
    await c.createMultipart(`${root}/elsewhere/data`);
    const first = await c.listMultipart(`${root}/mpu/`);
    expect(first.uploads.map((u) => [u.key, u.uploadId])).toEqual(keys.map((k, i) => [k, ids[i]]));
    for (const u of first.uploads) expect(u.initiated).toBeGreaterThan(before);
    expect(first.next).toBeUndefined();
    const after = await c.listMultipart(`${root}/mpu/`, { key: keys[0]!, uploadId: ids[0]! });
    expect(after.uploads.map((u) => u.key)).toEqual(keys.slice(1));
    for (const [i, k] of keys.entries()) await c.abortMultipart(k, ids[i]!);
    expect((await c.listMultipart(`${root}/mpu/`)).uploads).toEqual([]);
  });

  it("deleteMany removes keys in batches of 1000 (missing keys are fine)", async () => {
    const c = client();
    const existing = [`${root}/dm/a`, `${root}/dm/b:c`, `${root}/dm/d/e`];
    for (const k of existing) await c.put(k, "1", { length: 1 });
    const missing = Array.from({ length: 1000 }, (_, i) => `${root}/dm/missing/${i}`);
    const before = proxy.seen.length;
    await c.deleteMany([...existing.slice(0, 2), ...missing, existing[2]!]);
    const posts = proxy.seen.slice(before).filter((s) => s.method === "POST");
    expect(posts).toHaveLength(2);
    for (const p of posts) expect(p.headers["content-md5"]).toBeTruthy();
    expect((await c.list({ prefix: `${root}/dm/` })).keys).toEqual([]);
    await c.deleteMany([]);
  });

  it("presigned GET works with plain fetch (and a Range); expired or tampered URLs get 403", async () => {
    const c = client();
    const key = `${root}/presign/sha256:blob`;
    const data = randomBytes(5000);
    await c.put(key, data, { length: data.length });
    const url = await c.presignGet(key, 600);
    expect(url).not.toContain(server().secretKey);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array(data));
    const part = await fetch(url, { headers: { range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(new Uint8Array(data.subarray(10, 20)));

    const sigParam = v4auth ? "X-Amz-Signature" : "Signature";
    const tampered = new URL(url);
    const sig = tampered.searchParams.get(sigParam) ?? "";
    tampered.searchParams.set(sigParam, (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    expect((await fetch(tampered)).status).toBe(403);
    const otherKey = url.replace("sha256:blob", "sha256:blob2").replace("sha256%3Ablob", "sha256%3Ablob2");
    expect(otherKey).not.toBe(url);
    expect((await fetch(otherKey)).status).toBe(403);

    const shortLived = await c.presignGet(key, 1);
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await fetch(shortLived);
    expect(expired.status).toBe(403);
  });

  it("presigns for redirectEndpoint when set", async () => {
    const c = client({ redirectEndpoint: server().endpoint });
    const key = `${root}/presign/redirect`;
    await c.put(key, "hello", { length: 5 });
    const url = await c.presignGet(key, 60);
    expect(url.startsWith(`${server().endpoint}/${server().bucket}/`)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello");
  });

  it("a wrong secret is an S3Error 403 that does not leak the secret", async () => {
    const c = client({ secretKey: "not-the-secret" });
    const err = await expectS3Error(c.get(`${root}/anything`), 403);
    expect(err.message).not.toContain("not-the-secret");
    await expectS3Error(c.put(`${root}/anything`, "x", { length: 1 }), 403);
    await expectS3Error(c.list({ prefix: root }), 403);
  });

  it("sends write headers only when configured, only on object-creating requests", async () => {
    const plain = client();
    let before = proxy.seen.length;
    await plain.put(`${root}/hdr/plain`, "x", { length: 1 });
    const plainPut = proxy.seen.slice(before).find((s) => s.method === "PUT");
    expect(Object.keys(plainPut?.headers ?? {}).filter((h) => /storage-class|acl|server-side/.test(h))).toEqual([]);

    const c = client({ storageClass: "STANDARD", objectAcl: "public-read" });
    before = proxy.seen.length;
    await c.put(`${root}/hdr/std`, "x", { length: 1 });
    const uploadId = await c.createMultipart(`${root}/hdr/mpu`);
    await c.uploadPart(`${root}/hdr/mpu`, uploadId, 1, "y", 1);
    await c.abortMultipart(`${root}/hdr/mpu`, uploadId);
    const sent = proxy.seen.slice(before);
    const withClass = sent.filter((s) => s.headers["x-amz-storage-class"] === "STANDARD" && s.headers["x-amz-acl"] === "public-read");
    expect(withClass.map((s) => s.method)).toEqual(["PUT", "POST"]); // PutObject, CreateMultipartUpload
    expect(sent.filter((s) => s.url.includes("partNumber=")).every((s) => !s.headers["x-amz-storage-class"])).toBe(true);
    // Swift refuses SSE headers (501): proof that encrypt=true sends them.
    await expectS3Error(client({ encrypt: true }).put(`${root}/hdr/sse`, "x", { length: 1 }), 501);
  });

  it("rejects keys outside [A-Za-z0-9._/:-] before sending anything", async () => {
    const c = client();
    const before = proxy.seen.length;
    for (const bad of ["a+b", "a b", "a%2Fb", "ü", "/abs", "a/../b", "a/./b", ""]) {
      await expect(c.put(bad, "x", { length: 1 }), bad).rejects.toThrow(/S3 key/);
    }
    await expect(c.list({ prefix: "a+b" })).rejects.toThrow(/prefix/);
    expect(proxy.seen.length).toBe(before);
  });
});

describe("S3Client URLs", () => {
  it("uses virtual-hosted URLs unless forcePathStyle (the bucket becomes a subdomain)", async () => {
    const urls: string[] = [];
    const v2Headers: Headers[] = [];
    const fake: typeof fetch = async (input, init) => {
      urls.push(input instanceof Request ? input.url : String(input));
      if (!(input instanceof Request)) v2Headers.push(new Headers(init?.headers));
      return new Response(null, { status: 404 });
    };
    for (const v4auth of [true, false]) {
      const s = server();
      const cfg: S3Config = {
        bucket: "bkt",
        region: s.region,
        endpoint: "https://s3.example.com",
        forcePathStyle: false,
        accessKey: "AK",
        secretKey: "SK",
        v4auth,
        rootDirectory: "",
        encrypt: false,
        keyId: undefined,
        chunkSize: 10 * MiB,
        storageClass: "NONE",
        objectAcl: "private",
        multipartCopyChunkSize: 32 * MiB,
        multipartCopyMaxConcurrency: 100,
        multipartCopyThresholdSize: 32 * MiB,
        redirectEndpoint: undefined,
      };
      const c = new S3Client(cfg, fake);
      expect(await c.head("docker/registry/v2/blobs/sha256:x")).toBeNull();
      expect(await c.presignGet("k", 60)).toMatch(/^https:\/\/bkt\.s3\.example\.com\/k\?/);
    }
    expect(urls).toEqual([
      "https://bkt.s3.example.com/docker/registry/v2/blobs/sha256%3Ax",
      "https://bkt.s3.example.com/docker/registry/v2/blobs/sha256%3Ax",
    ]);
    // SigV2 signs the bucket in the resource even though the Host header carries it.
    const h = v2Headers[0]!;
    const toSign = stringToSignV2({
      method: "HEAD",
      dateOrExpires: "",
      amzHeaders: [["x-amz-date", h.get("x-amz-date") ?? ""]],
      resourcePath: "/bkt/docker/registry/v2/blobs/sha256%3Ax",
    });
    expect(h.get("authorization")).toBe(`AWS AK:${await hmacSha1Base64("SK", toSign)}`);
  });
});

describe("S3Client against a scripted server (answers Swift never gives)", () => {
  type Reply = { status: number; body?: string; headers?: Record<string, string> };
  function scripted(replies: Reply[]): { fetcher: typeof fetch; calls: string[] } {
    const calls: string[] = [];
    const fetcher: typeof fetch = async (input, init) => {
      const req = input instanceof Request ? input : new Request(input, init);
      calls.push(`${req.method} ${new URL(req.url).search}`);
      await req.arrayBuffer(); // consume the body like a server would
      const r = replies.shift() ?? { status: 500, body: "<Error><Code>Exhausted</Code></Error>" };
      return new Response(r.body ?? null, { status: r.status, headers: r.headers });
    };
    return { fetcher, calls };
  }
  const cfg = (over: Partial<S3Config> = {}): S3Config => ({
    bucket: "bkt",
    region: "us-east-1",
    endpoint: "http://s3.invalid",
    forcePathStyle: true,
    accessKey: "AK",
    secretKey: "SK-secret",
    v4auth: true,
    rootDirectory: "",
    encrypt: false,
    keyId: undefined,
    chunkSize: 10 * MiB,
    storageClass: "NONE",
    objectAcl: "private",
    multipartCopyChunkSize: 5 * MiB,
    multipartCopyMaxConcurrency: 100,
    multipartCopyThresholdSize: 5 * MiB,
    redirectEndpoint: undefined,
    ...over,
  });
  const err = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as S3Error);

  it("CompleteMultipartUpload: a retryable <Error> inside a 200 is retried; others fail", async () => {
    const ok = "<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>";
    const a = scripted([{ status: 200, body: "<Error><Code>InternalError</Code></Error>" }, { status: 200, body: ok }]);
    await new S3Client(cfg(), a.fetcher).completeMultipart("k", "u", [{ partNumber: 1, etag: "e" }]);
    expect(a.calls).toEqual(["POST ?uploadId=u", "POST ?uploadId=u"]);
    const b = scripted([{ status: 200, body: "<Error><Code>InvalidPart</Code></Error>" }]);
    const e = await err(new S3Client(cfg(), b.fetcher).completeMultipart("k", "u", [{ partNumber: 1, etag: "e" }]));
    expect([e?.status, e?.code]).toEqual([200, "InvalidPart"]);
  });

  it("retries buffered requests on 5xx/429 but never re-sends a stream", async () => {
    const a = scripted([{ status: 503 }, { status: 429 }, { status: 200, body: "ok" }]);
    const res = await new S3Client(cfg(), a.fetcher).get("k");
    expect(await res?.text()).toBe("ok");
    expect(a.calls).toHaveLength(3);
    const b = scripted([{ status: 503, body: "<Error><Code>SlowDown</Code></Error>" }, { status: 200 }]);
    const body = new ReadableStream<Uint8Array>({ start: (ctl) => (ctl.enqueue(new Uint8Array(3)), ctl.close()) });
    const e = await err(new S3Client(cfg(), b.fetcher).put("k", body, { length: 3 }));
    expect([e?.status, e?.code]).toEqual([503, "SlowDown"]);
    expect(b.calls).toHaveLength(1);
  });

  it("DeleteObjects: per-key errors become an S3Error; NoSuchKey is ignored", async () => {
    const body =
      "<DeleteResult><Error><Key>gone</Key><Code>NoSuchKey</Code></Error>" +
      "<Error><Key>k2</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>";
    const e = await err(new S3Client(cfg(), scripted([{ status: 200, body }]).fetcher).deleteMany(["gone", "k2"]));
    expect([e?.status, e?.code, e?.operation]).toEqual([200, "AccessDenied", "DeleteObjects"]);
    expect(e?.message).toContain("k2");
    const fine = "<DeleteResult><Error><Key>gone</Key><Code>NoSuchKey</Code></Error></DeleteResult>";
    await new S3Client(cfg(), scripted([{ status: 200, body: fine }]).fetcher).deleteMany(["gone"]);
  });

  it("GET: a missing bucket is an error, a missing key is null; errors never show the secret", async () => {
    const nb = scripted([{ status: 404, body: "<Error><Code>NoSuchBucket</Code></Error>" }]);
    const e = await err(new S3Client(cfg(), nb.fetcher).get("k"));
    expect([e?.status, e?.code]).toEqual([404, "NoSuchBucket"]);
    const nk = scripted([{ status: 404, body: "<Error><Code>NoSuchKey</Code></Error>" }]);
    expect(await new S3Client(cfg(), nk.fetcher).get("k")).toBeNull();
    const denied = scripted([{ status: 403, body: "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>" }]);
    const d = await err(new S3Client(cfg(), denied.fetcher).put("k", "x", { length: 1 }));
    expect(d?.message).not.toMatch(/SK-secret|AWS4-HMAC|Signature=/);
  });

  it("refuses a buffered body whose length disagrees with opts.length", async () => {
    const { fetcher, calls } = scripted([]);
    await expect(new S3Client(cfg(), fetcher).put("k", "abc", { length: 4 })).rejects.toThrow(/does not match/);
    expect(calls).toEqual([]);
  });
});
