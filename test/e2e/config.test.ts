// Configuration end to end: a bad setting fails every request with 500 UNKNOWN naming the setting (never its
// secret value); SigV2 (REGISTRY_STORAGE_S3_V4AUTH=false) pushes and pulls, presigned URLs included; a wrong
// secret key fails S3 calls without leaking the key; an idle upload session expires after
// REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE (the session Durable Object's alarm) and /metrics counts it.
// The five instances start at once (each ~1.5 s alone) and share one root directory.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { getObject, listKeys, s3Settings } from "./harness/s3.js";
import {
  MiB,
  digestOf,
  pollUntil,
  pushBlob,
  rand,
  randomBytes,
  req,
  startUpload,
  statusAndCode,
  withDigest,
} from "./helpers/registry.js";

const ROOT = `t-config-${rand()}`;
const V2 = `${ROOT}/docker/registry/v2`;
const WRONG_SECRET = `wrong-${rand(16)}`;
const PURGE_AGE_S = 2;
const repoName = (what: string) => `cfg-${rand(6)}/${what}`;
const hexOf = (digest: string) => digest.slice("sha256:".length);
const blobKey = (digest: string) => `${V2}/blobs/sha256/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;

let badChunk: Berth;
let badBool: Berth;
let sigv2: Berth;
let wrongSecret: Berth;
let expiring: Berth;
const all = () => [badChunk, badBool, sigv2, wrongSecret, expiring].filter((b): b is Berth => !!b);

beforeAll(async () => {
  const base = { REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * MiB) };
  [badChunk, badBool, sigv2, wrongSecret, expiring] = await Promise.all([
    startBerth({ ...base, REGISTRY_STORAGE_S3_CHUNKSIZE: "123" }),
    startBerth({ ...base, REGISTRY_STORAGE_S3_V4AUTH: "maybe" }),
    startBerth({ ...base, REGISTRY_STORAGE_S3_V4AUTH: "false" }),
    startBerth({ ...base, REGISTRY_STORAGE_S3_SECRETKEY: WRONG_SECRET }),
    startBerth({ ...base, REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: `${PURGE_AGE_S}s` }),
  ]);
});

afterAll(async () => {
  await Promise.all(all().map((b) => b.stop()));
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") {
    for (const b of all()) console.error(`--- ${b.url} logs (tail)\n${b.logs().slice(-3000)}`);
  }
});

/** A 500 UNKNOWN whose message names `setting`, and whose body holds neither secret. */
async function expectConfigError(res: Response, setting: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(500);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
  expect(body.errors[0]?.code).toBe("UNKNOWN");
  expect(body.errors[0]?.message).toContain(setting);
  expect(text.includes(s3Settings().secretKey)).toBe(false);
  expect(text).not.toMatch(/\n\s+at\s/);
}

describe("an invalid setting fails every request with 500 UNKNOWN naming it", () => {
  it("REGISTRY_STORAGE_S3_CHUNKSIZE=123 (below the 5 MiB minimum)", async () => {
    const digest = digestOf(randomBytes(8));
    await expectConfigError(await req(badChunk.url, "/v2/"), "REGISTRY_STORAGE_S3_CHUNKSIZE");
    await expectConfigError(await req(badChunk.url, `/v2/any/blobs/${digest}`), "REGISTRY_STORAGE_S3_CHUNKSIZE");
    await expectConfigError(await req(badChunk.url, "/v2/any/blobs/uploads/", { method: "POST" }), "REGISTRY_STORAGE_S3_CHUNKSIZE");
    await expectConfigError(await req(badChunk.url, "/v2/any/tags/list"), "REGISTRY_STORAGE_S3_CHUNKSIZE");
    const head = await req(badChunk.url, `/v2/any/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(500);
    expect(await head.text()).toBe("");
  });

  it("REGISTRY_STORAGE_S3_V4AUTH=maybe: the message names the setting and never holds the secret key", async () => {
    const res = await req(badBool.url, "/v2/");
    const text = await res.clone().text();
    await expectConfigError(res, "REGISTRY_STORAGE_S3_V4AUTH");
    expect(text).not.toContain("testing"); // the run's S3 secret key, spelled out
    // Configuration is checked before routing: an unknown path and an invalid name get it too, not a 404/400.
    await expectConfigError(await req(badBool.url, "/nowhere"), "REGISTRY_STORAGE_S3_V4AUTH");
    await expectConfigError(await req(badBool.url, "/v2/Bad//Name/tags/list"), "REGISTRY_STORAGE_S3_V4AUTH");
  });
});

describe("REGISTRY_STORAGE_S3_V4AUTH=false (AWS Signature Version 2)", () => {
  it("pushes monolithic and chunked blobs and pulls them byte-identical through SigV2-presigned redirects", async () => {
    const repo = repoName("sigv2");
    const small = randomBytes(100_000);
    const smallDigest = await pushBlob(sigv2.url, repo, small);

    const big = randomBytes(5 * MiB + 300_000);
    const bigDigest = digestOf(big);
    const loc = await startUpload(sigv2.url, repo);
    const cut = 3 * MiB;
    for (const [start, end] of [
      [0, cut],
      [cut, big.byteLength],
    ] as const) {
      const res = await req(sigv2.url, loc, {
        method: "PATCH",
        body: big.subarray(start, end),
        headers: { "Content-Range": `${start}-${end - 1}` },
      });
      expect(res.status).toBe(202);
      expect(res.headers.get("range")).toBe(`0-${end - 1}`);
    }
    const put = await req(sigv2.url, withDigest(loc, bigDigest), { method: "PUT" });
    expect(put.status).toBe(201);

    for (const [digest, bytes] of [
      [smallDigest, small],
      [bigDigest, big],
    ] as const) {
      const head = await req(sigv2.url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
      const get = await req(sigv2.url, `/v2/${repo}/blobs/${digest}`);
      expect(get.status).toBe(307);
      const location = new URL(get.headers.get("location") ?? "");
      expect(`${location.protocol}//${location.host}`).toBe(s3Settings().endpoint);
      // SigV2 query authentication, not SigV4.
      expect(location.searchParams.get("Signature")).toBeTruthy();
      expect(location.searchParams.get("Expires")).toMatch(/^\d+$/);
      expect(location.searchParams.get("X-Amz-Algorithm")).toBeNull();
      const blob = await fetch(location, { signal: AbortSignal.timeout(30_000) });
      expect(blob.status).toBe(200);
      const got = new Uint8Array(await blob.arrayBuffer());
      expect(digestOf(got)).toBe(digest);
      // The data really is in the bucket where a SigV4 reader finds it.
      expect(digestOf((await getObject(blobKey(digest)))!)).toBe(digest);
    }
  });
});

describe("a wrong REGISTRY_STORAGE_S3_SECRETKEY", () => {
  it("fails S3 calls with 500 UNKNOWN and never shows the key", async () => {
    const digest = digestOf(randomBytes(8));
    const head = await req(wrongSecret.url, `/v2/any/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(500);
    expect(await head.text()).toBe("");

    const bodies: string[] = [];
    for (const [path, init] of [
      [`/v2/any/blobs/${digest}`, {}],
      [`/v2/any/blobs/uploads/?digest=${digestOf("x")}`, { method: "POST", body: "x" }],
      ["/v2/any/tags/list", {}],
    ] as [string, RequestInit][]) {
      const res = await req(wrongSecret.url, path, init);
      const text = await res.text();
      bodies.push(text);
      expect(res.status, `${path}: ${text}`).toBe(500);
      expect((JSON.parse(text) as { errors: { code: string }[] }).errors[0]?.code).toBe("UNKNOWN");
    }
    for (const text of bodies) {
      expect(text.includes(WRONG_SECRET)).toBe(false);
      expect(text).not.toMatch(/\n\s+at\s/);
    }
    // Nothing was written by the refused monolithic push.
    expect((await listKeys(`${V2}/repositories/any/`)).length).toBe(0);
  });
});

describe("REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", () => {
  it(`an idle upload session expires after ${PURGE_AGE_S}s: GET status answers 404 BLOB_UPLOAD_UNKNOWN`, async () => {
    const repo = repoName("expiry");
    const bytes = randomBytes(MiB);
    const loc = await startUpload(expiring.url, repo);
    const patch = await req(expiring.url, loc, { method: "PATCH", body: bytes, headers: { "Content-Range": `0-${MiB - 1}` } });
    expect(patch.status).toBe(202);
    const startedIdle = Date.now();
    // Alive right after the PATCH.
    const st = await req(expiring.url, loc);
    expect(st.status).toBe(204);
    expect(st.headers.get("range")).toBe(`0-${MiB - 1}`);

    // Bounded poll: the alarm should end the session shortly after PURGE_AGE_S of idleness. The status GET does
    // not count as activity (only received bytes do), so polling does not keep the session alive.
    const deadline = startedIdle + (PURGE_AGE_S + 8) * 1000;
    let last: { status: number; code: string | undefined } = { status: 0, code: undefined };
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      last = await statusAndCode(await req(expiring.url, loc));
      if (last.status === 404) break;
    }
    const expiredAfterMs = Date.now() - startedIdle;
    expect(last).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(expiredAfterMs).toBeGreaterThanOrEqual(PURGE_AGE_S * 1000 - 500);

    // The expired session takes no more bytes, and completing it fails.
    const more = await req(expiring.url, loc, { method: "PATCH", body: bytes, headers: { "Content-Range": `${MiB}-${2 * MiB - 1}` } });
    expect(await statusAndCode(more)).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    const put = await req(expiring.url, withDigest(loc, digestOf(bytes)), { method: "PUT" });
    expect(await statusAndCode(put)).toEqual({ status: 404, code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await getObject(blobKey(digestOf(bytes)))).toBeNull();

    // The session object counted its expiry, and its count reached the metrics (REGISTRY_AUTH=none: open).
    await pollUntil(
      "the expiry in /metrics",
      async () => {
        const text = await (await req(expiring.url, "/metrics")).text();
        const n = Number(/^berth_upload_sessions_expired_total (\d+)$/m.exec(text)?.[1] ?? 0);
        return n >= 1 ? n : undefined;
      },
      15_000,
      500,
    );
  });

  it("a session that keeps receiving bytes outlives the purge age", async () => {
    const repo = repoName("alive");
    const loc = await startUpload(expiring.url, repo);
    const chunk = randomBytes(1000);
    let off = 0;
    const started = Date.now();
    // Activity every ~0.7 s for ~1.5x the purge age.
    while (Date.now() - started < PURGE_AGE_S * 1500) {
      const res = await req(expiring.url, loc, { method: "PATCH", body: chunk, headers: { "Content-Range": `${off}-${off + 999}` } });
      expect(res.status, `after ${Date.now() - started} ms`).toBe(202);
      off += 1000;
      await new Promise((r) => setTimeout(r, 700));
    }
    const st = await req(expiring.url, loc);
    expect(st.status).toBe(204);
    expect(st.headers.get("range")).toBe(`0-${off - 1}`);
    await req(expiring.url, loc, { method: "DELETE" });
  });
});
