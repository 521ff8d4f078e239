// Blob uploads end to end (spec end-4a/4b, end-5, end-6, end-11, end-13 and the status GET): every way a
// client can push a blob into Berth, checked on the wire (status and headers) and in the bucket afterwards
// (the blob's data key, the repository's link, no leftover multipart uploads). One Berth for the file, with
// its own root directory and 5 MiB parts, so blobs of a few MiB already span several S3 parts. After every test,
// the bucket holds only blob data and exact link files, and no open multipart upload.
import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { getObject, listKeys, listMultipartUploads, s3Fetch, s3Settings } from "./harness/s3.js";
import {
  EMPTY_DIGEST,
  MiB,
  absolute,
  digestOf,
  rand,
  randomBytes,
  rawRequest,
  req,
  sniffingProxy,
  startUpload,
  statusAndCode,
  streamOf,
  withDigest,
} from "./helpers/registry.js";

const ROOT = `t-uploads-${rand()}`;
const V2 = `${ROOT}/docker/registry/v2`;
const CHUNK = 5 * MiB;

const hexOf = (digest: string) => digest.slice("sha256:".length);
const blobKey = (digest: string) => `${V2}/blobs/sha256/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;
const linkKey = (repo: string, digest: string) => `${V2}/repositories/${repo}/_layers/sha256/${hexOf(digest)}/link`;
const repoName = (what: string) => `up-${rand(6)}/${what}`;
const UPLOAD_LOCATION = (repo: string) => new RegExp(`^/v2/${repo}/blobs/uploads/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`);

let berth: Berth;
let url: string;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, REGISTRY_STORAGE_S3_CHUNKSIZE: String(CHUNK) });
  url = berth.url;
});

afterAll(async () => {
  await berth?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- wrangler logs (tail)\n${berth.logs().slice(-6000)}`);
});

// What every test must leave in the bucket, checked after each one (so a failure names the test that caused it,
// and no test depends on others having run): only blob data and link files, each link holding exactly
// "<alg>:<hex>", and no open multipart upload (given a few seconds: a cancelled session aborts its upload from
// its alarm).
const ALLOWED_KEY = new RegExp(
  `^${V2}/(blobs/(sha256/[0-9a-f]{2}/[0-9a-f]{64}|sha512/[0-9a-f]{2}/[0-9a-f]{128})/data|repositories/[a-z0-9/._-]+/_layers/(sha256/[0-9a-f]{64}|sha512/[0-9a-f]{128})/link)$`,
);
const linksChecked = new Set<string>(); // content-addressed: a link checked once stays right
afterEach(async () => {
  const keys = await listKeys(`${ROOT}/`);
  expect(keys.filter((k) => !ALLOWED_KEY.test(k)), "keys that are neither blob data nor a repository's link").toEqual([]);
  for (const k of keys.filter((k) => k.endsWith("/link") && !linksChecked.has(k))) {
    const [alg, hex] = k.split("/").slice(-3, -1);
    const content = await getObject(k);
    if (content === null) continue; // deleted meanwhile
    expect(new TextDecoder().decode(content), k).toBe(`${alg}:${hex}`);
    linksChecked.add(k);
  }
  for (let i = 0; i < 40 && (await listMultipartUploads(`${ROOT}/`)).length > 0; i++) await new Promise((r) => setTimeout(r, 250));
  await expectNoOpenMultipart();
});

/** Bytes behind the blob's 307: the presigned URL must be on the S3 endpoint and serve exactly the blob. */
async function pullVia307(repo: string, digest: string): Promise<Uint8Array> {
  const res = await req(url, `/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(307);
  expect(res.headers.get("docker-content-digest")).toBe(digest);
  const loc = res.headers.get("location") ?? "";
  expect(loc.startsWith(`${s3Settings().endpoint}/`)).toBe(true);
  const blob = await fetch(loc, { signal: AbortSignal.timeout(30_000) });
  expect(blob.status).toBe(200);
  return new Uint8Array(await blob.arrayBuffer());
}

/** The bucket holds the blob's bytes and exactly `sha256:<hex>` as the repository's link. */
async function expectStored(repo: string, digest: string, bytes: Uint8Array): Promise<void> {
  const data = await getObject(blobKey(digest));
  expect(data, `blob data ${blobKey(digest)}`).not.toBeNull();
  expect(data!.byteLength).toBe(bytes.byteLength);
  expect(Buffer.compare(Buffer.from(data!), Buffer.from(bytes))).toBe(0);
  const link = await getObject(linkKey(repo, digest));
  expect(link && new TextDecoder().decode(link)).toBe(digest);
}

async function expectNoOpenMultipart(): Promise<void> {
  expect(await listMultipartUploads(`${ROOT}/`)).toEqual([]);
}

async function expect201(res: Response, repo: string, digest: string): Promise<void> {
  if (res.status !== 201) {
    const body = await res.text();
    expect.fail(`expected 201, got ${res.status} ${JSON.stringify([...res.headers])} ${body.slice(0, 2000)}`);
  }
  expect(res.headers.get("location")).toBe(`/v2/${repo}/blobs/${digest}`);
  expect(res.headers.get("docker-content-digest")).toBe(digest);
}

/** A 202/204 of an upload session: Location, Range and Docker-Upload-UUID as the spec and clients expect. */
function expectSession(res: Response, status: number, location: string, range: string): void {
  expect(res.status, `${res.status} ${JSON.stringify([...res.headers])}`).toBe(status);
  const path = new URL(location).pathname;
  expect(res.headers.get("location")).toBe(path);
  expect(res.headers.get("range")).toBe(range);
  expect(res.headers.get("docker-upload-uuid")).toBe(path.split("/").pop());
}

async function patch(location: string, bytes: Uint8Array, start: number): Promise<Response> {
  return req(url, location, {
    method: "PATCH",
    body: bytes,
    headers: {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(bytes.byteLength),
      "Content-Range": `${start}-${start + bytes.byteLength - 1}`,
    },
  });
}

describe("starting an upload", () => {
  it("POST answers 202 with Location, Range 0-0, Docker-Upload-UUID and OCI-Chunk-Min-Length", async () => {
    const repo = repoName("start");
    const res = await req(url, `/v2/${repo}/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(202);
    const loc = res.headers.get("location") ?? "";
    const m = UPLOAD_LOCATION(repo).exec(loc);
    expect(m, `Location ${loc}`).not.toBeNull();
    expect(res.headers.get("docker-upload-uuid")).toBe(m![1]);
    expect(res.headers.get("range")).toBe("0-0");
    expect(res.headers.get("oci-chunk-min-length")).toBe(String(CHUNK));
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(await res.text()).toBe("");

    // Without compression on the way (wrangler dev gzips even empty bodies for clients that accept it), the
    // empty 202 announces Content-Length: 0.
    const plain = await req(url, `/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { "Accept-Encoding": "identity" } });
    expect(plain.status).toBe(202);
    expect(plain.headers.get("content-length")).toBe("0");
    await plain.body?.cancel();

    // Two POSTs are two sessions.
    const other = await startUpload(url, repo);
    expect(new URL(other).pathname).not.toBe(loc);

    // The status GET of a fresh session says the same.
    const st = await req(url, loc);
    expectSession(st, 204, absolute(url, loc), "0-0");
  });
});

describe("monolithic uploads", () => {
  it("POST ?digest= with the body answers 201; HEAD 200; GET 307 to a presigned URL with the exact bytes", async () => {
    const repo = repoName("mono");
    const bytes = randomBytes(300 * 1024 + 7);
    const digest = digestOf(bytes);
    const res = await req(url, `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      method: "POST",
      body: bytes,
      headers: { "Content-Type": "application/octet-stream" },
    });
    await expect201(res, repo, digest);
    expect(await res.text()).toBe("");

    const head = await req(url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
    expect(head.headers.get("docker-content-digest")).toBe(digest);

    const pulled = await pullVia307(repo, digest);
    expect(Buffer.compare(Buffer.from(pulled), Buffer.from(bytes))).toBe(0);
    await expectStored(repo, digest, bytes);
  });

  it("POST then one PUT ?digest= carrying the whole body (containerd style, 3 S3 parts) answers 201", async () => {
    const repo = repoName("containerd");
    const bytes = randomBytes(2 * CHUNK + 123_457);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);
    const res = await req(url, withDigest(loc, digest), {
      method: "PUT",
      body: bytes,
      headers: { "Content-Type": "application/octet-stream" },
    });
    await expect201(res, repo, digest);
    const head = await req(url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
    await expectStored(repo, digest, bytes);
    await expectNoOpenMultipart();
    // The session is over once committed.
    expect(await statusAndCode(await req(url, loc))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
  });

  it("a monolithic body that does not match its digest is refused and leaves nothing in the bucket", async () => {
    const repo = repoName("mono-bad");
    // Big enough to go through a multipart upload (which must be aborted), and a small one (single PUT).
    for (const size of [CHUNK + 1000, 4096]) {
      const bytes = randomBytes(size);
      const claimed = digestOf(randomBytes(32));
      const res = await req(url, `/v2/${repo}/blobs/uploads/?digest=${claimed}`, { method: "POST", body: bytes });
      expect(await statusAndCode(res)).toEqual({ status: 400, code: "DIGEST_INVALID" });

      const loc = await startUpload(url, repo);
      const put = await req(url, withDigest(loc, claimed), { method: "PUT", body: bytes });
      expect(await statusAndCode(put)).toEqual({ status: 400, code: "DIGEST_INVALID" });

      const keys = await listKeys(`${ROOT}/`);
      for (const d of [claimed, digestOf(bytes)]) {
        expect(keys.filter((k) => k.includes(hexOf(d)))).toEqual([]);
      }
    }
    await expectNoOpenMultipart();
  });
});

describe("chunked uploads", () => {
  it("PATCH chunks (tiny ones and ones crossing 5 MiB part boundaries), status GET, PUT with empty body: 12 MiB intact", async () => {
    const repo = repoName("chunked");
    const sizes = [3, 5, MiB - 8, 4 * MiB, 3 * MiB + 17, 1, 0]; // the rest up to 12 MiB is appended below
    const total = 12 * MiB;
    sizes[sizes.length - 1] = total - sizes.reduce((a, b) => a + b, 0);
    const bytes = randomBytes(total);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);

    let off = 0;
    for (const n of sizes) {
      const res = await patch(loc, bytes.subarray(off, off + n), off);
      off += n;
      expectSession(res, 202, loc, `0-${off - 1}`);
      expect(await res.text()).toBe("");
    }
    expect(off).toBe(total);

    const st = await req(url, loc);
    expectSession(st, 204, loc, `0-${total - 1}`);

    // Nothing reaches the bucket before the digest is known and verified.
    expect(await getObject(blobKey(digest))).toBeNull();

    const put = await req(url, withDigest(loc, digest), { method: "PUT" });
    await expect201(put, repo, digest);
    await expectStored(repo, digest, bytes);
    await expectNoOpenMultipart();
    const pulled = await pullVia307(repo, digest);
    expect(digestOf(pulled)).toBe(digest);
    expect(await statusAndCode(await req(url, loc))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
  });

  it("the final chunk may come in the PUT body (with Content-Range)", async () => {
    const repo = repoName("final-chunk");
    const bytes = randomBytes(6 * MiB + 4321);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);
    const cut1 = MiB + 3;
    const cut2 = cut1 + 4 * MiB;
    expectSession(await patch(loc, bytes.subarray(0, cut1), 0), 202, loc, `0-${cut1 - 1}`);
    expectSession(await patch(loc, bytes.subarray(cut1, cut2), cut1), 202, loc, `0-${cut2 - 1}`);
    const last = bytes.subarray(cut2);
    const put = await req(url, withDigest(loc, digest), {
      method: "PUT",
      body: last,
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(last.byteLength),
        "Content-Range": `${cut2}-${bytes.byteLength - 1}`,
      },
    });
    await expect201(put, repo, digest);
    await expectStored(repo, digest, bytes);
    const pulled = await pullVia307(repo, digest);
    expect(Buffer.compare(Buffer.from(pulled), Buffer.from(bytes))).toBe(0);
  });

  it("a streamed PATCH without Content-Length (Transfer-Encoding: chunked, as docker and podman send) of 7 MiB", async () => {
    const repo = repoName("streamed");
    const bytes = randomBytes(7 * MiB);
    const digest = digestOf(bytes);
    const proxy = await sniffingProxy(url);
    try {
      const loc = await startUpload(url, repo);
      const path = new URL(loc).pathname;
      const res = await fetch(proxy.url + path, {
        method: "PATCH",
        body: streamOf(bytes, 64 * 1024 + 3),
        headers: { "Content-Type": "application/octet-stream" },
        duplex: "half",
        redirect: "manual",
        signal: AbortSignal.timeout(60_000),
      } as RequestInit & { duplex: "half" });
      expectSession(res, 202, loc, "0-7340031");

      const sent = proxy.requests.find((r) => r.requestLine.startsWith(`PATCH ${path} `));
      expect(sent, "the proxy saw the PATCH").toBeDefined();
      expect(sent!.headers["transfer-encoding"]).toBe("chunked");
      expect(sent!.headers["content-length"]).toBeUndefined();
      expect(sent!.headers["content-range"]).toBeUndefined();

      const put = await req(url, withDigest(loc, digest), { method: "PUT" });
      await expect201(put, repo, digest);
      await expectStored(repo, digest, bytes);
    } finally {
      await proxy.close();
    }
  });

  it("an out-of-order chunk answers 416 BLOB_UPLOAD_INVALID with the current Range, and the session stays usable", async () => {
    const repo = repoName("ooo");
    const bytes = randomBytes(30);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);
    expectSession(await patch(loc, bytes.subarray(0, 10), 0), 202, loc, "0-9");

    // A gap, and a repeat of what the session already has.
    for (const start of [20, 0, 5]) {
      const res = await patch(loc, bytes.subarray(start, start + 10), start);
      expect(res.headers.get("range")).toBe("0-9");
      expect(await statusAndCode(res)).toEqual({ status: 416, code: "BLOB_UPLOAD_INVALID" });
    }
    // Content-Range that does not describe the body (20 bytes claimed, 10 sent).
    const mismatch = await req(url, loc, {
      method: "PATCH",
      body: bytes.subarray(10, 20),
      headers: { "Content-Length": "10", "Content-Range": "10-29" },
    });
    expect(mismatch.headers.get("range")).toBe("0-9");
    expect(await statusAndCode(mismatch)).toEqual({ status: 416, code: "BLOB_UPLOAD_INVALID" });
    // Malformed Content-Range.
    const malformed = await req(url, loc, { method: "PATCH", body: bytes.subarray(10, 20), headers: { "Content-Range": "ten-19" } });
    expect(await statusAndCode(malformed)).toEqual({ status: 416, code: "BLOB_UPLOAD_INVALID" });

    // A final chunk in the PUT at the wrong offset: 416 too, and the session survives it.
    const badPut = await req(url, withDigest(loc, digest), {
      method: "PUT",
      body: bytes.subarray(20, 30),
      headers: { "Content-Length": "10", "Content-Range": "20-29" },
    });
    expect(badPut.headers.get("range")).toBe("0-9");
    expect(await statusAndCode(badPut)).toEqual({ status: 416, code: "BLOB_UPLOAD_INVALID" });

    // An empty PATCH changes nothing.
    expectSession(await req(url, loc, { method: "PATCH", body: new Uint8Array(0) }), 202, loc, "0-9");

    expectSession(await req(url, loc), 204, loc, "0-9");
    expectSession(await patch(loc, bytes.subarray(10, 20), 10), 202, loc, "0-19");
    expectSession(await patch(loc, bytes.subarray(20, 30), 20), 202, loc, "0-29");
    await expect201(await req(url, withDigest(loc, digest), { method: "PUT" }), repo, digest);
    await expectStored(repo, digest, bytes);
  });

  it("refused 10 MiB chunks (out of order, or a retry of one already stored) get a clean 416 every time, not a reset connection", async () => {
    // The OCI conformance suite sends chunks of OCI-Chunk-Min-Length (10 MiB here would be 2 parts) and expects
    // the 416 itself: the refused body must be read, or the connection closes under a client still sending it.
    const repo = repoName("ooo-big");
    const bytes = randomBytes(2 * CHUNK);
    const loc = await startUpload(url, repo);
    expectSession(await patch(loc, bytes.subarray(0, CHUNK), 0), 202, loc, `0-${CHUNK - 1}`);
    const outOfOrder = randomBytes(2 * CHUNK);
    for (let i = 0; i < 4; i++) {
      for (const [body, start] of [
        [outOfOrder, 2 * CHUNK],
        [bytes.subarray(0, CHUNK), 0],
      ] as const) {
        const res = await patch(loc, body, start);
        expect(res.headers.get("range")).toBe(`0-${CHUNK - 1}`);
        expect(await statusAndCode(res)).toEqual({ status: 416, code: "BLOB_UPLOAD_INVALID" });
      }
    }
    // An unknown session refuses a big body cleanly too.
    const unknown = await patch(`${url}/v2/${repo}/blobs/uploads/00000000-0000-4000-8000-000000000000`, outOfOrder, 0);
    expect(await statusAndCode(unknown)).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
  });

  it("a wrong digest on PUT answers 400 DIGEST_INVALID, stores nothing, and ends the session", async () => {
    const repo = repoName("wrong-digest");
    const bytes = randomBytes(CHUNK + 4096);
    const wrong = digestOf(randomBytes(64));
    const loc = await startUpload(url, repo);
    expectSession(await patch(loc, bytes, 0), 202, loc, `0-${bytes.byteLength - 1}`);
    const put = await req(url, withDigest(loc, wrong), { method: "PUT" });
    expect(await statusAndCode(put)).toEqual({ status: 400, code: "DIGEST_INVALID" });

    const keys = await listKeys(`${ROOT}/`);
    for (const d of [wrong, digestOf(bytes)]) {
      expect(keys.filter((k) => k.includes(hexOf(d)))).toEqual([]);
    }
    expect(keys.filter((k) => k.includes(`/repositories/${repo}/`))).toEqual([]);
    await expectNoOpenMultipart();
    expect(await statusAndCode(await req(url, loc))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    const again = await req(url, withDigest(loc, digestOf(bytes)), { method: "PUT" });
    expect(await statusAndCode(again)).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
  });

  it("PUT without a digest, with an empty one or a malformed one answers 400 DIGEST_INVALID", async () => {
    const repo = repoName("no-digest");
    const bytes = randomBytes(100);
    const loc = await startUpload(url, repo);
    expectSession(await patch(loc, bytes, 0), 202, loc, "0-99");
    for (const suffix of ["", "?digest=", "?digest=sha256:abc", `?digest=sha256:${"A".repeat(64)}`, `?digest=md5:${"a".repeat(32)}`]) {
      const res = await req(url, loc + suffix, { method: "PUT" });
      expect(await statusAndCode(res), `PUT ${suffix || "(no query)"}`).toEqual({ status: 400, code: "DIGEST_INVALID" });
    }
    // Nothing was stored for the repository.
    expect((await listKeys(`${V2}/repositories/${repo}/`)).length).toBe(0);
  });
});

describe("concurrency and other digests", () => {
  it("two PATCHes racing for the same range: the session takes exactly one, the other gets 416", async () => {
    const repo = repoName("race");
    const bytes = randomBytes(2 * MiB);
    const loc = await startUpload(url, repo);
    const results = await Promise.all([patch(loc, bytes, 0), patch(loc, bytes, 0)]);
    const statuses = results.map((r) => r.status).sort();
    await Promise.all(results.map((r) => r.body?.cancel()));
    expect(statuses).toEqual([202, 416]);
    expectSession(await req(url, loc), 204, loc, `0-${bytes.byteLength - 1}`);
    await expect201(await req(url, withDigest(loc, digestOf(bytes)), { method: "PUT" }), repo, digestOf(bytes));
    await expectStored(repo, digestOf(bytes), bytes);
  });

  it("sha512 digests: monolithic and chunked uploads answer 201 and the blob is stored under blobs/sha512/", async () => {
    const repo = repoName("sha512");
    for (const bytes of [randomBytes(3000), randomBytes(CHUNK + 5000)]) {
      const hex = createHash("sha512").update(bytes).digest("hex");
      const digest = `sha512:${hex}`;
      const res = await req(url, `/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes });
      await expect201(res, repo, digest);
      const head = await req(url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
      const data = await getObject(`${V2}/blobs/sha512/${hex.slice(0, 2)}/${hex}/data`);
      expect(data && Buffer.compare(Buffer.from(data), Buffer.from(bytes))).toBe(0);
      const link = await getObject(`${V2}/repositories/${repo}/_layers/sha512/${hex}/link`);
      expect(link && new TextDecoder().decode(link)).toBe(digest);

      // The same bytes in chunks, into another repository (a session opened without digest-algorithm, so the
      // spool is re-hashed with SHA-512 at the PUT); and a wrong sha512 is refused. Small blob only, to keep the
      // test short: test/e2e/sha512.test.ts pushes a multi-part sha512 blob in chunks.
      if (bytes.byteLength > CHUNK) continue;
      const other = repoName("sha512b");
      const loc = await startUpload(url, other);
      const cut = Math.floor(bytes.byteLength / 2);
      expectSession(await patch(loc, bytes.subarray(0, cut), 0), 202, loc, `0-${cut - 1}`);
      expectSession(await patch(loc, bytes.subarray(cut), cut), 202, loc, `0-${bytes.byteLength - 1}`);
      await expect201(await req(url, withDigest(loc, digest), { method: "PUT" }), other, digest);
      const loc2 = await startUpload(url, other);
      expectSession(await patch(loc2, bytes, 0), 202, loc2, `0-${bytes.byteLength - 1}`);
      const wrong = `sha512:${createHash("sha512").update("nope").digest("hex")}`;
      expect(await statusAndCode(await req(url, withDigest(loc2, wrong), { method: "PUT" }))).toEqual({
        status: 400,
        code: "DIGEST_INVALID",
      });
    }
  });
});

describe("session identity and cancellation", () => {
  it("DELETE cancels: 204, then PATCH, GET, PUT and DELETE answer 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const repo = repoName("cancel");
    const bytes = randomBytes(1000);
    const loc = await startUpload(url, repo);
    expectSession(await patch(loc, bytes, 0), 202, loc, "0-999");
    const del = await req(url, loc, { method: "DELETE" });
    expect(del.status).toBe(204);
    await del.body?.cancel();

    expect(await statusAndCode(await req(url, loc))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await statusAndCode(await patch(loc, bytes, 1000))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await statusAndCode(await patch(loc, bytes, 0))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    const put = await req(url, withDigest(loc, digestOf(bytes)), { method: "PUT" });
    expect(await statusAndCode(put)).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await statusAndCode(await req(url, loc, { method: "DELETE" }))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await listKeys(`${V2}/repositories/${repo}/`)).toEqual([]);
    expect(await getObject(blobKey(digestOf(bytes)))).toBeNull();
  });

  it("unknown or garbage session ids answer 404 BLOB_UPLOAD_UNKNOWN on every method", async () => {
    const repo = repoName("unknown");
    const ids = ["3f2b8c9e-1d4a-4b6c-8e2f-0a1b2c3d4e5f", "not-a-session", "0", "x".repeat(300), "..%2F..%2Fetc"];
    for (const id of ids) {
      const base = `${url}/v2/${repo}/blobs/uploads/${id}`;
      for (const [method, body] of [["GET"], ["DELETE"], ["PATCH", "abc"], ["PUT", undefined]] as const) {
        const target = method === "PUT" ? withDigest(base, EMPTY_DIGEST) : base;
        const res = await req(url, target, { method, body });
        expect(await statusAndCode(res), `${method} ${id}`).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
      }
    }
  });

  it("a session id used under another repository is unknown there (sessions are bound to their repository)", async () => {
    const repo = repoName("owner");
    const other = repoName("thief");
    const bytes = randomBytes(2048);
    const loc = await startUpload(url, repo);
    expectSession(await patch(loc, bytes.subarray(0, 1024), 0), 202, loc, "0-1023");
    const uuid = new URL(loc).pathname.split("/").pop()!;
    const foreign = `${url}/v2/${other}/blobs/uploads/${uuid}`;

    expect(await statusAndCode(await req(url, foreign))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await statusAndCode(await patch(foreign, bytes.subarray(1024), 1024))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    const put = await req(url, withDigest(foreign, digestOf(bytes)), { method: "PUT", body: bytes.subarray(1024) });
    expect(await statusAndCode(put)).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await statusAndCode(await req(url, foreign, { method: "DELETE" }))).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });

    // The owner's session was not touched by any of that.
    expectSession(await req(url, loc), 204, loc, "0-1023");
    expectSession(await patch(loc, bytes.subarray(1024), 1024), 202, loc, "0-2047");
    await expect201(await req(url, withDigest(loc, digestOf(bytes)), { method: "PUT" }), repo, digestOf(bytes));
    expect(await listKeys(`${V2}/repositories/${other}/`)).toEqual([]);
  });
});

describe("special blobs", () => {
  it("the empty blob, monolithic and via POST + PUT: 201, HEAD Content-Length 0, GET 0 bytes", async () => {
    const viaPut = repoName("empty-put");
    const mono = repoName("empty-mono");
    const loc = await startUpload(url, viaPut);
    await expect201(await req(url, withDigest(loc, EMPTY_DIGEST), { method: "PUT" }), viaPut, EMPTY_DIGEST);
    const res = await req(url, `/v2/${mono}/blobs/uploads/?digest=${EMPTY_DIGEST}`, { method: "POST", body: new Uint8Array(0) });
    await expect201(res, mono, EMPTY_DIGEST);
    for (const repo of [viaPut, mono]) {
      const head = await req(url, `/v2/${repo}/blobs/${EMPTY_DIGEST}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe("0");
      expect(head.headers.get("docker-content-digest")).toBe(EMPTY_DIGEST);
      expect((await pullVia307(repo, EMPTY_DIGEST)).byteLength).toBe(0);
      await expectStored(repo, EMPTY_DIGEST, new Uint8Array(0));
    }
  });

  it("re-pushing an existing blob answers 201 without rewriting its data", async () => {
    const repo = repoName("repush");
    const again = repoName("repush2");
    const bytes = randomBytes(64 * 1024);
    const digest = digestOf(bytes);
    const post = (r: string) => req(url, `/v2/${r}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes });
    await expect201(await post(repo), repo, digest);
    const stat = async () => {
      const h = await s3Fetch(blobKey(digest).split("/").map(encodeURIComponent).join("/"), { method: "HEAD" });
      expect(h.status).toBe(200);
      return { etag: h.headers.get("etag"), modified: h.headers.get("last-modified") };
    };
    const before = await stat();
    await new Promise((r) => setTimeout(r, 1100)); // Last-Modified has one-second resolution
    // The whole body again, monolithic and as a PUT at offset 0 (containerd): the stored copy is kept.
    await expect201(await post(repo), repo, digest);
    await expect201(await post(again), again, digest);
    const loc = await startUpload(url, again);
    await expect201(await req(url, withDigest(loc, digest), { method: "PUT", body: bytes }), again, digest);
    expect(await stat()).toEqual(before);
    // Through a session (PATCH + PUT): 201 (a blob of one part may be rewritten with the identical bytes).
    const loc2 = await startUpload(url, again);
    expectSession(await patch(loc2, bytes, 0), 202, loc2, `0-${bytes.byteLength - 1}`);
    await expect201(await req(url, withDigest(loc2, digest), { method: "PUT" }), again, digest);
    await expectStored(again, digest, bytes);
  });
});

describe("cross-repository mount", () => {
  it("mounts from a repository that has the blob (201), else opens a session (202)", async () => {
    const a = repoName("src");
    const b = repoName("dst");
    const c = repoName("empty");
    const bytes = randomBytes(4096);
    const digest = digestOf(bytes);
    await expect201(await req(url, `/v2/${a}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes }), a, digest);

    expect((await req(url, `/v2/${b}/blobs/${digest}`, { method: "HEAD" })).status).toBe(404);
    const mount = await req(url, `/v2/${b}/blobs/uploads/?mount=${digest}&from=${a}`, { method: "POST" });
    await expect201(mount, b, digest);
    const head = await req(url, `/v2/${b}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("4096");
    await expectStored(b, digest, bytes);

    // From a repository that does not have it: a fresh session, not a mount.
    const d = repoName("dst2");
    const miss = await req(url, `/v2/${d}/blobs/uploads/?mount=${digest}&from=${c}`, { method: "POST" });
    expect(miss.status).toBe(202);
    expect(UPLOAD_LOCATION(d).test(miss.headers.get("location") ?? "")).toBe(true);
    expect(miss.headers.get("range")).toBe("0-0");
    expect((await req(url, `/v2/${d}/blobs/${digest}`, { method: "HEAD" })).status).toBe(404);
    expect(await getObject(linkKey(d, digest))).toBeNull();

    // An unknown digest from a repository: also a session.
    const unknown = digestOf(randomBytes(16));
    const miss2 = await req(url, `/v2/${d}/blobs/uploads/?mount=${unknown}&from=${a}`, { method: "POST" });
    expect(miss2.status).toBe(202);

    // Without `from`, the blob exists somewhere in the registry: mounted.
    const e = repoName("nofrom");
    await expect201(await req(url, `/v2/${e}/blobs/uploads/?mount=${digest}`, { method: "POST" }), e, digest);
    expect((await req(url, `/v2/${e}/blobs/${digest}`, { method: "HEAD" })).status).toBe(200);

    // An invalid `from` name.
    const bad = await req(url, `/v2/${d}/blobs/uploads/?mount=${digest}&from=Not/Valid`, { method: "POST" });
    expect(await statusAndCode(bad)).toEqual({ status: 400, code: "NAME_INVALID" });
  });
});

describe("interrupted uploads", () => {
  it("a PATCH cut off mid-body leaves a resumable session: the client continues from the Range it is told", async () => {
    const repo = repoName("cut");
    const total = 6 * MiB;
    const bytes = randomBytes(total);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);
    const path = new URL(loc).pathname;
    const sent = 3 * MiB + 1234;
    const cut = await rawRequest(url, {
      method: "PATCH",
      path,
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(total) },
      body: bytes.subarray(0, sent),
      cutAfterBody: true,
    });
    expect(cut).toBeNull();

    // The status GET is serialised behind the broken PATCH in the session, so it reports what was kept.
    const st = await req(url, loc);
    expect(st.status).toBe(204);
    const range = st.headers.get("range") ?? "";
    const m = /^0-(\d+)$/.exec(range);
    expect(m, `Range ${range}`).not.toBeNull();
    const kept = Number(m![1]) + 1;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(sent);

    const rest = bytes.subarray(kept);
    expectSession(await patch(loc, rest, kept), 202, loc, `0-${total - 1}`);
    await expect201(await req(url, withDigest(loc, digest), { method: "PUT" }), repo, digest);
    await expectStored(repo, digest, bytes);
  });
});

describe("interrupted monolithic uploads", () => {
  it("a PUT carrying the whole blob cut off mid-body leaves no blob and no open multipart upload", async () => {
    const repo = repoName("cut-put");
    const total = 3 * CHUNK;
    const bytes = randomBytes(total);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);
    const path = `${new URL(loc).pathname}?digest=${digest}`;
    // Two full parts and a bit go out: the session has opened a multipart upload at the blob's key by then.
    const cut = await rawRequest(url, {
      method: "PUT",
      path,
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(total) },
      body: bytes.subarray(0, 2 * CHUNK + 1000),
      cutAfterBody: true,
    });
    expect(cut).toBeNull();
    // The session is serialised: once the status GET answers, the broken commit has finished (and cleaned up).
    const st = await statusAndCode(await req(url, loc));
    expect(st).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await getObject(blobKey(digest))).toBeNull();
    expect(await getObject(linkKey(repo, digest))).toBeNull();
    await expectNoOpenMultipart();
  });
});
