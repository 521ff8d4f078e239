// sha512 end to end through the router, over the in-memory bucket: uploads opened with the spec's
// `?digest-algorithm=sha512` (end-4c) hashed with SHA-512 as the bytes arrive (chunked, resumed across PATCHes
// and evictions, monolithic), a closing digest of another algorithm than the session's, refused algorithms
// and malformed sha512 digests, blobs under Distribution's `blobs/sha512/…`, and manifests addressed by and
// referencing sha512 digests (GET, HEAD, DELETE, mount).
import { describe, expect, it } from "vitest";
import { descriptor, imageManifest, pattern, sameBytes, sha256, sha512 } from "./support/content";
import { openUpload, patch } from "./support/flows";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";

const REPO = "team/app";

const hexOf = (digest: string) => digest.split(":")[1]!;
const blobKey = (digest: string) => `blobs/sha512/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;

/** Sends `blob` in chunks of `size` with Content-Range, as a chunking client does. */
async function sendChunks(r: TestRegistry, location: string, blob: Uint8Array, size: number, between?: () => void): Promise<void> {
  for (let at = 0; at < blob.byteLength; at += size) {
    const piece = blob.subarray(at, at + size);
    const res = await expectStatus(await patch(r, location, { body: piece, headers: { "Content-Range": `${at}-${at + piece.byteLength - 1}` } }), 202);
    expect(res.headers.get("Range")).toBe(`0-${at + piece.byteLength - 1}`);
    between?.();
  }
}

/** A blob pushed with ?digest-algorithm=sha512 in chunks; returns its digest. */
async function pushSha512(r: TestRegistry, repo: string, blob: Uint8Array): Promise<string> {
  const { location } = await openUpload(r, repo, "?digest-algorithm=sha512");
  await sendChunks(r, location, blob, 700);
  const digest = sha512(blob);
  await expectStatus(await r.call("PUT", `${location}?digest=${digest}`), 201);
  return digest;
}

describe("uploads with ?digest-algorithm=sha512", () => {
  it("chunked: hashed with SHA-512 as the chunks arrive (the spool is never read back), stored under blobs/sha512/", async () => {
    const r = registry();
    const blob = pattern(5000, 2);
    const digest = sha512(blob);
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha512");
    await sendChunks(r, location, blob, 1500);
    const session = r.sessionAt(location);
    const res = await expectStatus(await r.call("PUT", `${location}?digest=${digest}`), 201);
    expect(res.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(res.headers.get("Location")).toBe(`/v2/${REPO}/blobs/${digest}`);
    expect(session.hashing.streamsHashed).toBe(0);
    expect(r.keys()).toEqual([blobKey(digest), `repositories/${REPO}/_layers/sha512/${hexOf(digest)}/link`]);
    expect(sameBytes(r.blobData(digest), blob)).toBe(true);
    expect(r.events).toEqual([{ action: "blob.commit", repository: REPO, digest, size: 5000 }]);
  });

  it("resumed across PATCHes: the algorithm survives an eviction before the first byte, and a later one re-hashes the spool with SHA-512", async () => {
    const r = registry();
    const blob = pattern(4000, 3);
    const digest = sha512(blob);
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha512");
    const session = r.sessionAt(location);
    // Evicted before any byte: the new life starts its hash from the saved algorithm, not SHA-256.
    session.evict();
    await sendChunks(r, location, blob.subarray(0, 2000), 1000);
    expect((await expectStatus(await r.call("GET", location), 204)).headers.get("Range")).toBe("0-1999");
    await expectStatus(await r.call("PUT", `${location}?digest=${digest}`, { body: blob.subarray(2000), headers: { "Content-Range": "2000-3999" } }), 201);
    expect(session.hashing.streamsHashed).toBe(0);

    // Evicted between PATCHes: the running hash is gone; the commit hashes the spool with the digest's algorithm.
    const other = pattern(3000, 4);
    const second = await openUpload(r, REPO, "?digest-algorithm=sha512");
    await sendChunks(r, second.location, other, 1000, () => r.sessionAt(second.location).evict());
    await expectStatus(await r.call("PUT", `${second.location}?digest=${sha512(other)}`), 201);
    expect(r.sessionAt(second.location).hashing.streamsHashed).toBe(1);
    expect(sameBytes(r.blobData(sha512(other)), other)).toBe(true);
  });

  it("monolithic: POST ?digest=sha512:… and POST then PUT with the body stream to the blob's key, never through the spool", async () => {
    const r = registry();
    const a = pattern(3000, 5);
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha512(a)}`, { body: a }), 201);
    const b = pattern(2500, 6);
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha512");
    const res = await expectStatus(await r.call("PUT", `${location}?digest=${sha512(b)}`, { body: b }), 201);
    expect(res.headers.get("Docker-Content-Digest")).toBe(sha512(b));
    for (const o of r.sessions.objects.values()) {
      expect(o.storage.slices.bytes).toBe(0);
      expect(o.hashing.streamsHashed).toBe(0);
    }
    expect(r.keys("blobs/").sort()).toEqual([blobKey(sha512(a)), blobKey(sha512(b))].sort());
    // A wrong sha512 digest is refused and stores nothing.
    const c = pattern(100, 7);
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha512(pattern(100, 8))}`, { body: c }), 400, "DIGEST_INVALID");
    expect(r.keys("blobs/")).toHaveLength(2);
  });

  it("the closing digest decides: a sha256 digest closes a sha512 session (the spool is re-hashed), a wrong one is DIGEST_INVALID", async () => {
    const r = registry();
    const blob = pattern(2000, 9);
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha512");
    await sendChunks(r, location, blob, 1000);
    const res = await expectStatus(await r.call("PUT", `${location}?digest=${sha256(blob)}`), 201);
    expect(res.headers.get("Docker-Content-Digest")).toBe(sha256(blob));
    expect(r.sessionAt(location).hashing.streamsHashed).toBe(1);
    expect(r.keys("blobs/sha512/")).toEqual([]);
    expect(r.keys("blobs/sha256/")).toHaveLength(1);

    const again = await openUpload(r, REPO, "?digest-algorithm=sha512");
    await sendChunks(r, again.location, blob, 1000);
    const bad = await expectError(await r.call("PUT", `${again.location}?digest=${sha512(pattern(2000, 10))}`), 400, "DIGEST_INVALID");
    expect(bad.detail).toEqual({ expected: sha512(pattern(2000, 10)), actual: sha512(blob) });
    expect(r.keys("blobs/sha512/")).toEqual([]);
  });

  it.each(["md5", "sha384", "SHA512", "sha-512", "sha512!", "", "blake3"])("digest-algorithm=%j is refused with 400 DIGEST_INVALID before a session exists", async (alg) => {
    const r = registry();
    const err = await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest-algorithm=${encodeURIComponent(alg)}`), 400, "DIGEST_INVALID");
    expect(err.message).toMatch(/digest algorithm/);
    expect(r.sessions.objects.size).toBe(0);
    expect(r.keys()).toEqual([]);
  });

  it("a sha512 blob HEAD that missed hints the next sha512 session, which writes to the blob's key while the bytes arrive", async () => {
    const part = 64 * 1024;
    const r = registry({ partSize: part });
    const blob = pattern(3 * part + 100, 15);
    const digest = sha512(blob);
    const other = sha256(pattern(10, 16));
    await expectError(await r.call("HEAD", `/v2/${REPO}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    await expectError(await r.call("HEAD", `/v2/${REPO}/blobs/${other}`), 404, "BLOB_UNKNOWN");
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha512");
    expect((await r.sessionAt(location).storage.get<{ hint: string }>("state"))?.hint).toBe(digest);
    await expectStatus(await patch(r, location, { body: blob }), 202);
    const cost = await r.cost(async () => expectStatus(await r.call("PUT", `${location}?digest=${digest}`), 201));
    // Only the short last part was left to send: no re-upload from the spool, and no second pass over it.
    expect(cost).toEqual({ uploadPart: 1, completeMultipart: 1, put: 1 });
    expect(r.sessionAt(location).hashing.streamsHashed).toBe(0);
    expect(sameBytes(r.blobData(digest), blob)).toBe(true);
    // The sha256 miss is still there for a sha256 session.
    const next = await openUpload(r, REPO);
    expect((await r.sessionAt(next.location).storage.get<{ hint: string }>("state"))?.hint).toBe(other);
  });

  it("digest-algorithm=sha256 is the default made explicit", async () => {
    const r = registry();
    const blob = pattern(1200, 11);
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha256");
    await sendChunks(r, location, blob, 600);
    await expectStatus(await r.call("PUT", `${location}?digest=${sha256(blob)}`), 201);
    expect(r.sessionAt(location).hashing.streamsHashed).toBe(0);
  });
});

describe("malformed sha512 digests", () => {
  const short = `sha512:${"a".repeat(64)}`;
  const long = `sha512:${"a".repeat(130)}`;
  const upper = `sha512:${"A".repeat(128)}`;

  it.each([short, long, upper])("%s is DIGEST_INVALID on upload PUT, monolithic POST, mount, and blob or manifest GET", async (bad) => {
    const r = registry();
    const { location } = await openUpload(r, REPO, "?digest-algorithm=sha512");
    const put = await expectError(await r.call("PUT", `${location}?digest=${bad}`, { body: pattern(10) }), 400, "DIGEST_INVALID");
    if (bad !== upper) expect(put.message).toMatch(/expected 128 lowercase hex characters/);
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${bad}`, { body: pattern(10) }), 400, "DIGEST_INVALID");
    await expectError(await r.call("POST", `/v2/${REPO}/blobs/uploads/?mount=${bad}&from=other`), 400, "DIGEST_INVALID");
    await expectError(await r.call("GET", `/v2/${REPO}/blobs/${bad}`), 400, "DIGEST_INVALID");
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/${bad}`), 400, "DIGEST_INVALID");
    expect(r.keys()).toEqual([]);
  });
});

describe("sha512 blobs and manifests", () => {
  async function imageOfSha512(r: TestRegistry) {
    const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux" }));
    const layer = pattern(3000, 12);
    const dConfig = await pushSha512(r, REPO, config);
    const dLayer = await pushSha512(r, REPO, layer);
    const manifest = imageManifest({
      config: { ...descriptor(config, "application/vnd.oci.image.config.v1+json"), digest: dConfig },
      layers: [{ ...descriptor(layer), digest: dLayer }],
    });
    return { config, layer, dConfig, dLayer, manifest, digest: sha512(manifest.bytes) };
  }

  it("a manifest referencing sha512 blobs, put by its sha512 digest: GET and HEAD by digest, stored in Distribution's layout", async () => {
    const r = registry();
    const img = await imageOfSha512(r);
    const put = await expectStatus(await r.call("PUT", `/v2/${REPO}/manifests/${img.digest}`, { body: img.manifest.bytes, headers: { "Content-Type": img.manifest.mediaType } }), 201);
    expect(put.headers.get("Docker-Content-Digest")).toBe(img.digest);
    expect(put.headers.get("Location")).toBe(`/v2/${REPO}/manifests/${img.digest}`);
    expect(r.keys(`repositories/${REPO}/_manifests/revisions/`)).toEqual([`repositories/${REPO}/_manifests/revisions/sha512/${hexOf(img.digest)}/link`]);
    expect(sameBytes(r.blobData(img.digest), img.manifest.bytes)).toBe(true);

    const got = await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/${img.digest}`), 200);
    expect(got.headers.get("Docker-Content-Digest")).toBe(img.digest);
    expect(sameBytes(new Uint8Array(await got.arrayBuffer()), img.manifest.bytes)).toBe(true);
    const head = await expectStatus(await r.call("HEAD", `/v2/${REPO}/manifests/${img.digest}`), 200);
    expect(head.headers.get("Content-Length")).toBe(String(img.manifest.bytes.byteLength));
    for (const [d, bytes] of [[img.dConfig, img.config], [img.dLayer, img.layer]] as const) {
      const h = await expectStatus(await r.call("HEAD", `/v2/${REPO}/blobs/${d}`), 200);
      expect(h.headers.get("Docker-Content-Digest")).toBe(d);
      expect(h.headers.get("Content-Length")).toBe(String(bytes.byteLength));
    }
  });

  it("a manifest naming a sha512 blob the repository lacks is MANIFEST_BLOB_UNKNOWN", async () => {
    const r = registry();
    const config = pattern(50, 13);
    const manifest = imageManifest({ config: { ...descriptor(config, "application/vnd.oci.image.config.v1+json"), digest: sha512(config) } });
    const err = await expectError(await r.call("PUT", `/v2/${REPO}/manifests/v1`, { body: manifest.bytes, headers: { "Content-Type": manifest.mediaType } }), 400, "MANIFEST_BLOB_UNKNOWN");
    expect(err.detail).toEqual({ digests: [sha512(config)] });
  });

  it("a sha512 blob mounts into another repository, and DELETE by sha512 digest removes the blob's link and the manifest", async () => {
    const r = registry();
    const img = await imageOfSha512(r);
    await expectStatus(await r.call("PUT", `/v2/${REPO}/manifests/${img.digest}`, { body: img.manifest.bytes, headers: { "Content-Type": img.manifest.mediaType } }), 201);
    const mounted = await expectStatus(await r.call("POST", `/v2/team/other/blobs/uploads/?mount=${img.dLayer}&from=${REPO}`), 201);
    expect(mounted.headers.get("Docker-Content-Digest")).toBe(img.dLayer);
    expect(r.keys("repositories/team/other/_layers/")).toEqual([`repositories/team/other/_layers/sha512/${hexOf(img.dLayer)}/link`]);

    await expectStatus(await r.call("DELETE", `/v2/${REPO}/manifests/${img.digest}`), 202);
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/${img.digest}`), 404, "MANIFEST_UNKNOWN");
    await expectStatus(await r.call("DELETE", `/v2/${REPO}/blobs/${img.dLayer}`), 202);
    await expectError(await r.call("HEAD", `/v2/${REPO}/blobs/${img.dLayer}`), 404, "BLOB_UNKNOWN");
    // The other repository keeps its link, and the bytes stay for it.
    await expectStatus(await r.call("HEAD", `/v2/team/other/blobs/${img.dLayer}`), 200);
    expect(sameBytes(r.blobData(img.dLayer), img.layer)).toBe(true);
  });

  it("a mount of a sha512 blob that is not there opens a session hashing SHA-512", async () => {
    const r = registry();
    const blob = pattern(1500, 14);
    const { location } = await openUpload(r, REPO, `?mount=${sha512(blob)}&from=team/none`);
    await sendChunks(r, location, blob, 500);
    await expectStatus(await r.call("PUT", `${location}?digest=${sha512(blob)}`), 201);
    expect(r.sessionAt(location).hashing.streamsHashed).toBe(0);
  });
});
