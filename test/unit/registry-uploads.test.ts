// Blob uploads through the router (end-4a/4b, end-5, end-6, end-11, end-13 and the status GET): monolithic
// POST, POST + PATCH + PUT, PUT carrying the last chunk, status, cancel, cross-repository mounts, upload hints,
// and every error an upload can meet. Each successful upload records exactly one write event; a failed one
// records none and leaves nothing at the blob's key.
import { describe, expect, it } from "vitest";
import { MAX_SPOOL_BYTES } from "../../src/uploads/spool";
import { absentDigest, bytesOf, concat, cutOff, pattern, sameBytes, sha256, sha512, streamOf } from "./support/content";
import { openUpload, patch, pushBlob } from "./support/flows";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";

const REPO = "team/app";
const MiB = 1024 * 1024;
/** Part size of the sessions' blob writes in tests that need multipart uploads (S3's 5 MiB minimum is S3's business). */
const PART = 64 * 1024;

const blobKey = (digest: string) => {
  const hex = digest.split(":")[1]!;
  return `blobs/${digest.split(":")[0]}/${hex.slice(0, 2)}/${hex}/data`;
};

async function head(r: TestRegistry, repo: string, digest: string): Promise<Response> {
  return r.call("HEAD", `/v2/${repo}/blobs/${digest}`);
}

describe("monolithic upload: POST ?digest= with the blob", () => {
  it("stores the blob under its digest, links it, answers 201 with its location, and records one blob.commit", async () => {
    const r = registry();
    const blob = pattern(3000);
    const digest = sha256(blob);
    const res = await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${digest}`, { body: blob }), 201);
    expect(res.headers.get("Location")).toBe(`/v2/${REPO}/blobs/${digest}`);
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(res.headers.get("Content-Length")).toBe("0");
    expect(r.keys()).toEqual([blobKey(digest), `repositories/${REPO}/_layers/sha256/${digest.slice(7)}/link`]);
    expect(r.events).toEqual([{ action: "blob.commit", repository: REPO, digest, size: 3000 }]);
    const h = await expectStatus(await head(r, REPO, digest), 200);
    expect(h.headers.get("Content-Length")).toBe("3000");
  });

  it("takes an empty blob", async () => {
    const r = registry();
    const digest = sha256(new Uint8Array(0));
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${digest}`, { body: new Uint8Array(0) }), 201);
    expect(r.driver.objects.get(`root/docker/registry/v2/${blobKey(digest)}`)?.bytes.byteLength).toBe(0);
    expect(r.events).toEqual([{ action: "blob.commit", repository: REPO, digest, size: 0 }]);
  });

  it("takes a body without Content-Length, and a sha512 digest (verified from the spool)", async () => {
    const r = registry();
    const blob = pattern(5000, 3);
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`, { body: streamOf(blob.subarray(0, 10), blob.subarray(10)) }), 201);
    const d512 = sha512(blob);
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${d512}`, { body: blob }), 201);
    expect(r.keys("blobs/sha512/")).toEqual([blobKey(d512)]);
    expect(r.events.map((e) => e.action)).toEqual(["blob.commit", "blob.commit"]);
  });

  it("a blob the bucket already holds is linked without writing its data again", async () => {
    const r = registry();
    const blob = pattern(2000);
    const digest = await pushBlob(r, "other/repo", blob);
    const cost = await r.cost(() => pushBlob(r, REPO, blob));
    expect(cost.put).toBe(1); // the link
    expect(cost.createMultipart ?? 0).toBe(0);
    expect(r.events.at(-1)).toEqual({ action: "blob.commit", repository: REPO, digest, size: 2000 });
  });

  it("DIGEST_INVALID when the bytes hash to something else: nothing stored, no event", async () => {
    const r = registry();
    const res = await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha256("other bytes")}`, { body: pattern(100) });
    const err = await expectError(res, 400, "DIGEST_INVALID");
    expect(err.detail).toEqual({ expected: sha256("other bytes"), actual: sha256(pattern(100)) });
    expect(r.keys()).toEqual([]);
    expect(r.driver.openUploads()).toEqual([]);
    expect(r.events).toEqual([]);
  });

  it("DIGEST_INVALID for a malformed or unsupported digest, before any session exists", async () => {
    const r = registry();
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=sha256:xyz`, { body: "x" }), 400, "DIGEST_INVALID");
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=md5:${"a".repeat(32)}`, { body: "x" }), 400, "DIGEST_INVALID");
    expect(r.sessions.objects.size).toBe(0);
  });

  it("SIZE_INVALID when the body is shorter than its Content-Length, or the header is no number", async () => {
    const r = registry();
    const blob = pattern(100);
    const short = await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { "Content-Length": "150" } });
    expect((await expectError(short, 400, "SIZE_INVALID")).message).toBe("body ended after 100 of 150 bytes");
    const bad = await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { "Content-Length": "1e3" } });
    await expectError(bad, 400, "SIZE_INVALID");
    expect(r.keys()).toEqual([]);
    expect(r.events).toEqual([]);
  });

  it("SIZE_INVALID when the body breaks off: the multipart upload is aborted, nothing is visible", async () => {
    const r = registry({ partSize: PART });
    const blob = pattern(3 * PART);
    const res = await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`, { body: cutOff(blob.subarray(0, 2 * PART + 10)) });
    await expectError(res, 400, "SIZE_INVALID");
    expect(r.driver.calls.createMultipart).toBe(1);
    expect(r.driver.openUploads()).toEqual([]);
    expect(r.keys()).toEqual([]);
    expect(r.events).toEqual([]);
  });
});

describe("chunked upload: POST, PATCH…, PUT", () => {
  it("POST opens a session: 202 with Location, Range 0-0, the session id and the chunk limits", async () => {
    const r = registry({ env: { BERTH_CHUNK_MAX_LENGTH: String(50 * MiB) } });
    const res = await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/`), 202);
    const uuid = res.headers.get("Docker-Upload-UUID")!;
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.headers.get("Location")).toBe(`/v2/${REPO}/blobs/uploads/${uuid}`);
    expect(res.headers.get("Range")).toBe("0-0");
    expect(res.headers.get("OCI-Chunk-Min-Length")).toBe(String(10 * MiB));
    expect(res.headers.get("OCI-Chunk-Max-Length")).toBe(String(50 * MiB));
    expect(r.events).toEqual([]);
  });

  it("PATCHes advance the offset, GET reports it, PUT ?digest= commits; the session is gone afterwards", async () => {
    const r = registry();
    const blob = pattern(25_000);
    const digest = sha256(blob);
    const { location, uuid } = await openUpload(r, REPO);

    const p1 = await expectStatus(await patch(r, location, { body: blob.subarray(0, 10_000), headers: { "Content-Range": "0-9999" } }), 202);
    expect(p1.headers.get("Range")).toBe("0-9999");
    expect(p1.headers.get("Location")).toBe(location);
    expect(p1.headers.get("Docker-Upload-UUID")).toBe(uuid);
    // A streamed chunk: no Content-Range, no Content-Length.
    const p2 = await expectStatus(await patch(r, location, { body: streamOf(blob.subarray(10_000, 20_000)) }), 202);
    expect(p2.headers.get("Range")).toBe("0-19999");
    const p3 = await expectStatus(await patch(r, location, { body: blob.subarray(20_000), headers: { "Content-Range": "bytes 20000-24999/25000" } }), 202);
    expect(p3.headers.get("Range")).toBe("0-24999");

    const st = await expectStatus(await r.call("GET", location), 204);
    expect(st.headers.get("Range")).toBe("0-24999");
    expect(st.headers.get("Docker-Upload-UUID")).toBe(uuid);
    expect(r.events).toEqual([]);

    const put = await expectStatus(await r.call("PUT", `${location}?digest=${digest}`), 201);
    expect(put.headers.get("Location")).toBe(`/v2/${REPO}/blobs/${digest}`);
    expect(put.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(r.events).toEqual([{ action: "blob.commit", repository: REPO, digest, size: 25_000 }]);
    expect(sameBytes(r.blobData(digest), blob)).toBe(true);

    await expectError(await r.call("GET", location), 404, "BLOB_UPLOAD_UNKNOWN");
    // The ended session's spool is dropped by its alarm, right after.
    const session = r.sessionAt(location);
    expect(await r.sessions.fireDueAlarms()).toBe(1);
    expect(session.storage.empty).toBe(true);
  });

  it("a PUT may carry the last chunk, with or without Content-Range", async () => {
    const r = registry();
    const blob = pattern(3000, 7);
    const a = await openUpload(r, REPO);
    await expectStatus(await patch(r, a.location, { body: blob.subarray(0, 1000) }), 202);
    await expectStatus(await r.call("PUT", `${a.location}?digest=${sha256(blob)}`, { body: blob.subarray(1000), headers: { "Content-Range": "1000-2999" } }), 201);

    const other = pattern(3000, 8);
    const b = await openUpload(r, "team/other");
    await expectStatus(await patch(r, b.location, { body: other.subarray(0, 1) }), 202);
    await expectStatus(await r.call("PUT", `${b.location}?digest=${sha256(other)}`, { body: other.subarray(1) }), 201);
    expect(r.events.map((e) => [e.action, e.repository])).toEqual([
      ["blob.commit", REPO],
      ["blob.commit", "team/other"],
    ]);
  });

  it("a PUT carrying the whole blob into a fresh session streams it straight to its key", async () => {
    const r = registry();
    const blob = pattern(4000, 9);
    const { location } = await openUpload(r, REPO);
    await expectStatus(await r.call("PUT", `${location}?digest=${sha256(blob)}`, { body: blob }), 201);
    expect(r.sessionAt(location).storage.slices.rows.size).toBe(0); // never spooled
    expect(r.events).toHaveLength(1);
  });

  it("an empty session commits the empty blob", async () => {
    const r = registry();
    const digest = sha256(new Uint8Array(0));
    const { location } = await openUpload(r, REPO);
    await expectStatus(await r.call("PUT", `${location}?digest=${digest}`), 201);
    expect(r.events).toEqual([{ action: "blob.commit", repository: REPO, digest, size: 0 }]);
  });

  it("DELETE cancels: 204, the session is unknown from then on, and nothing was stored", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    await expectStatus(await patch(r, location, { body: pattern(100) }), 202);
    const res = await expectStatus(await r.call("DELETE", location), 204);
    expect(res.headers.get("Content-Length")).toBe("0");
    await expectError(await r.call("GET", location), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await patch(r, location, { body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await r.call("DELETE", location), 404, "BLOB_UPLOAD_UNKNOWN");
    await r.sessions.fireDueAlarms();
    expect(r.sessionAt(location).storage.empty).toBe(true);
    expect(r.keys()).toEqual([]);
    expect(r.events).toEqual([]);
  });
});

describe("upload errors", () => {
  it("BLOB_UPLOAD_INVALID 416 with the upload's Range for a chunk that does not start at the offset; the session keeps its bytes", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    await expectStatus(await patch(r, location, { body: pattern(10), headers: { "Content-Range": "0-9" } }), 202);
    for (const range of ["5-14", "11-20", "0-9"]) {
      const res = await patch(r, location, { body: pattern(10), headers: { "Content-Range": range } });
      await expectError(res, 416, "BLOB_UPLOAD_INVALID");
      expect(res.headers.get("Range")).toBe("0-9");
    }
    // The same on a PUT with a body.
    const put = await r.call("PUT", `${location}?digest=${sha256(pattern(20))}`, { body: pattern(10), headers: { "Content-Range": "0-9" } });
    await expectError(put, 416, "BLOB_UPLOAD_INVALID");
    expect(put.headers.get("Range")).toBe("0-9");
    expect((await r.call("GET", location)).headers.get("Range")).toBe("0-9");
    expect(r.events).toEqual([]);
  });

  it("BLOB_UPLOAD_INVALID 416 when Content-Range and Content-Length disagree, or Content-Range is malformed", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    const res = await patch(r, location, { body: pattern(5), headers: { "Content-Range": "0-9" } });
    await expectError(res, 416, "BLOB_UPLOAD_INVALID");
    expect(res.headers.get("Range")).toBe("0-0");
    for (const range of ["abc", "9-0", "0-9/5", "-5"]) {
      await expectError(await patch(r, location, { body: pattern(10), headers: { "Content-Range": range } }), 416, "BLOB_UPLOAD_INVALID");
    }
    expect((await r.call("GET", location)).headers.get("Range")).toBe("0-0");
  });

  it("BLOB_UPLOAD_UNKNOWN: a malformed id, an id never opened, an id of another repository", async () => {
    const r = registry();
    const { uuid } = await openUpload(r, REPO);
    await expectError(await r.call("PATCH", `/v2/${REPO}/blobs/uploads/not-a-uuid`, { body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await r.call("GET", `/v2/${REPO}/blobs/uploads/${uuid.toUpperCase()}`), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await r.call("GET", `/v2/${REPO}/blobs/uploads/${crypto.randomUUID()}`), 404, "BLOB_UPLOAD_UNKNOWN");
    // The session's id under another repository reaches another (empty) object, never this upload.
    await expectError(await r.call("PATCH", `/v2/team/other/blobs/uploads/${uuid}`, { body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await r.call("PUT", `/v2/team/other/blobs/uploads/${uuid}?digest=${sha256("x")}`, { body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await r.call("DELETE", `/v2/team/other/blobs/uploads/${uuid}`), 404, "BLOB_UPLOAD_UNKNOWN");
    expect((await r.call("GET", `/v2/${REPO}/blobs/uploads/${uuid}`)).status).toBe(204);
  });

  it("DIGEST_INVALID at PUT: missing, malformed, or not the bytes' digest; a mismatch ends the session and stores nothing", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    await expectStatus(await patch(r, location, { body: pattern(300) }), 202);
    await expectError(await r.call("PUT", location), 400, "DIGEST_INVALID");
    await expectError(await r.call("PUT", `${location}?digest=`), 400, "DIGEST_INVALID");
    await expectError(await r.call("PUT", `${location}?digest=sha256:123`), 400, "DIGEST_INVALID");
    expect((await r.call("GET", location)).status).toBe(204); // refused before the session saw them

    const wrong = sha256("not these bytes");
    const err = await expectError(await r.call("PUT", `${location}?digest=${wrong}`), 400, "DIGEST_INVALID");
    expect(err.detail).toEqual({ expected: wrong, actual: sha256(pattern(300)) });
    expect(r.keys()).toEqual([]);
    await expectError(await r.call("GET", location), 404, "BLOB_UPLOAD_UNKNOWN");
    expect(r.events).toEqual([]);
  });

  it("SIZE_INVALID when a PUT's last chunk is shorter than its Content-Length", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    await expectStatus(await patch(r, location, { body: pattern(10) }), 202);
    const res = await r.call("PUT", `${location}?digest=${sha256(pattern(20))}`, { body: pattern(10), headers: { "Content-Length": "20" } });
    expect((await expectError(res, 400, "SIZE_INVALID")).message).toBe("body ended after 10 of 20 bytes");
    expect(r.keys()).toEqual([]);
  });

  it("SIZE_INVALID 413 when a session would hold more than it may spool", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    const session = r.sessionAt(location);
    // A session that already spooled the most it may (its state says so; the bytes are not needed here).
    const st = (await session.storage.get<{ offset: number }>("state"))!;
    await session.storage.put("state", { ...st, offset: MAX_SPOOL_BYTES });
    const res = await patch(r, location, { body: pattern(1), headers: { "Content-Range": `${MAX_SPOOL_BYTES}-${MAX_SPOOL_BYTES}` } });
    const err = await expectError(res, 413, "SIZE_INVALID");
    expect(err.message).toContain(String(MAX_SPOOL_BYTES));
    expect((await r.call("GET", location)).headers.get("Range")).toBe(`0-${MAX_SPOOL_BYTES - 1}`);
  });

  it("a PATCH whose body breaks off keeps what arrived; the client resumes from the Range", async () => {
    const r = registry();
    const blob = pattern(3 * MiB, 4);
    const { location } = await openUpload(r, REPO);
    const cut = await expectStatus(await patch(r, location, { body: cutOff(blob.subarray(0, MiB + 5)) }), 202);
    expect(cut.headers.get("Range")).toBe(`0-${MiB + 4}`);
    await expectStatus(await patch(r, location, { body: blob.subarray(MiB + 5), headers: { "Content-Range": `${MiB + 5}-${3 * MiB - 1}` } }), 202);
    await expectStatus(await r.call("PUT", `${location}?digest=${sha256(blob)}`), 201);
    expect(sameBytes(r.blobData(sha256(blob)), blob)).toBe(true);
  });
});

describe("cross-repository mount", () => {
  it("with from: 201 when the source holds the blob; one blob.mount event naming the source", async () => {
    const r = registry();
    const digest = await pushBlob(r, "team/base", pattern(500));
    r.events.length = 0;
    const res = await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=${digest}&from=team/base`), 201);
    expect(res.headers.get("Location")).toBe(`/v2/${REPO}/blobs/${digest}`);
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(r.events).toEqual([{ action: "blob.mount", repository: REPO, digest, from: "team/base" }]);
    expect((await head(r, REPO, digest)).status).toBe(200);
    expect(r.sessions.objects.size).toBe(1); // only the source's upload: the mount opened none
  });

  it("with from: a session (202) when the source lacks the blob or the caller may not read it", async () => {
    const r = registry();
    const digest = await pushBlob(r, "team/base", pattern(500));
    await pushBlob(r, "secret/base", pattern(600));
    r.events.length = 0;
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=${digest}&from=team/empty`), 202);
    r.access.deny("read", { repo: "team/base" });
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=${digest}&from=team/base`), 202);
    expect(r.events).toEqual([]);
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=${digest}&from=Team/Base`), 400, "NAME_INVALID");
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=sha256:abc&from=team/base`), 400, "DIGEST_INVALID");
  });

  it("without from: 201 from anywhere when everything is readable, else a session", async () => {
    const r = registry();
    const digest = await pushBlob(r, "team/base", pattern(500));
    r.events.length = 0;
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=${digest}`), 201);
    expect(r.events).toEqual([{ action: "blob.mount", repository: REPO, digest, from: null }]);
    r.access.setReadsEverything(false);
    await expectStatus(await r.call("POST", `/v2/team/third/blobs/uploads/?mount=${digest}`), 202);
    expect(r.events).toHaveLength(1);
  });
});

describe("upload hints", () => {
  it("a blob HEAD that missed makes the next session write to that blob's key while the bytes arrive", async () => {
    const r = registry({ partSize: PART });
    const blob = pattern(3 * PART + 100, 5);
    const digest = sha256(blob);
    await expectError(await head(r, REPO, digest), 404, "BLOB_UNKNOWN");
    const { location } = await openUpload(r, REPO);
    expect((await r.sessionAt(location).storage.get<{ hint: string }>("state"))?.hint).toBe(digest);
    await expectStatus(await patch(r, location, { body: blob }), 202);
    expect(r.driver.openUploads()).toHaveLength(1); // the direct write, not yet visible
    expect(r.keys("blobs/")).toEqual([]);
    const cost = await r.cost(async () => expectStatus(await r.call("PUT", `${location}?digest=${digest}`), 201));
    // Only the short last part is left to send, then the upload is completed and the link written: no re-upload.
    expect(cost).toEqual({ uploadPart: 1, completeMultipart: 1, put: 1 });
    expect(r.driver.openUploads()).toEqual([]);
    expect(sameBytes(r.blobData(digest), blob)).toBe(true);
    // The next session of the repository gets no stale hint.
    const next = await openUpload(r, REPO);
    expect((await r.sessionAt(next.location).storage.get<{ hint: string | null }>("state"))?.hint).toBeNull();
  });

  it("a mount that found nothing hints its digest to the session it opens", async () => {
    const r = registry();
    const digest = absentDigest("a");
    const { location } = await openUpload(r, REPO, `?mount=${digest}&from=team/base`);
    expect((await r.sessionAt(location).storage.get<{ hint: string }>("state"))?.hint).toBe(digest);
  });

  it("a wrong hint costs nothing but the speculative write: it is aborted and the spool uploaded", async () => {
    const r = registry({ partSize: PART });
    const hinted = sha256(pattern(10, 1));
    await head(r, REPO, hinted);
    const blob = pattern(3 * PART + 100, 6);
    const { location } = await openUpload(r, REPO);
    await expectStatus(await patch(r, location, { body: blob }), 202);
    await expectStatus(await r.call("PUT", `${location}?digest=${sha256(blob)}`), 201);
    expect(r.driver.calls.abortMultipart).toBeGreaterThanOrEqual(1);
    expect(r.driver.openUploads()).toEqual([]);
    expect(r.keys("blobs/")).toEqual([blobKey(sha256(blob))]);
    expect(r.events).toEqual([{ action: "blob.commit", repository: REPO, digest: sha256(blob), size: blob.byteLength }]);
  });
});

describe("concatenated chunks", () => {
  it("many small chunks make the same blob as one", async () => {
    const r = registry();
    const parts = Array.from({ length: 20 }, (_, i) => bytesOf(`chunk-${i};`));
    const blob = concat(...parts);
    const { location } = await openUpload(r, REPO);
    let offset = 0;
    for (const p of parts) {
      const res = await expectStatus(await patch(r, location, { body: p, headers: { "Content-Range": `${offset}-${offset + p.byteLength - 1}` } }), 202);
      offset += p.byteLength;
      expect(res.headers.get("Range")).toBe(`0-${offset - 1}`);
    }
    await expectStatus(await r.call("PUT", `${location}?digest=${sha256(blob)}`), 201);
    expect(sameBytes(r.blobData(sha256(blob)), blob)).toBe(true);
  });
});
