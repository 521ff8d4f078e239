// sha512 end to end against wrangler dev and Swift: a layer pushed in chunks into a session opened with the
// spec's `?digest-algorithm=sha512` (end-4c; workerd's DigestStream hashes SHA-512 as the chunks arrive, and the
// blob is bigger than one part, so it is written as a multipart upload), a config and a manifest referencing
// both by sha512 digest, pulled back byte for byte, and the bucket holding them in Distribution's layout under
// blobs/sha512/. Refused algorithms answer 400 DIGEST_INVALID.
import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { getObject, listKeys } from "./harness/s3.js";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, enc, manifestOf } from "./helpers/manifests.js";
import { MiB, absolute, rand, randomBytes, req, statusAndCode, withDigest } from "./helpers/registry.js";

const ROOT = `t-sha512-${rand()}`;
const V2 = `${ROOT}/docker/registry/v2`;
const CHUNK = 5 * MiB;

const sha512 = (bytes: Uint8Array) => `sha512:${createHash("sha512").update(bytes).digest("hex")}`;
const hexOf = (digest: string) => digest.slice("sha512:".length);
const blobKey = (digest: string) => `${V2}/blobs/sha512/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;
const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

let berth: Berth;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, REGISTRY_STORAGE_S3_CHUNKSIZE: String(CHUNK) });
});

afterAll(async () => {
  await berth?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- berth logs (tail)\n${berth.logs().slice(-4000)}`);
});

/** POST ?digest-algorithm=sha512, PATCH the chunks with Content-Range, PUT ?digest=; returns the digest. */
async function pushInChunks(repo: string, bytes: Uint8Array, chunk: number): Promise<string> {
  const post = await req(berth.url, `/v2/${repo}/blobs/uploads/?digest-algorithm=sha512`, { method: "POST" });
  expect(post.status).toBe(202);
  let loc = absolute(berth.url, post.headers.get("location")!);
  for (let at = 0; at < bytes.byteLength; at += chunk) {
    const piece = bytes.subarray(at, at + chunk);
    const end = at + piece.byteLength - 1;
    const res = await req(berth.url, loc, {
      method: "PATCH",
      body: piece,
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(piece.byteLength), "Content-Range": `${at}-${end}` },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${end}`);
    loc = absolute(berth.url, res.headers.get("location")!);
  }
  const digest = sha512(bytes);
  const put = await req(berth.url, withDigest(loc, digest), { method: "PUT" });
  expect(put.status, await put.clone().text()).toBe(201);
  expect(put.headers.get("docker-content-digest")).toBe(digest);
  expect(put.headers.get("location")).toBe(`/v2/${repo}/blobs/${digest}`);
  return digest;
}

describe("sha512", () => {
  it("a layer pushed in chunks and a manifest referencing it by sha512: pulled back whole, stored under blobs/sha512/", async () => {
    const repo = `s5-${rand(6)}/app`;
    const layer = randomBytes(CHUNK + 2 * MiB + 123); // two parts in the bucket
    const config = enc(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const dLayer = await pushInChunks(repo, layer, 3 * MiB);
    const dConfig = await pushInChunks(repo, config, 64);
    const manifest = manifestOf(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: dConfig, size: config.byteLength },
        layers: [{ mediaType: OCI_LAYER, digest: dLayer, size: layer.byteLength }],
      },
      OCI_MANIFEST,
    );
    const dManifest = sha512(manifest.bytes);
    const put = await req(berth.url, `/v2/${repo}/manifests/${dManifest}`, { method: "PUT", headers: { "Content-Type": OCI_MANIFEST }, body: manifest.bytes });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(dManifest);

    // Pull: the manifest by its sha512 digest, then each blob through the presigned redirect.
    const got = await req(berth.url, `/v2/${repo}/manifests/${dManifest}`, { headers: { Accept: OCI_MANIFEST } });
    expect(got.status).toBe(200);
    expect(got.headers.get("docker-content-digest")).toBe(dManifest);
    expect(same(new Uint8Array(await got.arrayBuffer()), manifest.bytes)).toBe(true);
    for (const [digest, bytes] of [[dLayer, layer], [dConfig, config]] as const) {
      const head = await req(berth.url, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
      expect(head.headers.get("docker-content-digest")).toBe(digest);
      const redirect = await req(berth.url, `/v2/${repo}/blobs/${digest}`);
      expect(redirect.status).toBe(307);
      const pulled = await fetch(redirect.headers.get("location")!);
      expect(pulled.status).toBe(200);
      const body = new Uint8Array(await pulled.arrayBuffer());
      expect(same(body, bytes)).toBe(true);
      expect(sha512(body)).toBe(digest);
    }

    // The bucket: Distribution's layout, under sha512 only.
    for (const [digest, bytes] of [[dLayer, layer], [dConfig, config], [dManifest, manifest.bytes]] as const) {
      expect(same(await getObject(blobKey(digest)), bytes)).toBe(true);
    }
    const keys = await listKeys(`${V2}/`);
    expect(keys.filter((k) => k.includes("/sha256/"))).toEqual([]);
    expect(keys.filter((k) => k.startsWith(`${V2}/blobs/`)).sort()).toEqual([dLayer, dConfig, dManifest].map(blobKey).sort());
    const revision = await getObject(`${V2}/repositories/${repo}/_manifests/revisions/sha512/${hexOf(dManifest)}/link`);
    expect(revision && new TextDecoder().decode(revision)).toBe(dManifest);
    const link = await getObject(`${V2}/repositories/${repo}/_layers/sha512/${hexOf(dLayer)}/link`);
    expect(link && new TextDecoder().decode(link)).toBe(dLayer);
  });

  it("digest-algorithm other than sha256 and sha512 is refused with 400 DIGEST_INVALID", async () => {
    const repo = `s5-${rand(6)}/refused`;
    for (const alg of ["md5", "sha384", "SHA512"]) {
      const res = await req(berth.url, `/v2/${repo}/blobs/uploads/?digest-algorithm=${alg}`, { method: "POST" });
      expect(await statusAndCode(res), alg).toEqual({ status: 400, code: "DIGEST_INVALID" });
    }
  });
});
