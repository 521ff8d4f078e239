// Blob reads and deletes through the router (end-2, end-3, end-10): HEAD from the link and the size, GET as a
// 307 to a presigned URL or, with REGISTRY_STORAGE_REDIRECT_DISABLE=true, streamed by the Worker with Range
// support (206/416), DELETE of the repository's link, the web UI's small-blob endpoint, and what each costs
// in requests to the bucket.
import { describe, expect, it } from "vitest";
import { SMALL_BLOB_MAX } from "../../src/registry/ui-blob";
import { absentDigest, pattern, readAll, sameBytes, sha256 } from "./support/content";
import { pushBlob } from "./support/flows";
import { expectError, expectStatus, registry, ROOT, TestRegistry } from "./support/registry";

const REPO = "team/app";
const STREAMED = { REGISTRY_STORAGE_REDIRECT_DISABLE: "true" };

const dataKey = (digest: string) => `${ROOT}/docker/registry/v2/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;

describe("blob HEAD", () => {
  it("200 with the size, digest and ETag, and no body", async () => {
    const r = registry();
    const digest = await pushBlob(r, REPO, pattern(1234));
    const res = await expectStatus(await r.call("HEAD", `/v2/${REPO}/blobs/${digest}`), 200);
    expect(Object.fromEntries(res.headers)).toMatchObject({
      "content-length": "1234",
      "docker-content-digest": digest,
      etag: `"${digest}"`,
      "accept-ranges": "bytes",
      "docker-distribution-api-version": "registry/2.0",
    });
    expect(await res.text()).toBe("");
  });

  it("404 without a body for a blob the repository does not link, even when another repository holds it", async () => {
    const r = registry();
    const digest = await pushBlob(r, "team/other", pattern(10));
    await expectError(await r.call("HEAD", `/v2/${REPO}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    await expectError(await r.call("HEAD", `/v2/${REPO}/blobs/${absentDigest()}`), 404, "BLOB_UNKNOWN");
  });

  it("costs no request right after the blob was committed here (monolithic or chunked), two from a cold isolate", async () => {
    const r = registry();
    const a = await pushBlob(r, REPO, pattern(100, 1));
    expect(await r.cost(async () => expectStatus(await r.call("HEAD", `/v2/${REPO}/blobs/${a}`), 200))).toEqual({});

    const b = pattern(100, 2);
    const post = await r.call("POST", `/v2/${REPO}/blobs/uploads/`);
    const location = post.headers.get("Location")!;
    await expectStatus(await r.call("PATCH", location, { body: b }), 202);
    await expectStatus(await r.call("PUT", `${location}?digest=${sha256(b)}`), 201);
    expect(await r.cost(async () => expectStatus(await r.call("HEAD", `/v2/${REPO}/blobs/${sha256(b)}`), 200))).toEqual({});

    // Another isolate over the same bucket: the link and the data's size, read at once.
    const cold = registry({ driver: r.driver });
    expect(await cold.cost(async () => expectStatus(await cold.call("HEAD", `/v2/${REPO}/blobs/${a}`), 200))).toEqual({ head: 2 });
    expect(await cold.cost(async () => expectStatus(await cold.call("HEAD", `/v2/${REPO}/blobs/${a}`), 200))).toEqual({});
  });
});

describe("blob GET with redirects (the default)", () => {
  it("307 to a presigned URL of the blob's data; the URL is reused, so the next GET costs nothing", async () => {
    const r = registry({ env: { BERTH_REDIRECT_EXPIRY: "10m" } });
    const digest = await pushBlob(r, REPO, pattern(500));
    let res!: Response;
    expect(await r.cost(async () => (res = await r.call("GET", `/v2/${REPO}/blobs/${digest}`)))).toEqual({ presignGet: 1 });
    expect(res.status).toBe(307);
    const location = res.headers.get("Location")!;
    expect(location).toBe(`https://bucket.invalid/${dataKey(digest)}?expires=${Math.floor(r.clock.t / 1000) + 600}`);
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(res.headers.get("Content-Length")).toBe("0");
    let again!: Response;
    expect(await r.cost(async () => (again = await r.call("GET", `/v2/${REPO}/blobs/${digest}`)))).toEqual({});
    expect(again.headers.get("Location")).toBe(location);
  });

  it("BLOB_UNKNOWN when the repository does not link the blob", async () => {
    const r = registry();
    const digest = await pushBlob(r, "team/other", pattern(10));
    await expectError(await r.call("GET", `/v2/${REPO}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expect(r.driver.calls.presignGet).toBe(0);
  });
});

describe("blob GET streamed by the Worker (REGISTRY_STORAGE_REDIRECT_DISABLE=true)", () => {
  const SIZE = 100;
  const blob = pattern(SIZE, 3);
  const digest = sha256(blob);

  async function setup() {
    const r = registry({ env: STREAMED });
    await pushBlob(r, REPO, blob);
    return r;
  }
  const get = (r: TestRegistry, range?: string) => r.call("GET", `/v2/${REPO}/blobs/${digest}`, { headers: range ? { Range: range } : {} });

  it("200 with the whole blob and its headers", async () => {
    const r = await setup();
    const res = await expectStatus(await get(r), 200);
    expect(res.headers.get("Content-Length")).toBe(String(SIZE));
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(res.headers.get("Accept-Ranges")).toBe("bytes");
    expect(res.headers.get("Content-Range")).toBeNull();
    expect(sameBytes(await readAll(res.body), blob)).toBe(true);
  });

  it.each([
    ["bytes=10-19", 10, 19],
    ["bytes=90-", 90, 99],
    ["bytes=90-500", 90, 99],
    ["bytes=-5", 95, 99],
    ["bytes=-500", 0, 99],
    ["bytes=0-0", 0, 0],
  ])("206 for %s: bytes %i-%i", async (range, start, end) => {
    const r = await setup();
    const res = await expectStatus(await get(r, range), 206);
    expect(res.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(res.headers.get("Content-Length")).toBe(String(end - start + 1));
    expect(sameBytes(await readAll(res.body), blob.subarray(start, end + 1))).toBe(true);
  });

  it.each(["bytes=100-", "bytes=150-200", "bytes=-0"])("416 SIZE_INVALID with Content-Range bytes */size for %s", async (range) => {
    const r = await setup();
    const res = await get(r, range);
    await expectError(res, 416, "SIZE_INVALID");
    expect(res.headers.get("Content-Range")).toBe(`bytes */${SIZE}`);
  });

  it.each(["bytes=20-10", "bytes=0-1,5-6", "items=0-5", "bytes=abc", "bytes=-", "bytes 0-5"])("ignores the invalid range %s: 200 whole", async (range) => {
    const r = await setup();
    const res = await expectStatus(await get(r, range), 200);
    expect(res.headers.get("Content-Length")).toBe(String(SIZE));
    expect(res.headers.get("Content-Range")).toBeNull();
  });

  it("costs one read of the data once the link and size are known", async () => {
    const r = await setup();
    expect(await r.cost(async () => readAll((await expectStatus(await get(r, "bytes=0-9"), 206)).body))).toEqual({ get: 1 });
  });

  it("BLOB_UNKNOWN for a blob not linked here", async () => {
    const r = await setup();
    await expectError(await r.call("GET", `/v2/team/other/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  });
});

describe("blob DELETE", () => {
  it("202 removes the repository's link only (the data stays for other repositories); one blob.delete", async () => {
    const r = registry();
    const digest = await pushBlob(r, REPO, pattern(64));
    await pushBlob(r, "team/other", pattern(64));
    r.events.length = 0;
    const res = await expectStatus(await r.call("DELETE", `/v2/${REPO}/blobs/${digest}`), 202);
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(r.events).toEqual([{ action: "blob.delete", repository: REPO, digest }]);
    // Forgotten at once in this isolate, though its link was cached.
    await expectError(await r.call("HEAD", `/v2/${REPO}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    await expectError(await r.call("GET", `/v2/${REPO}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expect((await r.call("HEAD", `/v2/team/other/blobs/${digest}`)).status).toBe(200);
    expect(r.driver.objects.has(dataKey(digest))).toBe(true);
    // A second delete finds nothing to delete.
    await expectError(await r.call("DELETE", `/v2/${REPO}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expect(r.events).toHaveLength(1);
  });

  it("405 UNSUPPORTED when deletes are disabled; the blob stays, no event", async () => {
    const r = registry({ env: { REGISTRY_STORAGE_DELETE_ENABLED: "false" } });
    const digest = await pushBlob(r, REPO, pattern(64));
    r.events.length = 0;
    await expectError(await r.call("DELETE", `/v2/${REPO}/blobs/${digest}`), 405, "UNSUPPORTED");
    expect((await r.call("HEAD", `/v2/${REPO}/blobs/${digest}`)).status).toBe(200);
    expect(r.events).toEqual([]);
  });
});

describe("small blobs for the web UI: GET /v2/_berth/ext/blobs/<name>/<digest>", () => {
  it("200 with the bytes as an attachment", async () => {
    const r = registry();
    const config = new TextEncoder().encode('{"os":"linux"}');
    const digest = await pushBlob(r, REPO, config);
    const res = await expectStatus(await r.call("GET", `/v2/_berth/ext/blobs/${REPO}/${digest}`), 200);
    expect(res.headers.get("Content-Type")).toBe("application/octet-stream");
    expect(res.headers.get("Content-Disposition")).toBe("attachment");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(await res.text()).toBe('{"os":"linux"}');
  });

  it("400 UNSUPPORTED above the size limit, BLOB_UNKNOWN when not linked, NAME_INVALID for a bad name", async () => {
    const r = registry();
    const big = pattern(SMALL_BLOB_MAX + 1);
    const digest = await pushBlob(r, REPO, big);
    const err = await expectError(await r.call("GET", `/v2/_berth/ext/blobs/${REPO}/${digest}`), 400, "UNSUPPORTED");
    expect(err.detail).toEqual({ digest, size: SMALL_BLOB_MAX + 1, limit: SMALL_BLOB_MAX });
    await expectError(await r.call("GET", `/v2/_berth/ext/blobs/team/other/${digest}`), 404, "BLOB_UNKNOWN");
    await expectError(await r.call("GET", `/v2/_berth/ext/blobs/Team/${digest}`), 400, "NAME_INVALID");
    await expectError(await r.call("HEAD", `/v2/_berth/ext/blobs/${REPO}/${digest}`), 405, "UNSUPPORTED");
  });
});
