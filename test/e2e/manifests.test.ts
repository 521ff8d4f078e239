// End-to-end tests of /v2/<name>/manifests/<reference>: PUT, GET, HEAD and DELETE by tag and by digest for the
// four manifest formats Berth serves, what lands in the bucket (Distribution's layout), content negotiation,
// and every refusal the spec asks for — with proof that a refused or cut-off PUT writes nothing and never
// moves a tag. One Berth (own root directory) for the file, plus one with deletes disabled.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { getObject, listKeys } from "./harness/s3.js";
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  blobOf,
  cutOffRequest,
  digestOf,
  enc,
  imageManifest,
  indexManifest,
  manifestOf,
  putManifest,
  putManifestOk,
  pushBlob,
  pushImageBlobs,
  rand,
  randomBlob,
  rawRequest,
  req,
  statusAndCode,
  type Manifest,
} from "./helpers/manifests.js";

const ROOT = `t-manifests-${rand()}`;
const BASE = `${ROOT}/docker/registry/v2/`;
const MiB = 1024 * 1024;

let berth: Berth;
let noDelete: Berth;
let url: string;

beforeAll(async () => {
  // Both instances share the root directory: the second one sees the first one's manifests.
  [berth, noDelete] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT }),
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, REGISTRY_STORAGE_DELETE_ENABLED: "false" }),
  ]);
  url = berth.url;
});

afterAll(async () => {
  await Promise.all([berth?.stop(), noDelete?.stop()]);
});

const hexOf = (digest: string) => digest.slice("sha256:".length);
const dataKey = (digest: string) => `${BASE}blobs/sha256/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;
const revisionKey = (repo: string, digest: string) =>
  `${BASE}repositories/${repo}/_manifests/revisions/sha256/${hexOf(digest)}/link`;
const tagCurrentKey = (repo: string, tag: string) => `${BASE}repositories/${repo}/_manifests/tags/${tag}/current/link`;
const tagIndexKey = (repo: string, tag: string, digest: string) =>
  `${BASE}repositories/${repo}/_manifests/tags/${tag}/index/sha256/${hexOf(digest)}/link`;
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

/** Keys under the repository's `_manifests/` (tags and revisions). */
const manifestKeys = (repo: string) => listKeys(`${BASE}repositories/${repo}/_manifests/`);

async function getDigestOfTag(repo: string, tag: string): Promise<string | null> {
  const res = await req(url, `/v2/${repo}/manifests/${tag}`, { method: "HEAD" });
  return res.status === 200 ? res.headers.get("Docker-Content-Digest") : null;
}

type Format = { name: string; mediaType: string; build: (repo: string) => Promise<{ m: Manifest; other: Manifest }> };

/** Each format: a manifest to push by tag, and a second, different one to push by digest. */
const FORMATS: Format[] = [
  {
    name: "Docker schema2 manifest",
    mediaType: DOCKER_MANIFEST,
    build: async (repo) => ({
      m: (await pushImageBlobs(url, repo, { docker: true })).manifest,
      other: (await pushImageBlobs(url, repo, { docker: true, layers: 2 })).manifest,
    }),
  },
  {
    name: "OCI image manifest",
    mediaType: OCI_MANIFEST,
    build: async (repo) => ({
      m: (await pushImageBlobs(url, repo)).manifest,
      other: (await pushImageBlobs(url, repo, { layers: 3 })).manifest,
    }),
  },
  {
    name: "Docker manifest list",
    mediaType: DOCKER_LIST,
    build: async (repo) => {
      const a = (await pushImageBlobs(url, repo, { docker: true })).manifest;
      const b = (await pushImageBlobs(url, repo, { docker: true })).manifest;
      for (const c of [a, b]) await putManifestOk(url, repo, c.digest, c); // children first, by digest
      return { m: indexManifest([a, b], { docker: true }), other: indexManifest([b], { docker: true }) };
    },
  },
  {
    name: "OCI image index",
    mediaType: OCI_INDEX,
    build: async (repo) => {
      const a = (await pushImageBlobs(url, repo)).manifest;
      const b = (await pushImageBlobs(url, repo)).manifest;
      for (const c of [a, b]) await putManifestOk(url, repo, c.digest, c);
      return { m: indexManifest([a, b]), other: indexManifest([b, a]) };
    },
  },
];

describe.each(FORMATS)("$name", ({ mediaType, build }) => {
  // The shared fixture: `m` tagged v1 in `repo` (read by the GET/HEAD tests), `other` built but not pushed.
  // Tests that push or delete use repositories of their own.
  const repo = `m-${rand()}/fmt`;
  let m: Manifest;
  let other: Manifest;

  beforeAll(async () => {
    ({ m, other } = await build(repo));
    expect(m.mediaType).toBe(mediaType);
    await putManifestOk(url, repo, "v1", m);
  });

  it("PUT by tag → 201 with Location and Docker-Content-Digest; the bucket holds data and exact links", async () => {
    const own = `m-${rand()}/fmt-put`;
    const { m } = await build(own);
    const res = await putManifest(url, own, "v1", m);
    expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
    expect(res.headers.get("Docker-Content-Digest")).toBe(m.digest);
    const location = res.headers.get("Location");
    expect(location).toBeTruthy();
    expect(new URL(location as string, url).pathname).toBe(`/v2/${own}/manifests/${m.digest}`);

    // Distribution's layout: bytes in the global blob store, links holding exactly "sha256:<hex>".
    expect(await getObject(dataKey(m.digest))).toEqual(m.bytes);
    expect(text(await getObject(revisionKey(own, m.digest)))).toBe(m.digest);
    expect(text(await getObject(tagCurrentKey(own, "v1")))).toBe(m.digest);
    expect(text(await getObject(tagIndexKey(own, "v1", m.digest)))).toBe(m.digest);
  });

  it("GET by tag and by digest return exactly the bytes, with the PUT's Content-Type and the digest", async () => {
    for (const ref of ["v1", m.digest]) {
      const res = await req(url, `/v2/${repo}/manifests/${ref}`, { headers: { Accept: mediaType } });
      expect(res.status, ref).toBe(200);
      expect(res.headers.get("Content-Type"), ref).toBe(mediaType);
      expect(res.headers.get("Docker-Content-Digest"), ref).toBe(m.digest);
      expect(new Uint8Array(await res.arrayBuffer()), ref).toEqual(m.bytes);
    }
  });

  it("HEAD by tag and by digest: same headers, right Content-Length, no body", async () => {
    for (const ref of ["v1", m.digest]) {
      const res = await req(url, `/v2/${repo}/manifests/${ref}`, { method: "HEAD", headers: { Accept: mediaType } });
      expect(res.status, ref).toBe(200);
      expect(res.headers.get("Content-Type"), ref).toBe(mediaType);
      expect(res.headers.get("Docker-Content-Digest"), ref).toBe(m.digest);
      expect(res.headers.get("Content-Length"), ref).toBe(String(m.size));
      expect((await res.arrayBuffer()).byteLength, ref).toBe(0);
    }
  });

  it("PUT by digest → 201; GET by digest returns it; no tag is created", async () => {
    const res = await putManifest(url, repo, other.digest, other);
    expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
    expect(res.headers.get("Docker-Content-Digest")).toBe(other.digest);
    expect(new URL(res.headers.get("Location") ?? "", url).pathname).toBe(`/v2/${repo}/manifests/${other.digest}`);
    const get = await req(url, `/v2/${repo}/manifests/${other.digest}`);
    expect(get.status).toBe(200);
    expect(get.headers.get("Content-Type")).toBe(mediaType);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(other.bytes);
    expect(text(await getObject(revisionKey(repo, other.digest)))).toBe(other.digest);
    const tagKeys = (await manifestKeys(repo)).filter((k) => k.includes("/_manifests/tags/"));
    expect(tagKeys.every((k) => k.includes("/tags/v1/"))).toBe(true);
  });

  it("the manifest is not visible from another repository", async () => {
    const res = await req(url, `/v2/m-${rand()}/elsewhere/manifests/${m.digest}`);
    expect(await statusAndCode(res)).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
  });

  it("DELETE by tag → 202 removes only the tag; DELETE by digest → 202 removes the manifest and its tags", async () => {
    const repo = `m-${rand()}/fmt-delete`;
    const { m, other } = await build(repo);
    await putManifestOk(url, repo, "v1", m);
    await putManifestOk(url, repo, "extra", m);
    await putManifestOk(url, repo, "keep", other);

    const delTag = await req(url, `/v2/${repo}/manifests/v1`, { method: "DELETE" });
    expect(await statusAndCode(delTag)).toEqual({ status: 202, code: undefined });
    expect(await statusAndCode(await req(url, `/v2/${repo}/manifests/v1`))).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
    expect((await req(url, `/v2/${repo}/manifests/${m.digest}`)).status).toBe(200);
    expect(await getObject(tagCurrentKey(repo, "v1"))).toBeNull();
    expect(await getDigestOfTag(repo, "extra")).toBe(m.digest);

    const delDigest = await req(url, `/v2/${repo}/manifests/${m.digest}`, { method: "DELETE" });
    expect(await statusAndCode(delDigest)).toEqual({ status: 202, code: undefined });
    expect(await statusAndCode(await req(url, `/v2/${repo}/manifests/${m.digest}`))).toEqual({
      status: 404,
      code: "MANIFEST_UNKNOWN",
    });
    // "extra" pointed at the deleted manifest: gone too. "keep" names another manifest: untouched.
    expect(await statusAndCode(await req(url, `/v2/${repo}/manifests/extra`))).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
    expect(await getDigestOfTag(repo, "keep")).toBe(other.digest);
    expect(await getObject(revisionKey(repo, m.digest))).toBeNull();

    // Deleting again: unknown.
    const again = await req(url, `/v2/${repo}/manifests/${m.digest}`, { method: "DELETE" });
    expect(await statusAndCode(again)).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
  });
});

describe("content negotiation (Accept)", () => {
  const repo = `m-${rand()}/accept`;
  let m: Manifest;

  beforeAll(async () => {
    m = (await pushImageBlobs(url, repo)).manifest;
    await putManifestOk(url, repo, "v1", m);
  });

  // Choice documented in src/registry/manifests.ts: Berth stores one representation and never converts, so an
  // Accept header that lists manifest types but not the stored one gets 404 MANIFEST_UNKNOWN (as Distribution
  // does for an OCI manifest requested by a Docker-only client), rather than a body the client said it can't read.
  it("an Accept listing only another manifest type → 404 MANIFEST_UNKNOWN (GET and HEAD)", async () => {
    for (const accept of [DOCKER_MANIFEST, `${DOCKER_MANIFEST}, ${DOCKER_LIST}`, OCI_INDEX]) {
      for (const ref of ["v1", m.digest]) {
        const get = await req(url, `/v2/${repo}/manifests/${ref}`, { headers: { Accept: accept } });
        expect(await statusAndCode(get), `${accept} ${ref}`).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
        const head = await req(url, `/v2/${repo}/manifests/${ref}`, { method: "HEAD", headers: { Accept: accept } });
        expect(head.status, `HEAD ${accept} ${ref}`).toBe(404);
      }
    }
  });

  it("Accept */*, a list that includes the type (with parameters), or the type in other case → 200", async () => {
    for (const accept of [
      "*/*",
      `${DOCKER_MANIFEST}, ${OCI_MANIFEST}`,
      `${DOCKER_MANIFEST};q=0.9, ${OCI_MANIFEST};q=0.5`,
      OCI_MANIFEST.toUpperCase(),
    ]) {
      const res = await req(url, `/v2/${repo}/manifests/v1`, { headers: { Accept: accept } });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get("Content-Type"), accept).toBe(OCI_MANIFEST);
      expect(new Uint8Array(await res.arrayBuffer()), accept).toEqual(m.bytes);
    }
  });

  it("no Accept header at all → 200 with the stored type", async () => {
    const res = await rawRequest(url, { method: "GET", path: `/v2/${repo}/manifests/v1`, headers: {} });
    expect(res?.status).toBe(200);
    expect(res?.headers["content-type"]).toBe(OCI_MANIFEST);
    expect(res?.bytes).toEqual(m.bytes);
  });
});

describe("refused PUTs write nothing", () => {
  const repo = `m-${rand()}/refused`;
  let config: ReturnType<typeof blobOf>;
  let layer: ReturnType<typeof blobOf>;
  let good: Manifest;

  beforeAll(async () => {
    const pushed = await pushImageBlobs(url, repo);
    config = pushed.config;
    layer = pushed.layers[0]!;
    good = pushed.manifest;
    await putManifestOk(url, repo, "v1", good);
  });

  async function expectNothingWritten(repoName: string, m: Manifest, tag?: string): Promise<void> {
    expect(await getObject(revisionKey(repoName, m.digest)), "revision link").toBeNull();
    expect(await getObject(dataKey(m.digest)), "data object").toBeNull();
    if (tag) expect(await getObject(tagCurrentKey(repoName, tag)), "tag link").toBeNull();
    const keys = await manifestKeys(repoName);
    expect(keys.filter((k) => k.includes(hexOf(m.digest)))).toEqual([]);
  }

  it("a missing layer → 400 MANIFEST_BLOB_UNKNOWN, no tag, no revision link, no data", async () => {
    const m = imageManifest({ config, layers: [layer, randomBlob()] });
    const res = await putManifest(url, repo, "missing-layer", m);
    expect(await statusAndCode(res)).toEqual({ status: 400, code: "MANIFEST_BLOB_UNKNOWN" });
    await expectNothingWritten(repo, m, "missing-layer");
  });

  it("a missing config → 400 MANIFEST_BLOB_UNKNOWN, nothing written (by tag and by digest)", async () => {
    const m = imageManifest({ config: randomBlob(), layers: [layer] });
    expect(await statusAndCode(await putManifest(url, repo, "missing-config", m))).toEqual({
      status: 400,
      code: "MANIFEST_BLOB_UNKNOWN",
    });
    expect(await statusAndCode(await putManifest(url, repo, m.digest, m))).toEqual({
      status: 400,
      code: "MANIFEST_BLOB_UNKNOWN",
    });
    await expectNothingWritten(repo, m, "missing-config");
  });

  it("a blob present in another repository only is still missing here → 400 MANIFEST_BLOB_UNKNOWN", async () => {
    const otherRepo = `m-${rand()}/other`;
    const foreign = randomBlob();
    await pushBlob(url, otherRepo, foreign);
    const m = imageManifest({ config, layers: [foreign] });
    expect(await statusAndCode(await putManifest(url, repo, "foreign", m))).toEqual({
      status: 400,
      code: "MANIFEST_BLOB_UNKNOWN",
    });
    await expectNothingWritten(repo, m, "foreign");
  });

  it("an index whose child manifest is missing → 400 MANIFEST_BLOB_UNKNOWN, nothing written", async () => {
    const missingChild = imageManifest({ config, layers: [layer], annotations: { never: "pushed" } });
    for (const idx of [indexManifest([good, missingChild]), indexManifest([good, missingChild], { docker: true })]) {
      const res = await putManifest(url, repo, "idx", idx);
      expect(await statusAndCode(res)).toEqual({ status: 400, code: "MANIFEST_BLOB_UNKNOWN" });
      await expectNothingWritten(repo, idx, "idx");
    }
  });

  it("a manifest over 4 MiB → 413 (declared length and chunked), nothing written", async () => {
    const pad = "x".repeat(4 * MiB);
    const big = manifestOf(
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size }, layers: [], annotations: { pad } },
      OCI_MANIFEST,
    );
    expect(big.size).toBeGreaterThan(4 * MiB);
    const res = await putManifest(url, repo, "big", big);
    expect(res.status).toBe(413);
    await res.body?.cancel();

    // Without Content-Length the cap must hold while reading.
    const bytes = big.bytes;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let off = 0; off < bytes.byteLength; off += 256 * 1024) c.enqueue(bytes.slice(off, off + 256 * 1024));
        c.close();
      },
    });
    const chunked = await req(url, `/v2/${repo}/manifests/big`, {
      method: "PUT",
      headers: { "Content-Type": OCI_MANIFEST },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    await chunked.body?.cancel();
    await expectNothingWritten(repo, big, "big");
  });

  it("a manifest of exactly 4 MiB is accepted (the spec's minimum)", async () => {
    const shell = (pad: string) =>
      manifestOf(
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size }, layers: [], annotations: { pad } },
        OCI_MANIFEST,
      );
    const overhead = shell("").size;
    const m = shell("y".repeat(4 * MiB - overhead));
    expect(m.size).toBe(4 * MiB);
    const res = await putManifest(url, repo, "four-mib", m);
    expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
    const get = await req(url, `/v2/${repo}/manifests/four-mib`);
    expect(get.status).toBe(200);
    expect(get.headers.get("Docker-Content-Digest")).toBe(m.digest);
    expect((await get.arrayBuffer()).byteLength).toBe(4 * MiB);
  });

  it("invalid JSON → 400 MANIFEST_INVALID, nothing written", async () => {
    const broken = { ...manifestOf({}, OCI_MANIFEST), bytes: enc('{"schemaVersion": 2, "mediaType": ') };
    broken.digest = digestOf(broken.bytes);
    const res = await putManifest(url, repo, "broken", broken);
    expect(await statusAndCode(res)).toEqual({ status: 400, code: "MANIFEST_INVALID" });
    await expectNothingWritten(repo, broken, "broken");
  });

  it("schema1 (signed and unsigned) → 400 MANIFEST_INVALID", async () => {
    const s1 = manifestOf(
      {
        schemaVersion: 1,
        name: repo,
        tag: "old",
        architecture: "amd64",
        fsLayers: [{ blobSum: layer.digest }],
        history: [{ v1Compatibility: "{}" }],
      },
      "application/vnd.docker.distribution.manifest.v1+json",
    );
    for (const ct of ["application/vnd.docker.distribution.manifest.v1+prettyjws", "application/vnd.docker.distribution.manifest.v1+json", "application/json"]) {
      const res = await putManifest(url, repo, "old", s1, ct);
      expect(await statusAndCode(res), ct).toEqual({ status: 400, code: "MANIFEST_INVALID" });
    }
    await expectNothingWritten(repo, s1, "old");
  });

  it("PUT by a digest that does not match the bytes → 400 DIGEST_INVALID, nothing written", async () => {
    const m = imageManifest({ config, layers: [layer], annotations: { v: rand() } });
    const wrong = digestOf(enc("something else"));
    const res = await putManifest(url, repo, wrong, m);
    expect(await statusAndCode(res)).toEqual({ status: 400, code: "DIGEST_INVALID" });
    await expectNothingWritten(repo, m);
    expect(await getObject(revisionKey(repo, wrong))).toBeNull();
    expect(await getObject(dataKey(wrong))).toBeNull();
  });

  it("Content-Type contradicting the body's mediaType → 400 MANIFEST_INVALID", async () => {
    const m = imageManifest({ config, layers: [layer], annotations: { v: rand() } });
    const res = await putManifest(url, repo, "mismatch", m, DOCKER_MANIFEST);
    expect(await statusAndCode(res)).toEqual({ status: 400, code: "MANIFEST_INVALID" });
    await expectNothingWritten(repo, m, "mismatch");
  });

  it("invalid tag in the URL: PUT → 400 MANIFEST_INVALID; GET/HEAD/DELETE → 404 MANIFEST_UNKNOWN", async () => {
    for (const tag of ["-dash", ".dot", "a+b", "x".repeat(129)]) {
      const put = await putManifest(url, repo, tag, good);
      expect(await statusAndCode(put), `PUT ${tag}`).toEqual({ status: 400, code: "MANIFEST_INVALID" });
      const get = await req(url, `/v2/${repo}/manifests/${tag}`);
      expect(await statusAndCode(get), `GET ${tag}`).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
      const head = await req(url, `/v2/${repo}/manifests/${tag}`, { method: "HEAD" });
      expect(head.status, `HEAD ${tag}`).toBe(404);
      const del = await req(url, `/v2/${repo}/manifests/${tag}`, { method: "DELETE" });
      expect(await statusAndCode(del), `DELETE ${tag}`).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
    }
    // A 128-character tag is valid.
    const longest = "t".repeat(128);
    expect((await putManifest(url, repo, longest, good)).status).toBe(201);
    expect(await getDigestOfTag(repo, longest)).toBe(good.digest);
  });

  it("a failed re-tag never moves the tag (missing blob, invalid JSON, digest mismatch)", async () => {
    expect(await getDigestOfTag(repo, "v1")).toBe(good.digest);

    const missing = imageManifest({ config, layers: [randomBlob()] });
    expect(await statusAndCode(await putManifest(url, repo, "v1", missing))).toEqual({ status: 400, code: "MANIFEST_BLOB_UNKNOWN" });
    expect(await getDigestOfTag(repo, "v1")).toBe(good.digest);

    const broken = { ...good, bytes: enc("{not json") };
    expect(await statusAndCode(await putManifest(url, repo, "v1", broken))).toEqual({ status: 400, code: "MANIFEST_INVALID" });
    expect(await getDigestOfTag(repo, "v1")).toBe(good.digest);

    expect(text(await getObject(tagCurrentKey(repo, "v1")))).toBe(good.digest);
    const indexLinks = (await manifestKeys(repo)).filter((k) => k.includes("/_manifests/tags/v1/index/"));
    expect(indexLinks).toEqual([tagIndexKey(repo, "v1", good.digest)]);
  });

  it("a PUT cut off mid-body never moves the tag nor stores the manifest", async () => {
    const replacement = imageManifest({ config, layers: [layer], annotations: { replacement: rand() } });
    await cutOffRequest(url, `/v2/${repo}/manifests/v1`, {
      method: "PUT",
      headers: { "Content-Type": OCI_MANIFEST },
      sent: replacement.bytes.slice(0, Math.floor(replacement.size / 2)),
      declaredLength: replacement.size,
    });
    // Give the Worker a moment to notice the broken body (bounded), then check nothing moved.
    await new Promise((r) => setTimeout(r, 500));
    expect(await getDigestOfTag(repo, "v1")).toBe(good.digest);
    expect(await getObject(revisionKey(repo, replacement.digest))).toBeNull();
    expect(await getObject(dataKey(replacement.digest))).toBeNull();
    // And the registry still works normally afterwards.
    expect((await putManifest(url, repo, "v1", replacement)).status).toBe(201);
    expect(await getDigestOfTag(repo, "v1")).toBe(replacement.digest);
  });
});

describe("subject", () => {
  const repo = `m-${rand()}/subject`;

  it("a manifest with a subject (which need not exist) → 201 with OCI-Subject", async () => {
    const { config, layers } = await pushImageBlobs(url, repo);
    const absentSubject = imageManifest({ config: randomBlob(), layers: [], annotations: { absent: "yes" } });
    const m = imageManifest({ config, layers, subject: absentSubject });
    const res = await putManifest(url, repo, m.digest, m);
    expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
    expect(res.headers.get("OCI-Subject")).toBe(absentSubject.digest);
    expect(res.headers.get("Docker-Content-Digest")).toBe(m.digest);
    const get = await req(url, `/v2/${repo}/manifests/${m.digest}`);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(m.bytes);
  });

  it("a manifest without a subject has no OCI-Subject header", async () => {
    const { manifest } = await pushImageBlobs(url, repo);
    const res = await putManifest(url, repo, "plain", manifest);
    expect(res.status).toBe(201);
    expect(res.headers.get("OCI-Subject")).toBeNull();
  });
});

describe("DELETE", () => {
  const repo = `m-${rand()}/delete`;
  let m: Manifest;

  beforeAll(async () => {
    m = (await pushImageBlobs(url, repo)).manifest;
    await putManifestOk(url, repo, "v1", m);
  });

  it("unknown digest, unknown tag and unknown repository → 404 MANIFEST_UNKNOWN", async () => {
    const unknown = digestOf(enc(`unknown ${rand()}`));
    for (const path of [`/v2/${repo}/manifests/${unknown}`, `/v2/${repo}/manifests/nope`, `/v2/m-${rand()}/none/manifests/${unknown}`]) {
      const res = await req(url, path, { method: "DELETE" });
      expect(await statusAndCode(res), path).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
    }
  });

  it("with REGISTRY_STORAGE_DELETE_ENABLED=false → 405 UNSUPPORTED and the manifest stays", async () => {
    for (const ref of [m.digest, "v1"]) {
      const res = await req(noDelete.url, `/v2/${repo}/manifests/${ref}`, { method: "DELETE" });
      expect(await statusAndCode(res), ref).toEqual({ status: 405, code: "UNSUPPORTED" });
    }
    // The instance without deletes still serves reads.
    expect((await req(noDelete.url, `/v2/${repo}/manifests/v1`)).status).toBe(200);
    expect(await getDigestOfTag(repo, "v1")).toBe(m.digest);
    expect(text(await getObject(revisionKey(repo, m.digest)))).toBe(m.digest);
  });
});

describe("media type and identity", () => {
  const repo = `m-${rand()}/misc`;

  it("a manifest without a mediaType field is stored and served with the PUT's Content-Type", async () => {
    const { config, layers } = await pushImageBlobs(url, repo);
    const m = manifestOf(
      {
        schemaVersion: 2,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
      },
      OCI_MANIFEST,
    );
    const res = await putManifest(url, repo, "nomt", m);
    expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
    const get = await req(url, `/v2/${repo}/manifests/nomt`);
    expect(get.status).toBe(200);
    expect(get.headers.get("Content-Type")).toBe(OCI_MANIFEST);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(m.bytes);
  });

  it("pushing the same manifest twice is idempotent: 201 and the same digest both times", async () => {
    const { manifest } = await pushImageBlobs(url, repo);
    for (let i = 0; i < 2; i++) {
      const res = await putManifest(url, repo, "twice", manifest);
      expect(res.status).toBe(201);
      expect(res.headers.get("Docker-Content-Digest")).toBe(manifest.digest);
    }
    const indexLinks = (await manifestKeys(repo)).filter((k) => k.includes("/_manifests/tags/twice/index/"));
    expect(indexLinks).toEqual([tagIndexKey(repo, "twice", manifest.digest)]);
  });

  it("repeated GETs (the isolate remembers manifests by digest) return the same bytes; a moved tag is seen at once", async () => {
    const a = await pushImageBlobs(url, repo);
    const b = await pushImageBlobs(url, repo);
    await putManifestOk(url, repo, "moving", a.manifest);
    for (let i = 0; i < 3; i++) {
      for (const ref of ["moving", a.manifest.digest]) {
        const get = await req(url, `/v2/${repo}/manifests/${ref}`);
        expect(get.status).toBe(200);
        expect(get.headers.get("Docker-Content-Digest")).toBe(a.manifest.digest);
        expect(new Uint8Array(await get.arrayBuffer())).toEqual(a.manifest.bytes);
      }
    }
    await putManifestOk(url, repo, "moving", b.manifest);
    const moved = await req(url, `/v2/${repo}/manifests/moving`);
    expect(moved.headers.get("Docker-Content-Digest")).toBe(b.manifest.digest);
    expect(new Uint8Array(await moved.arrayBuffer())).toEqual(b.manifest.bytes);
    // Deleting a manifest hides it at once, although its bytes are still remembered.
    expect((await req(url, `/v2/${repo}/manifests/${a.manifest.digest}`, { method: "DELETE" })).status).toBe(202);
    expect(await statusAndCode(await req(url, `/v2/${repo}/manifests/${a.manifest.digest}`))).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
  });

  it("the digest of a blob (not a manifest) of the repository is not a manifest → 404 MANIFEST_UNKNOWN", async () => {
    const { config } = await pushImageBlobs(url, repo);
    const res = await req(url, `/v2/${repo}/manifests/${config.digest}`);
    expect(await statusAndCode(res)).toEqual({ status: 404, code: "MANIFEST_UNKNOWN" });
  });

  it("a malformed digest reference → 400 DIGEST_INVALID on GET and PUT", async () => {
    const { manifest } = await pushImageBlobs(url, repo);
    for (const ref of ["sha256:abc", `sha256:${"A".repeat(64)}`]) {
      expect(await statusAndCode(await req(url, `/v2/${repo}/manifests/${ref}`)), `GET ${ref}`).toEqual({
        status: 400,
        code: "DIGEST_INVALID",
      });
      expect(await statusAndCode(await putManifest(url, repo, ref, manifest)), `PUT ${ref}`).toEqual({
        status: 400,
        code: "DIGEST_INVALID",
      });
    }
  });
});
