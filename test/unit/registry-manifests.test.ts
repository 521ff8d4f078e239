// Manifests through the router (end-3, end-7, end-9): PUT by tag and by digest with every check made before
// anything is written, GET/HEAD by tag and digest with Accept, DELETE by tag and by digest (taking the tags
// that name the manifest with it), the write events of each, and the cost of a pull by tag.
import { describe, expect, it } from "vitest";
import { MAX_MANIFEST_BYTES } from "../../src/registry/manifests";
import { DOCKER_MANIFEST_V2, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST } from "../../src/oci/media-types";
import { absentDigest, bytesOf, descriptor, imageIndex, imageManifest, pattern, sha256, sha512, streamOf } from "./support/content";
import { pushBlob, pushImage, putManifest } from "./support/flows";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";

const REPO = "team/app";

/** A config blob pushed to REPO and an image manifest of it with no layers (not pushed). */
async function configOnly(r: TestRegistry, seed = 1) {
  const config = bytesOf(JSON.stringify({ seed }));
  await pushBlob(r, REPO, config);
  return imageManifest({ config: descriptor(config, "application/vnd.oci.image.config.v1+json") });
}

function put(r: TestRegistry, ref: string, body: Uint8Array | string, contentType: string | null = OCI_IMAGE_MANIFEST, repo = REPO) {
  return r.call("PUT", `/v2/${repo}/manifests/${ref}`, { body, headers: contentType ? { "Content-Type": contentType } : {} });
}

describe("manifest PUT", () => {
  it("by tag: 201 with Location by digest; stores bytes, revision link and tag; manifest.put then tag.set", async () => {
    const r = registry();
    const m = await configOnly(r);
    r.events.length = 0;
    const res = await expectStatus(await put(r, "v1", m.bytes), 201);
    expect(res.headers.get("Location")).toBe(`/v2/${REPO}/manifests/${m.digest}`);
    expect(res.headers.get("Docker-Content-Digest")).toBe(m.digest);
    expect(res.headers.get("OCI-Subject")).toBeNull();
    expect(r.keys(`repositories/${REPO}/_manifests/`)).toEqual([
      `repositories/${REPO}/_manifests/revisions/sha256/${m.digest.slice(7)}/link`,
      `repositories/${REPO}/_manifests/tags/v1/current/link`,
      `repositories/${REPO}/_manifests/tags/v1/index/sha256/${m.digest.slice(7)}/link`,
    ]);
    expect(r.events).toEqual([
      { action: "manifest.put", repository: REPO, digest: m.digest, mediaType: OCI_IMAGE_MANIFEST, size: m.bytes.byteLength, tag: "v1", subject: null },
      { action: "tag.set", repository: REPO, tag: "v1", digest: m.digest },
    ]);
  });

  it("by digest: 201, no tag, one manifest.put; sha512 references are verified with sha512", async () => {
    const r = registry();
    const m = await configOnly(r);
    r.events.length = 0;
    await expectStatus(await put(r, m.digest, m.bytes), 201);
    expect(r.keys(`repositories/${REPO}/_manifests/tags/`)).toEqual([]);
    expect(r.events).toEqual([{ action: "manifest.put", repository: REPO, digest: m.digest, mediaType: OCI_IMAGE_MANIFEST, size: m.bytes.byteLength, tag: null, subject: null }]);
    const d512 = sha512(m.bytes);
    const res = await expectStatus(await put(r, d512, m.bytes), 201);
    expect(res.headers.get("Docker-Content-Digest")).toBe(d512);
  });

  it("an index needs its child manifests in the repository", async () => {
    const r = registry();
    const child = await configOnly(r);
    const index = imageIndex([child]);
    const missing = await expectError(await put(r, "multi", index.bytes, OCI_IMAGE_INDEX), 400, "MANIFEST_BLOB_UNKNOWN");
    expect(missing.detail).toEqual({ digests: [child.digest] });
    await putManifest(r, REPO, child.digest, child);
    await expectStatus(await put(r, "multi", index.bytes, OCI_IMAGE_INDEX), 201);
    const got = await r.call("GET", `/v2/${REPO}/manifests/multi`);
    expect(got.headers.get("Content-Type")).toBe(OCI_IMAGE_INDEX);
  });

  it("moving a tag needs update; a new tag, or the same target again, needs only create", async () => {
    const r = registry();
    const a = await configOnly(r, 1);
    const b = await configOnly(r, 2);
    r.access.deny("update", { repo: REPO });
    await expectStatus(await put(r, "v1", a.bytes), 201);
    await expectStatus(await put(r, "v1", a.bytes), 201);
    r.events.length = 0;
    await expectError(await put(r, "v1", b.bytes), 403, "DENIED");
    expect(r.events).toEqual([]);
    expect(r.keys(`repositories/${REPO}/_manifests/revisions/`)).toHaveLength(1); // b was not stored
    await expectStatus(await put(r, "v2", b.bytes), 201);
  });

  it("MANIFEST_INVALID for what cannot be served, and for a bad tag; nothing is stored", async () => {
    const r = registry();
    const m = await configOnly(r);
    const before = r.keys();
    const bodies: [string, string | null][] = [
      ["{not json", OCI_IMAGE_MANIFEST],
      ["", OCI_IMAGE_MANIFEST],
      [JSON.stringify({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] }), "application/vnd.docker.distribution.manifest.v1+json"],
      [JSON.stringify({ schemaVersion: 2, config: { mediaType: "a/b", digest: sha256("x"), size: 1 } }), OCI_IMAGE_MANIFEST], // no layers
      [JSON.stringify({ schemaVersion: 2, layers: [] }), null], // no config, no type
      [new TextDecoder().decode(m.bytes), DOCKER_MANIFEST_V2], // body says OCI, header says Docker
    ];
    for (const [body, ct] of bodies) await expectError(await put(r, "v1", body, ct), 400, "MANIFEST_INVALID");
    await expectError(await put(r, "-bad", m.bytes), 400, "MANIFEST_INVALID");
    await expectError(await put(r, "x".repeat(129), m.bytes), 400, "MANIFEST_INVALID");
    expect(r.keys()).toEqual(before);
  });

  it("DIGEST_INVALID when the bytes are not the digest of the reference, or a descriptor's digest is malformed", async () => {
    const r = registry();
    const m = await configOnly(r);
    const other = sha256("something else");
    const err = await expectError(await put(r, other, m.bytes), 400, "DIGEST_INVALID");
    expect(err.detail).toEqual({ reference: other, actual: m.digest });
    const bad = imageManifest({ config: { digest: "sha256:1234", size: 1, mediaType: "application/vnd.oci.image.config.v1+json" } });
    await expectError(await put(r, "v1", bad.bytes), 400, "DIGEST_INVALID");
    await expectError(await put(r, "sha256:nothex", m.bytes), 400, "DIGEST_INVALID");
    expect(r.keys(`repositories/${REPO}/_manifests/`)).toEqual([]);
  });

  it("MANIFEST_BLOB_UNKNOWN when a layer or the config is not in this repository (elsewhere does not count)", async () => {
    const r = registry();
    const config = bytesOf("{}");
    const layer = pattern(50);
    await pushBlob(r, REPO, config);
    await pushBlob(r, "team/other", layer);
    r.events.length = 0;
    const m = imageManifest({ config: descriptor(config), layers: [descriptor(layer), descriptor(bytesOf("never pushed"))] });
    const err = await expectError(await put(r, "v1", m.bytes), 400, "MANIFEST_BLOB_UNKNOWN");
    expect((err.detail as { digests: string[] }).digests.sort()).toEqual([sha256(layer), sha256("never pushed")].sort());
    expect(r.keys(`repositories/${REPO}/_manifests/`)).toEqual([]);
    expect(r.events).toEqual([]);
  });

  it("413 SIZE_INVALID above 4 MiB, declared or streamed", async () => {
    const r = registry();
    const huge = new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x20);
    await expectError(await put(r, "v1", huge), 413, "SIZE_INVALID");
    const streamed = await r.call("PUT", `/v2/${REPO}/manifests/v1`, { body: streamOf(huge.subarray(0, MAX_MANIFEST_BYTES), huge.subarray(0, 1)) });
    await expectError(streamed, 413, "SIZE_INVALID");
    expect(r.keys()).toEqual([]);
  });
});

describe("manifest GET and HEAD", () => {
  it("by tag and by digest: the exact bytes, with their type, length, digest and ETag", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, REPO, "v1");
    for (const ref of ["v1", m.digest]) {
      const res = await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/${ref}`), 200);
      expect(Object.fromEntries(res.headers)).toMatchObject({
        "content-type": OCI_IMAGE_MANIFEST,
        "content-length": String(m.bytes.byteLength),
        "docker-content-digest": m.digest,
        etag: `"${m.digest}"`,
      });
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(m.bytes);
      const h = await expectStatus(await r.call("HEAD", `/v2/${REPO}/manifests/${ref}`), 200);
      expect(h.headers.get("Content-Length")).toBe(String(m.bytes.byteLength));
      expect(h.headers.get("Docker-Content-Digest")).toBe(m.digest);
      expect(await h.text()).toBe("");
    }
  });

  it("honours Accept: the stored type listed (parameters ignored), a wildcard, or none; otherwise MANIFEST_UNKNOWN", async () => {
    const r = registry();
    await pushImage(r, REPO, "v1");
    for (const accept of [OCI_IMAGE_MANIFEST, `${DOCKER_MANIFEST_V2}, ${OCI_IMAGE_MANIFEST};q=0.9`, "*/*", "application/*", ""]) {
      expect((await r.call("GET", `/v2/${REPO}/manifests/v1`, { headers: { Accept: accept } })).status).toBe(200);
    }
    const err = await expectError(await r.call("GET", `/v2/${REPO}/manifests/v1`, { headers: { Accept: DOCKER_MANIFEST_V2 } }), 404, "MANIFEST_UNKNOWN");
    expect(err.message).toContain(OCI_IMAGE_MANIFEST);
    await expectError(await r.call("HEAD", `/v2/${REPO}/manifests/v1`, { headers: { Accept: OCI_IMAGE_INDEX } }), 404, "MANIFEST_UNKNOWN");
  });

  it("MANIFEST_UNKNOWN: unknown tag, unknown digest, a malformed tag, a manifest of another repository", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, "team/other", "v1");
    await pushImage(r, REPO, "v0", 2);
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/${absentDigest()}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/.bad`), 404, "MANIFEST_UNKNOWN");
    // Cached in this isolate under its digest, yet not this repository's.
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/${m.digest}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await r.call("HEAD", `/v2/${REPO}/manifests/${m.digest}`), 404, "MANIFEST_UNKNOWN");
  });

  it("a pull by tag right after the push costs one request (the tag's link); by digest one (the revision link)", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, REPO, "v1");
    expect(await r.cost(async () => expectStatus(await r.call("GET", `/v2/${REPO}/manifests/v1`), 200))).toEqual({ get: 1 });
    expect(await r.cost(async () => expectStatus(await r.call("GET", `/v2/${REPO}/manifests/${m.digest}`), 200))).toEqual({ head: 1 });
    // Another isolate reads the manifest and checks the revision link once, then remembers both.
    const cold = registry({ driver: r.driver });
    expect(await cold.cost(async () => expectStatus(await cold.call("GET", `/v2/${REPO}/manifests/v1`), 200))).toEqual({ get: 2, head: 1 });
    expect(await cold.cost(async () => expectStatus(await cold.call("GET", `/v2/${REPO}/manifests/v1`), 200))).toEqual({ get: 1 });
  });

  it("a tag moved by another isolate is seen at once (tags are never cached)", async () => {
    const r = registry();
    await pushImage(r, REPO, "v1", 1);
    expect((await r.call("GET", `/v2/${REPO}/manifests/v1`)).status).toBe(200);
    const other = registry({ driver: r.driver });
    const { manifest: moved } = await pushImage(other, REPO, "v1", 2);
    expect((await r.call("GET", `/v2/${REPO}/manifests/v1`)).headers.get("Docker-Content-Digest")).toBe(moved.digest);
  });
});

describe("manifest DELETE", () => {
  it("by tag: 202 removes the tag only; one tag.delete", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, REPO, "v1");
    r.events.length = 0;
    await expectStatus(await r.call("DELETE", `/v2/${REPO}/manifests/v1`), 202);
    expect(r.events).toEqual([{ action: "tag.delete", repository: REPO, tag: "v1" }]);
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
    expect((await r.call("GET", `/v2/${REPO}/manifests/${m.digest}`)).status).toBe(200);
    expect(r.keys(`repositories/${REPO}/_manifests/tags/`)).toEqual([]);
  });

  it("by digest: 202 removes the manifest and the tags naming it, not the others; one manifest.delete listing them", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, REPO, "v1", 1);
    await putManifest(r, REPO, "latest", m);
    await pushImage(r, REPO, "v2", 2);
    r.events.length = 0;
    await expectStatus(await r.call("DELETE", `/v2/${REPO}/manifests/${m.digest}`), 202);
    expect(r.events).toEqual([{ action: "manifest.delete", repository: REPO, digest: m.digest, tags: ["latest", "v1"] }]);
    for (const ref of ["v1", "latest", m.digest]) await expectError(await r.call("GET", `/v2/${REPO}/manifests/${ref}`), 404, "MANIFEST_UNKNOWN");
    expect((await r.call("GET", `/v2/${REPO}/manifests/v2`)).status).toBe(200);
    const tags = (await (await r.call("GET", `/v2/${REPO}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["v2"]);
  });

  it("MANIFEST_UNKNOWN for an unknown tag or digest, and for a manifest only another repository holds; no event", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, "team/other", "v1");
    await pushImage(r, REPO, "v0", 2);
    r.events.length = 0;
    await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/v9`), 404, "MANIFEST_UNKNOWN");
    await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/${absentDigest()}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/${m.digest}`), 404, "MANIFEST_UNKNOWN");
    expect(r.events).toEqual([]);
    expect((await r.call("GET", `/v2/team/other/manifests/v1`)).status).toBe(200);
  });

  it("405 UNSUPPORTED when deletes are disabled, by tag and by digest", async () => {
    const r = registry({ env: { REGISTRY_STORAGE_DELETE_ENABLED: "false" } });
    const { manifest: m } = await pushImage(r, REPO, "v1");
    r.events.length = 0;
    await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/v1`), 405, "UNSUPPORTED");
    await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/${m.digest}`), 405, "UNSUPPORTED");
    expect((await r.call("GET", `/v2/${REPO}/manifests/v1`)).status).toBe(200);
    expect(r.events).toEqual([]);
  });
});

describe("conditional requests", () => {
  it("GET/HEAD with If-None-Match naming the manifest's digest (or *) answer 304 without a body", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, REPO, "v1");
    for (const inm of [`"${m.digest}"`, `W/"${m.digest}"`, `"${absentDigest()}", "${m.digest}"`, "*"]) {
      const res = await r.call("GET", `/v2/${REPO}/manifests/v1`, { headers: { "If-None-Match": inm } });
      expect(res.status).toBe(304);
      expect(res.headers.get("ETag")).toBe(`"${m.digest}"`);
      expect(await res.text()).toBe("");
    }
    expect((await r.call("HEAD", `/v2/${REPO}/manifests/${m.digest}`, { headers: { "If-None-Match": `"${m.digest}"` } })).status).toBe(304);
    expect((await r.call("GET", `/v2/${REPO}/manifests/v1`, { headers: { "If-None-Match": `"${absentDigest()}"` } })).status).toBe(200);
  });

  it("PUT by tag with If-None-Match: * creates the tag only if it does not exist: 412 DENIED with the tag's ETag otherwise", async () => {
    const r = registry();
    const a = await configOnly(r, 1);
    const b = await configOnly(r, 2);
    const putIf = (m: typeof a, headers: Record<string, string>) =>
      r.call("PUT", `/v2/${REPO}/manifests/v1`, { body: m.bytes, headers: { "Content-Type": OCI_IMAGE_MANIFEST, ...headers } });
    await expectStatus(await putIf(a, { "If-None-Match": "*" }), 201);
    r.events.length = 0;
    const res = await putIf(b, { "If-None-Match": "*" });
    await expectError(res, 412, "DENIED");
    expect(res.headers.get("ETag")).toBe(`"${a.digest}"`);
    expect(r.events).toEqual([]);
    expect((await r.call("GET", `/v2/${REPO}/manifests/v1`)).headers.get("Docker-Content-Digest")).toBe(a.digest);
  });

  it("PUT by tag with If-Match moves the tag only from the digest named", async () => {
    const r = registry();
    const a = await configOnly(r, 1);
    const b = await configOnly(r, 2);
    const c = await configOnly(r, 3);
    const putIf = (m: typeof a, ifMatch: string, tag = "v1") =>
      r.call("PUT", `/v2/${REPO}/manifests/${tag}`, { body: m.bytes, headers: { "Content-Type": OCI_IMAGE_MANIFEST, "If-Match": ifMatch } });
    await expectError(await putIf(a, "*"), 412, "DENIED"); // no such tag yet
    await putManifest(r, REPO, "v1", a);
    await expectStatus(await putIf(b, `"${a.digest}"`), 201);
    const stale = await putIf(c, `"${a.digest}"`);
    await expectError(stale, 412, "DENIED");
    expect(stale.headers.get("ETag")).toBe(`"${b.digest}"`);
    expect((await r.call("GET", `/v2/${REPO}/manifests/v1`)).headers.get("Docker-Content-Digest")).toBe(b.digest);
  });
});

describe("concurrent writes to one repository", () => {
  it("a DELETE by digest racing PUTs of tags never leaves a tag naming a manifest the repository no longer holds", async () => {
    const r = registry();
    const { manifest: m } = await pushImage(r, REPO, "v0");
    const results = await Promise.all([
      ...["v1", "v2", "v3"].map((t) => r.call("PUT", `/v2/${REPO}/manifests/${t}`, { body: m.bytes, headers: { "Content-Type": OCI_IMAGE_MANIFEST } })),
      r.call("DELETE", `/v2/${REPO}/manifests/${m.digest}`),
    ]);
    expect(results.map((x) => x.status).sort()).toEqual([201, 201, 201, 202]);
    const held = (await r.call("GET", `/v2/${REPO}/manifests/${m.digest}`)).status === 200;
    const { tags } = (await (await r.call("GET", `/v2/${REPO}/tags/list`)).json()) as { tags: string[] };
    for (const t of tags) expect((await r.call("GET", `/v2/${REPO}/manifests/${t}`)).status).toBe(200);
    if (!held) expect(tags).toEqual([]);
  });
});
