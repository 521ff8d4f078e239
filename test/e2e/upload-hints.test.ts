// Uploads written to the blob's key while they arrive. Clients like skopeo ask HEAD before they upload and name
// the digest only in the closing PUT; Berth takes the 404'd digest (or a failed mount's) as a hint and writes
// the bytes to that blob's key as they come, completing the write only once the digest is verified. Checked in
// the bucket: the multipart upload is open at the blob's key before the PUT and nothing is visible there; a
// wrong hint, swapped hints, a wrong digest, a cut-off PATCH and a cancel all end with exactly the right
// blobs stored and no multipart upload left open.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { getObject, listMultipartUploads } from "./harness/s3.js";
import { MiB, digestOf, pollUntil, rand, randomBytes, rawRequest, req, startUpload, statusAndCode, withDigest } from "./helpers/registry.js";

const ROOT = `t-hints-${rand()}`;
const V2 = `${ROOT}/docker/registry/v2`;
const CHUNK = 5 * MiB;

const hexOf = (digest: string) => digest.slice("sha256:".length);
const blobKey = (digest: string) => `${V2}/blobs/sha256/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;
const repoName = (what: string) => `hint-${rand(6)}/${what}`;

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

async function head404(repo: string, digest: string): Promise<void> {
  const res = await req(url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  expect(res.status).toBe(404);
}

async function patchAll(loc: string, bytes: Uint8Array): Promise<void> {
  const res = await req(url, loc, {
    method: "PATCH",
    body: bytes,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(bytes.byteLength) },
  });
  await res.body?.cancel();
  expect(res.status).toBe(202);
  expect(res.headers.get("range")).toBe(`0-${bytes.byteLength - 1}`);
}

async function put(loc: string, digest: string): Promise<Response> {
  return req(url, withDigest(loc, digest), { method: "PUT" });
}

async function openUploadsAt(key: string): Promise<number> {
  return (await listMultipartUploads(`${ROOT}/`)).filter((u) => u.key === key).length;
}

async function expectBlob(digest: string, bytes: Uint8Array): Promise<void> {
  const data = await getObject(blobKey(digest));
  expect(data, `blob data of ${digest}`).not.toBeNull();
  expect(data!.byteLength).toBe(bytes.byteLength);
  expect(Buffer.compare(Buffer.from(data!), Buffer.from(bytes))).toBe(0);
}

async function expectNoOpenMultipart(): Promise<void> {
  expect(await listMultipartUploads(`${ROOT}/`)).toEqual([]);
}

describe("uploads hinted by a HEAD", () => {
  it("HEAD 404, POST, PATCH: the bytes are already being written to the blob's key, invisible until the PUT verifies them", async () => {
    const repo = repoName("skopeo-order");
    const bytes = randomBytes(3 * CHUNK + 4321);
    const digest = digestOf(bytes);
    await head404(repo, digest);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    expect(await openUploadsAt(blobKey(digest))).toBe(1);
    expect(await getObject(blobKey(digest))).toBeNull();

    const res = await put(loc, digest);
    expect(res.status).toBe(201);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    await expectBlob(digest, bytes);
    await expectNoOpenMultipart();
    const head = await req(url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
  });

  it("a wrong hint (HEAD of one blob, upload of another) stores the uploaded blob and nothing at the hinted key", async () => {
    const repo = repoName("wrong");
    const hinted = digestOf(randomBytes(1000));
    const bytes = randomBytes(2 * CHUNK + 17);
    const digest = digestOf(bytes);
    await head404(repo, hinted);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    expect(await openUploadsAt(blobKey(hinted))).toBe(1);
    expect((await put(loc, digest)).status).toBe(201);
    await expectBlob(digest, bytes);
    expect(await getObject(blobKey(hinted))).toBeNull();
    await expectNoOpenMultipart();
  });

  it("two sessions that took each other's hint (layers pushed in parallel) both store their own blob", async () => {
    const repo = repoName("swapped");
    const a = randomBytes(2 * CHUNK + 5);
    const b = randomBytes(CHUNK + 99);
    const da = digestOf(a);
    const db = digestOf(b);
    await head404(repo, da);
    await head404(repo, db);
    const first = await startUpload(url, repo); // hinted with a
    const second = await startUpload(url, repo); // hinted with b
    await Promise.all([patchAll(first, b), patchAll(second, a)]);
    const [r1, r2] = await Promise.all([put(first, db), put(second, da)]);
    expect([r1.status, r2.status]).toEqual([201, 201]);
    await expectBlob(da, a);
    await expectBlob(db, b);
    await expectNoOpenMultipart();
  });

  it("a mount that finds nothing names the blob that follows: it is written to that key while it arrives", async () => {
    const repo = repoName("mount-miss");
    const bytes = randomBytes(2 * CHUNK + 1);
    const digest = digestOf(bytes);
    const res = await req(url, `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${repoName("elsewhere")}`, { method: "POST" });
    expect(res.status).toBe(202);
    const loc = new URL(res.headers.get("location")!, url).toString();
    await patchAll(loc, bytes);
    expect(await openUploadsAt(blobKey(digest))).toBe(1);
    expect((await put(loc, digest)).status).toBe(201);
    await expectBlob(digest, bytes);
    await expectNoOpenMultipart();
  });

  it("a PUT naming another digest than the bytes have: 400 DIGEST_INVALID, and the hinted write is aborted", async () => {
    const repo = repoName("bad-digest");
    const bytes = randomBytes(2 * CHUNK + 3);
    const digest = digestOf(bytes);
    const claimed = digestOf(randomBytes(10));
    await head404(repo, digest);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    expect(await statusAndCode(await put(loc, claimed))).toEqual({ status: 400, code: "DIGEST_INVALID" });
    expect(await getObject(blobKey(digest))).toBeNull();
    expect(await getObject(blobKey(claimed))).toBeNull();
    await expectNoOpenMultipart();
  });

  it("a hinted PATCH cut off mid-body resumes from the reported Range and stores the blob intact", async () => {
    const repo = repoName("cut");
    const bytes = randomBytes(3 * CHUNK + 777);
    const digest = digestOf(bytes);
    await head404(repo, digest);
    const loc = await startUpload(url, repo);
    const cut = await rawRequest(url, {
      method: "PATCH",
      path: new URL(loc).pathname,
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(bytes.byteLength) },
      body: bytes.subarray(0, 2 * CHUNK + 1000),
      cutAfterBody: true,
    });
    expect(cut).toBeNull();
    const st = await req(url, loc);
    expect(st.status).toBe(204);
    const kept = Number(/^0-(\d+)$/.exec(st.headers.get("range") ?? "")![1]) + 1;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(2 * CHUNK + 1000);
    const rest = bytes.subarray(kept);
    const res = await req(url, loc, {
      method: "PATCH",
      body: rest,
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(rest.byteLength),
        "Content-Range": `${kept}-${bytes.byteLength - 1}`,
      },
    });
    expect(res.status).toBe(202);
    expect((await put(loc, digest)).status).toBe(201);
    await expectBlob(digest, bytes);
    await expectNoOpenMultipart();
  });

  it("DELETE of a hinted session aborts its multipart upload", async () => {
    const repo = repoName("cancel");
    const bytes = randomBytes(2 * CHUNK + 9);
    const digest = digestOf(bytes);
    await head404(repo, digest);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    expect(await openUploadsAt(blobKey(digest))).toBe(1);
    expect((await req(url, loc, { method: "DELETE" })).status).toBe(204);
    expect(await getObject(blobKey(digest))).toBeNull();
    await expectNoOpenMultipart();
  });

  it("a blob smaller than one part needs no multipart upload: one PutObject after verification", async () => {
    const repo = repoName("small");
    const bytes = randomBytes(CHUNK - 1);
    const digest = digestOf(bytes);
    await head404(repo, digest);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    expect(await openUploadsAt(blobKey(digest))).toBe(0);
    expect(await getObject(blobKey(digest))).toBeNull();
    expect((await put(loc, digest)).status).toBe(201);
    await expectBlob(digest, bytes);
    await expectNoOpenMultipart();
  });

  it("the session's object loses its memory between PATCH and PUT: the spool is re-hashed, the forgotten multipart upload aborted, the blob stored", async () => {
    const repo = repoName("evicted");
    const bytes = randomBytes(2 * CHUNK + 321);
    const digest = digestOf(bytes);
    await head404(repo, digest);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    expect(await openUploadsAt(blobKey(digest))).toBe(1);
    await berth.reload(); // as when Cloudflare evicts an idle Durable Object: storage stays, memory goes
    const st = await req(url, loc);
    expect(st.status).toBe(204);
    expect(st.headers.get("range")).toBe(`0-${bytes.byteLength - 1}`);
    const res = await put(loc, digest);
    expect(res.status).toBe(201);
    await expectBlob(digest, bytes);
    await expectNoOpenMultipart();
  });

  it("without a hint, a session whose object lost its memory still verifies the digest over the spooled bytes", async () => {
    const repo = repoName("evicted-plain");
    const bytes = randomBytes(CHUNK + 5);
    const digest = digestOf(bytes);
    const loc = await startUpload(url, repo);
    await patchAll(loc, bytes);
    await berth.reload();
    expect(await statusAndCode(await put(loc, digestOf(randomBytes(3))))).toEqual({ status: 400, code: "DIGEST_INVALID" });
    const again = await startUpload(url, repo);
    await patchAll(again, bytes);
    await berth.reload();
    expect((await put(again, digest)).status).toBe(201);
    await expectBlob(digest, bytes);
    await expectNoOpenMultipart();
  });

  it("every ended session drops its spool: no session's storage keeps the megabytes it held", async () => {
    // Sessions of its own that end each way (committed, hinted and committed, refused, cancelled), 2 MiB+ each;
    // sessions of earlier tests have ended too, so every session's storage must shrink (their alarms free it).
    const repo = repoName("spools");
    const ended: string[] = [];
    for (const how of ["commit", "hinted", "refuse", "cancel"] as const) {
      const bytes = randomBytes(2 * MiB + 17);
      const digest = digestOf(bytes);
      if (how === "hinted") await head404(repo, digest);
      const loc = await startUpload(url, repo);
      await patchAll(loc, bytes);
      if (how === "cancel") expect((await req(url, loc, { method: "DELETE" })).status).toBe(204);
      else if (how === "refuse") expect(await statusAndCode(await put(loc, digestOf(randomBytes(3))))).toEqual({ status: 400, code: "DIGEST_INVALID" });
      else expect((await put(loc, digest)).status).toBe(201);
      ended.push(how);
    }
    const dir = path.join(berth.stateDir, "v3", "do");
    const sizes = () =>
      readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.includes("UploadSession") && f.endsWith(".sqlite"))
        .map((f) => statSync(path.join(dir, f)).size);
    expect(sizes().length, `session databases after ${ended.join(", ")}`).toBeGreaterThanOrEqual(ended.length);
    await pollUntil("session storage to be freed", async () => (sizes().every((n) => n < 1024 * 1024) ? true : undefined), 20_000);
    await expectNoOpenMultipart();
  });
});
