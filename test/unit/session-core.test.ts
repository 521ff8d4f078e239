// The upload session's logic (UploadSessionCore) over memory: offsets, Content-Range checks, bodies that break
// off, the commit's verification (from the running hash, or from the spool once the object lost its memory),
// the hinted write to the blob's key while bytes arrive, expiry by the alarm, cancel, and the monolithic
// commit. Nothing becomes visible at a blob's key before its digest matched, and no multipart upload is left
// open, whatever happens.
import { describe, expect, it, vi } from "vitest";
import { storageOn } from "../../src/storage";
import { MemoryDriver } from "../../src/storage/driver/memory";
import type { RpcError, RpcResult, UploadChunk } from "../../src/uploads/protocol";
import { absentDigest, cutOff, pattern, sameBytes, sha256, sha512, streamOf } from "./support/content";
import { Clock } from "./support/memory";
import { ROOT, SessionObject } from "./support/registry";

const REPO = "team/app";
const UUID = "5b0d7a52-2c61-4b8e-9a43-0e6c1f6a9d11";
const PART = 64 * 1024;
const HOUR = 3_600_000;
const MiB = 1024 * 1024;

function setup(opts: { partSize?: number; expiryMs?: number; drainLimit?: number } = {}) {
  const clock = new Clock();
  const driver = new MemoryDriver(clock.now);
  const blobs = storageOn(driver, ROOT).blobs;
  const session = new SessionObject({ blobs, partSize: opts.partSize ?? PART, expiryMs: opts.expiryMs ?? HOUR, drainLimit: opts.drainLimit, clock });
  const blobData = (digest: string) => {
    const [alg, hex] = digest.split(":") as [string, string];
    return driver.objects.get(`${ROOT}/docker/registry/v2/blobs/${alg}/${hex.slice(0, 2)}/${hex}/data`)?.bytes;
  };
  return { clock, driver, blobs, session, blobData };
}

/** A chunk as the handler builds it from a request (Content-Length given unless null). */
function chunk(bytes: Uint8Array, opts: { range?: [number, number]; length?: number | null; body?: ReadableStream<Uint8Array> } = {}): UploadChunk {
  return {
    body: opts.body ?? streamOf(bytes),
    range: opts.range ? { start: opts.range[0], end: opts.range[1] } : null,
    length: opts.length === undefined ? bytes.byteLength : opts.length,
  };
}
const NO_BODY: UploadChunk = { body: null, range: null, length: 0 };

function ok<T>(r: RpcResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

function failed<T>(r: RpcResult<T>, code: RpcError["code"], status: number) {
  if (r.ok) throw new Error(`expected ${code}, got success`);
  expect({ code: r.error.code, status: r.error.status }).toEqual({ code, status });
  return r.error;
}

describe("offsets", () => {
  it("begin opens the session at offset 0 and arms its expiry", async () => {
    const { session, clock } = setup();
    expect(ok(await session.core.begin(REPO, UUID, null))).toEqual({ uuid: UUID, repo: REPO, offset: 0 });
    expect(session.storage.alarm).toBe(clock.t + HOUR);
    expect(ok(await session.core.status(REPO, UUID))).toEqual({ uuid: UUID, repo: REPO, offset: 0 });
  });

  it("appends advance the offset by what was stored, across 1 MiB spool slices, with or without Content-Range", async () => {
    const { session } = setup();
    const core = session.core;
    ok(await core.begin(REPO, UUID, null));
    const blob = pattern(2 * MiB + 300);
    expect(ok(await core.append(REPO, UUID, chunk(blob.subarray(0, MiB + 100), { range: [0, MiB + 99] }))).offset).toBe(MiB + 100);
    expect(ok(await core.append(REPO, UUID, chunk(blob.subarray(MiB + 100), { length: null }))).offset).toBe(blob.byteLength);
    expect(ok(await core.status(REPO, UUID)).offset).toBe(blob.byteLength);
    expect(session.storage.slices.bytes).toBe(blob.byteLength);
    // An empty chunk changes nothing.
    expect(ok(await core.append(REPO, UUID, NO_BODY)).offset).toBe(blob.byteLength);
  });

  it("requests are handled one at a time, in order", async () => {
    const { session } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    const a = pattern(1000, 1);
    const b = pattern(1000, 2);
    const [ra, rb] = await Promise.all([
      session.core.append(REPO, UUID, chunk(a, { range: [0, 999] })),
      session.core.append(REPO, UUID, chunk(b, { range: [1000, 1999] })),
    ]);
    expect([ok(ra).offset, ok(rb).offset]).toEqual([1000, 2000]);
    expect(ok(await session.core.commit(REPO, UUID, sha256(new Uint8Array([...a, ...b])), NO_BODY)).size).toBe(2000);
  });
});

describe("Content-Range", () => {
  it("a chunk that does not start at the offset is refused with 416 and the Range to resume from", async () => {
    const { session } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(pattern(10), { range: [0, 9] })));
    for (const range of [[0, 9], [5, 14], [11, 20]] as [number, number][]) {
      const err = failed(await session.core.append(REPO, UUID, chunk(pattern(10), { range })), "BLOB_UPLOAD_INVALID", 416);
      expect(err.headers).toEqual({ Range: "0-9" });
    }
    expect(ok(await session.core.status(REPO, UUID)).offset).toBe(10);
  });

  it("a Content-Range whose length is not the Content-Length is refused with 416", async () => {
    const { session } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    const err = failed(await session.core.append(REPO, UUID, chunk(pattern(10), { range: [0, 19] })), "BLOB_UPLOAD_INVALID", 416);
    expect(err.headers).toEqual({ Range: "0-0" });
    // Without a Content-Length, only the start is checked.
    expect(ok(await session.core.append(REPO, UUID, chunk(pattern(10), { range: [0, 9], length: null }))).offset).toBe(10);
  });

  it("a refused chunk's body is read to its end first (so the client sees the answer, not a reset), up to the drain limit", async () => {
    const { session } = setup({ drainLimit: 100 * 1024 });
    ok(await session.core.begin(REPO, UUID, null));
    let pulled = 0;
    const counting = (pieces: number) =>
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (pulled >= pieces) return c.close();
          pulled++;
          c.enqueue(new Uint8Array(16 * 1024));
        },
      });
    failed(await session.core.append(REPO, UUID, chunk(new Uint8Array(0), { range: [5, 5], length: null, body: counting(4) })), "BLOB_UPLOAD_INVALID", 416);
    expect(pulled).toBe(4);
    pulled = 0;
    // Past the limit the body is cancelled instead.
    failed(await session.core.append(REPO, UUID, chunk(new Uint8Array(0), { range: [5, 5], length: null, body: counting(1000) })), "BLOB_UPLOAD_INVALID", 416);
    expect(pulled).toBeLessThan(20);
  });
});

describe("bodies that break off", () => {
  it("keeps what arrived, the offset says so, and the upload resumes and verifies without re-hashing", async () => {
    const { session, blobData } = setup();
    const blob = pattern(2 * MiB, 3);
    ok(await session.core.begin(REPO, UUID, null));
    const cut = ok(await session.core.append(REPO, UUID, chunk(blob, { length: null, body: cutOff(blob.subarray(0, MiB), blob.subarray(MiB, MiB + 77)) })));
    expect(cut.offset).toBe(MiB + 77);
    ok(await session.core.append(REPO, UUID, chunk(blob.subarray(MiB + 77), { range: [MiB + 77, 2 * MiB - 1] })));
    expect(ok(await session.core.commit(REPO, UUID, sha256(blob), NO_BODY))).toEqual({ digest: sha256(blob), size: blob.byteLength });
    expect(session.hashing.streamsHashed).toBe(0);
    expect(sameBytes(blobData(sha256(blob)), blob)).toBe(true);
  });

  it("a cut-off last chunk with a Content-Length fails the commit with SIZE_INVALID and stores nothing", async () => {
    const { session, driver } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(pattern(100))));
    const blob = pattern(300);
    failed(await session.core.commit(REPO, UUID, sha256(blob), chunk(blob.subarray(100), { body: cutOff(blob.subarray(100, 150)) })), "SIZE_INVALID", 400);
    expect(driver.keys()).toEqual([]);
    failed(await session.core.status(REPO, UUID), "BLOB_UPLOAD_UNKNOWN", 404);
  });
});

describe("commit", () => {
  it("verifies the digest first: a mismatch is DIGEST_INVALID, nothing reaches the bucket, the session ends and its storage goes", async () => {
    const { session, driver, clock } = setup();
    const blob = pattern(5000);
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    const wrong = absentDigest("b");
    const err = failed(await session.core.commit(REPO, UUID, wrong, NO_BODY), "DIGEST_INVALID", 400);
    expect(err.detail).toEqual({ expected: wrong, actual: sha256(blob) });
    expect(driver.keys()).toEqual([]);
    expect(driver.requests).toBe(0);
    failed(await session.core.append(REPO, UUID, chunk(blob)), "BLOB_UPLOAD_UNKNOWN", 404);
    // Its spool is dropped by the alarm, set to fire at once.
    expect(session.storage.alarm).toBe(clock.t);
    expect(await session.fireAlarm()).toBe(true);
    expect(session.storage.empty).toBe(true);
  });

  it("writes the verified blob to its key and links it", async () => {
    const { session, driver, blobData } = setup();
    const blob = pattern(3 * PART + 5);
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    expect(ok(await session.core.commit(REPO, UUID, sha256(blob), NO_BODY))).toEqual({ digest: sha256(blob), size: blob.byteLength });
    expect(sameBytes(blobData(sha256(blob)), blob)).toBe(true);
    expect(driver.keys(`${ROOT}/docker/registry/v2/repositories/`)).toEqual([`${ROOT}/docker/registry/v2/repositories/${REPO}/_layers/sha256/${sha256(blob).slice(7)}/link`]);
    expect(driver.openUploads()).toEqual([]);
  });

  it("re-hashes the spool when the object lost its memory (and so its running hash)", async () => {
    const { session, blobData } = setup();
    const blob = pattern(MiB + 4096, 4);
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(blob.subarray(0, 1000))));
    session.evict();
    ok(await session.core.append(REPO, UUID, chunk(blob.subarray(1000), { range: [1000, blob.byteLength - 1] })));
    session.evict();
    expect(ok(await session.core.commit(REPO, UUID, sha256(blob), NO_BODY)).size).toBe(blob.byteLength);
    expect(session.hashing.streamsHashed).toBe(1);
    expect(sameBytes(blobData(sha256(blob)), blob)).toBe(true);
  });

  it("a re-hash that does not match is DIGEST_INVALID with the spool's real digest", async () => {
    const { session, driver } = setup();
    const blob = pattern(1000);
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    session.evict();
    const err = failed(await session.core.commit(REPO, UUID, absentDigest(), NO_BODY), "DIGEST_INVALID", 400);
    expect(err.detail).toEqual({ expected: absentDigest(), actual: sha256(blob) });
    expect(driver.keys()).toEqual([]);
  });

  it("sha512 digests are verified by hashing the spool with sha512", async () => {
    const { session, blobData } = setup();
    const blob = pattern(2000);
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    expect(ok(await session.core.commit(REPO, UUID, sha512(blob), NO_BODY)).digest).toBe(sha512(blob));
    expect(sameBytes(blobData(sha512(blob)), blob)).toBe(true);
  });

  it("commits the empty blob", async () => {
    const { session, blobData } = setup();
    const empty = new Uint8Array(0);
    ok(await session.core.begin(REPO, UUID, null));
    expect(ok(await session.core.commit(REPO, UUID, sha256(empty), NO_BODY))).toEqual({ digest: sha256(empty), size: 0 });
    expect(blobData(sha256(empty))?.byteLength).toBe(0);
  });

  it("a blob of several parts already in the bucket is not uploaded again", async () => {
    const { session, driver, blobs } = setup();
    const blob = pattern(3 * PART, 9);
    const digest = sha256(blob);
    await blobs.write({ algorithm: "sha256", hex: digest.slice(7) }, streamOf(blob), { partSize: PART });
    const before = { ...driver.calls };
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    ok(await session.core.commit(REPO, UUID, digest, NO_BODY));
    expect(driver.calls.createMultipart - before.createMultipart).toBe(0);
    expect(driver.calls.put - before.put).toBe(1); // the link
  });
});

describe("monolithic commit (the whole blob in the commit's own request)", () => {
  it("streams a sha256 blob straight to its key without spooling it", async () => {
    const { session, driver, blobData } = setup();
    const blob = pattern(4 * PART + 1, 5);
    ok(await session.core.begin(REPO, UUID, null));
    expect(ok(await session.core.commit(REPO, UUID, sha256(blob), chunk(blob))).size).toBe(blob.byteLength);
    expect(session.storage.slices.rows.size).toBe(0);
    expect(driver.calls.completeMultipart).toBe(1);
    expect(sameBytes(blobData(sha256(blob)), blob)).toBe(true);
  });

  it("a wrong digest aborts the multipart upload: nothing visible, nothing left open", async () => {
    const { session, driver } = setup();
    const blob = pattern(4 * PART + 1, 5);
    ok(await session.core.begin(REPO, UUID, null));
    failed(await session.core.commit(REPO, UUID, absentDigest(), chunk(blob)), "DIGEST_INVALID", 400);
    expect(driver.calls.createMultipart).toBe(1);
    expect(driver.openUploads()).toEqual([]);
    expect(driver.keys()).toEqual([]);
  });

  it("a blob the bucket holds is only linked: its bytes are not read or written again", async () => {
    const { session, driver, blobs } = setup();
    const blob = pattern(500, 6);
    const digest = sha256(blob);
    await blobs.write({ algorithm: "sha256", hex: digest.slice(7) }, streamOf(blob), { partSize: PART });
    const puts = driver.calls.put;
    ok(await session.core.begin(REPO, UUID, null));
    expect(ok(await session.core.commit(REPO, UUID, digest, chunk(blob)))).toEqual({ digest, size: 500 });
    expect(driver.calls.put - puts).toBe(1); // the link only
    expect(driver.calls.createMultipart).toBe(0);
  });

  it("…unless the declared length is not the stored blob's: DIGEST_INVALID", async () => {
    const { session, blobs } = setup();
    const blob = pattern(500, 6);
    const digest = sha256(blob);
    await blobs.write({ algorithm: "sha256", hex: digest.slice(7) }, streamOf(blob), { partSize: PART });
    ok(await session.core.begin(REPO, UUID, null));
    failed(await session.core.commit(REPO, UUID, digest, chunk(blob, { length: 501 })), "DIGEST_INVALID", 400);
  });
});

describe("hinted uploads: written to the hinted blob's key while the bytes arrive", () => {
  const blob = pattern(3 * PART + 100, 7);
  const digest = sha256(blob);

  it("a right hint: the multipart upload runs during the appends and is completed at commit, after verification", async () => {
    const { session, driver, blobData } = setup();
    ok(await session.core.begin(REPO, UUID, digest));
    ok(await session.core.append(REPO, UUID, chunk(blob.subarray(0, 2 * PART))));
    ok(await session.core.append(REPO, UUID, chunk(blob.subarray(2 * PART), { range: [2 * PART, blob.byteLength - 1] })));
    const open = driver.openUploads();
    expect(open).toHaveLength(1);
    expect(await session.storage.get("direct")).toEqual(open[0]); // recorded, in case the object forgets it
    expect(blobData(digest)).toBeUndefined(); // nothing visible before the digest is verified
    expect(driver.calls.uploadPart).toBe(3);
    ok(await session.core.commit(REPO, UUID, digest, NO_BODY));
    expect(driver.calls.createMultipart).toBe(1); // the spool was not uploaded again
    expect(driver.openUploads()).toEqual([]);
    expect(sameBytes(blobData(digest), blob)).toBe(true);
    expect(await session.storage.get("direct")).toBeUndefined();
  });

  it("a right hint whose last bytes come with the commit", async () => {
    const { session, driver, blobData } = setup();
    ok(await session.core.begin(REPO, UUID, digest));
    ok(await session.core.append(REPO, UUID, chunk(blob.subarray(0, PART + 1))));
    ok(await session.core.commit(REPO, UUID, digest, chunk(blob.subarray(PART + 1), { range: [PART + 1, blob.byteLength - 1] })));
    expect(driver.calls.createMultipart).toBe(1);
    expect(driver.openUploads()).toEqual([]);
    expect(sameBytes(blobData(digest), blob)).toBe(true);
  });

  it("a wrong hint: the speculative upload is aborted and the spool is uploaded under the real digest", async () => {
    const { session, driver, blobData } = setup();
    ok(await session.core.begin(REPO, UUID, absentDigest("c")));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    expect(driver.openUploads()[0]?.key).toContain(absentDigest("c").slice(7));
    ok(await session.core.commit(REPO, UUID, digest, NO_BODY));
    expect(driver.calls.abortMultipart).toBe(1);
    expect(driver.calls.createMultipart).toBe(2);
    expect(driver.openUploads()).toEqual([]);
    expect(sameBytes(blobData(digest), blob)).toBe(true);
    expect(blobData(absentDigest("c"))).toBeUndefined();
  });

  it("a right hint with a wrong commit digest: DIGEST_INVALID, and nothing at either key", async () => {
    const { session, driver } = setup();
    ok(await session.core.begin(REPO, UUID, digest));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    failed(await session.core.commit(REPO, UUID, absentDigest(), NO_BODY), "DIGEST_INVALID", 400);
    expect(driver.openUploads()).toEqual([]);
    expect(driver.keys()).toEqual([]);
  });

  it("an object that lost its memory aborts the write it forgot, and uploads the verified spool", async () => {
    const { session, driver, blobData } = setup();
    ok(await session.core.begin(REPO, UUID, digest));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    session.evict();
    ok(await session.core.commit(REPO, UUID, digest, NO_BODY));
    expect(driver.calls.abortMultipart).toBeGreaterThanOrEqual(1);
    expect(driver.openUploads()).toEqual([]);
    expect(sameBytes(blobData(digest), blob)).toBe(true);
  });

  it("a direct write that failed on the way leaves the commit to the spool", async () => {
    const { session, driver, blobData } = setup();
    let failures = 0;
    driver.fault = (op) => {
      if (op === "uploadPart" && failures++ === 0) throw new Error("part refused");
    };
    ok(await session.core.begin(REPO, UUID, digest));
    ok(await session.core.append(REPO, UUID, chunk(blob)));
    ok(await session.core.commit(REPO, UUID, digest, NO_BODY));
    expect(driver.openUploads()).toEqual([]);
    expect(sameBytes(blobData(digest), blob)).toBe(true);
  });

  it("cancel and expiry abort the speculative upload", async () => {
    const a = setup();
    ok(await a.session.core.begin(REPO, UUID, digest));
    ok(await a.session.core.append(REPO, UUID, chunk(blob)));
    ok(await a.session.core.cancel(REPO, UUID));
    expect(a.driver.openUploads()).toEqual([]);

    const b = setup();
    ok(await b.session.core.begin(REPO, UUID, digest));
    ok(await b.session.core.append(REPO, UUID, chunk(blob)));
    b.session.evict(); // the alarm may find an object that forgot the write
    b.clock.advance(HOUR);
    expect(await b.session.fireAlarm()).toBe(true);
    expect(b.driver.openUploads()).toEqual([]);
    expect(b.session.storage.empty).toBe(true);
    expect(b.driver.keys()).toEqual([]);
  });

  it("a small hinted blob needs no multipart upload, and a malformed hint is ignored", async () => {
    const small = pattern(1000, 8);
    const a = setup();
    ok(await a.session.core.begin(REPO, UUID, sha256(small)));
    ok(await a.session.core.append(REPO, UUID, chunk(small)));
    ok(await a.session.core.commit(REPO, UUID, sha256(small), NO_BODY));
    expect(a.driver.calls.createMultipart).toBe(0);
    expect(sameBytes(a.blobData(sha256(small)), small)).toBe(true);

    const b = setup();
    ok(await b.session.core.begin(REPO, UUID, "not a digest"));
    ok(await b.session.core.append(REPO, UUID, chunk(blob)));
    expect(b.driver.openUploads()).toEqual([]);
    ok(await b.session.core.commit(REPO, UUID, digest, NO_BODY));
    expect(sameBytes(b.blobData(digest), blob)).toBe(true);
  });
});

describe("expiry", () => {
  it("an idle session is deleted by its alarm, multipart upload of a commit that died included", async () => {
    const { session, clock, driver } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(pattern(100))));
    // A commit that died after opening its multipart upload recorded it in the state.
    const key = `${ROOT}/docker/registry/v2/blobs/sha256/ab/${"ab".repeat(32)}/data`;
    const uploadId = await driver.createMultipart(key);
    const st = (await session.storage.get<Record<string, unknown>>("state"))!;
    await session.storage.put("state", { ...st, pending: { key, uploadId } });
    clock.advance(HOUR - 1);
    expect(await session.fireAlarm()).toBe(false); // not due yet
    clock.advance(1);
    expect(await session.fireAlarm()).toBe(true);
    expect(session.storage.empty).toBe(true);
    expect(driver.openUploads()).toEqual([]);
    failed(await session.core.status(REPO, UUID), "BLOB_UPLOAD_UNKNOWN", 404);
  });

  it("a session touched since is not expired: the alarm is set again for its new deadline", async () => {
    const { session, clock } = setup();
    const t0 = clock.t;
    ok(await session.core.begin(REPO, UUID, null));
    clock.advance(HOUR / 2);
    ok(await session.core.append(REPO, UUID, chunk(pattern(10))));
    clock.advance(HOUR / 2);
    expect(await session.fireAlarm()).toBe(true);
    expect(session.storage.alarm).toBe(t0 + HOUR / 2 + HOUR);
    expect(ok(await session.core.status(REPO, UUID)).offset).toBe(10);
    clock.advance(HOUR / 2);
    expect(await session.fireAlarm()).toBe(true);
    expect(session.storage.empty).toBe(true);
  });
});

describe("cancel and unknown sessions", () => {
  it("cancel ends the session; the alarm then drops its spool", async () => {
    const { session } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(pattern(MiB + 1))));
    expect(ok(await session.core.cancel(REPO, UUID))).toBeNull();
    failed(await session.core.status(REPO, UUID), "BLOB_UPLOAD_UNKNOWN", 404);
    failed(await session.core.cancel(REPO, UUID), "BLOB_UPLOAD_UNKNOWN", 404);
    expect(session.storage.slices.rows.size).toBe(2);
    await session.fireAlarm();
    expect(session.storage.empty).toBe(true);
  });

  it("BLOB_UPLOAD_UNKNOWN for every call on an object never begun, or with another repository or id", async () => {
    const { session } = setup();
    failed(await session.core.status(REPO, UUID), "BLOB_UPLOAD_UNKNOWN", 404);
    failed(await session.core.append(REPO, UUID, chunk(pattern(1))), "BLOB_UPLOAD_UNKNOWN", 404);
    failed(await session.core.commit(REPO, UUID, sha256(pattern(1)), chunk(pattern(1))), "BLOB_UPLOAD_UNKNOWN", 404);
    failed(await session.core.cancel(REPO, UUID), "BLOB_UPLOAD_UNKNOWN", 404);
    ok(await session.core.begin(REPO, UUID, null));
    failed(await session.core.status("team/other", UUID), "BLOB_UPLOAD_UNKNOWN", 404);
    failed(await session.core.status(REPO, "6b0d7a52-2c61-4b8e-9a43-0e6c1f6a9d11"), "BLOB_UPLOAD_UNKNOWN", 404);
  });

  it("a storage fault is UNKNOWN with a message that names nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { session, driver } = setup();
    ok(await session.core.begin(REPO, UUID, null));
    ok(await session.core.append(REPO, UUID, chunk(pattern(10))));
    driver.fault = () => {
      throw new Error("ECONNREFUSED 10.0.0.7:9000");
    };
    const err = failed(await session.core.commit(REPO, UUID, sha256(pattern(10)), NO_BODY), "UNKNOWN", 500);
    expect(err.message).toBe("internal error while storing the upload");
    vi.restoreAllMocks();
  });
});
