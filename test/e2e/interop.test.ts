// Interop with the reference implementation: Berth (wrangler dev) and CNCF Distribution 2.8 (Debian's
// docker-registry) serve ONE bucket under ONE rootdirectory (unique per run), so each must read what the other
// wrote, byte for byte:
//  1. pushed through Distribution (skopeo) -> pulled through Berth; tags list and catalog agree;
//  2. pushed through Berth (skopeo, plus a chunked upload by hand: POST, PATCHes with Content-Range, PUT; and a
//     cross-repository mount) -> pulled through Distribution;
//  3. a manifest deleted through Berth is gone through Distribution;
//  4. `docker-registry garbage-collect --dry-run` on the shared bucket runs clean and marks every blob that
//     Berth's manifests reference;
// and the key layout Berth wrote is Distribution's, link files included (exactly "sha256:<hex>", no newline).
// Also: blob HEAD, cross-repository mounts in both directions, a tag moved through Berth, a blob deleted through
// Berth, and repositories that hold only blobs (Distribution's catalog lists every repository with `_layers`).
// Distribution runs without a blob-descriptor cache, so it always reads what Berth just changed in the bucket.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { getObject, listKeys, listMultipartUploads } from "./harness/s3.js";
import { makeOciLayout, PROJECT_ROOT, run, type OciRef, type RunResult } from "./harness/tools.js";

const rand = () => randomBytes(5).toString("hex");
const RUN = rand();
const ROOT = `t-interop-${RUN}`;
const PREFIX = `${ROOT}/docker/registry/v2/`;
const STEP_MS = 120_000;
const MiB = 1024 * 1024;

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");

type Desc = { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string } };
type ImageManifest = { mediaType?: string; config: Desc; layers: Desc[] };
type IndexManifest = { mediaType?: string; manifests: Desc[] };

let berth: Berth;
let dist: Distribution;
let tmp: string;
let layout: string;
let refs: Record<string, OciRef>;

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const digestOf = (b: Uint8Array | string) => `sha256:${sha256(b)}`;
const hexOf = (digest: string) => digest.replace(/^sha256:/, "");
const blobFile = (dir: string, digest: string) => path.join(dir, "blobs", "sha256", hexOf(digest));
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;
const enc = (s: string) => new TextEncoder().encode(s);

function tails(): string {
  return `\n--- wrangler (last 3 KB)\n${berth?.logs().slice(-3000) ?? ""}\n--- docker-registry (last 3 KB)\n${dist?.logs().slice(-3000) ?? ""}`;
}

async function ok(cmd: string, args: string[], timeoutMs = STEP_MS): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-4000)}${tails()}`);
  return r;
}

const skopeo = (args: string[]) => ok("skopeo", ["--insecure-policy", ...args]);

async function ensureTools(group: string, cmds: string[]): Promise<void> {
  const which = async (c: string) => (await run("sh", ["-c", `command -v ${c}`], { timeoutMs: 10_000 })).code === 0;
  const missing: string[] = [];
  for (const c of cmds) if (!(await which(c))) missing.push(c);
  if (missing.length === 0) return;
  const r = await run("bash", [path.join(PROJECT_ROOT, "scripts/install-deps.sh"), group], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`missing ${missing.join(", ")}; scripts/install-deps.sh ${group} failed:\n${r.stderr.slice(-4000)}`);
}

/** One HTTP request to a registry (`base` = Berth's or Distribution's URL), bounded; redirects not followed. */
function call(base: string, p: string, init: RequestInit = {}): Promise<Response> {
  const url = /^https?:\/\//.test(p) ? p : base + p;
  return fetch(url, { redirect: "manual", signal: AbortSignal.timeout(30_000), ...init });
}

/** GET with the body read; redirects (307 to presigned S3 URLs, from either registry) followed. */
async function getBytes(base: string, p: string, accept = ACCEPT): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(base + p, { headers: { Accept: accept }, signal: AbortSignal.timeout(60_000) });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

async function getJson<T>(base: string, p: string): Promise<{ status: number; body: T; link: string | null }> {
  const r = await getBytes(base, p);
  return { status: r.status, body: JSON.parse(r.bytes.toString("utf8") || "null") as T, link: r.headers.get("link") };
}

const absolute = (base: string, location: string) => new URL(location, base + "/").toString();
const withDigest = (loc: string, digest: string) => `${loc}${loc.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;

/** Monolithic blob push to Berth (POST ?digest= with the body). */
async function pushBlob(repo: string, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const res = await call(berth.url, `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    body: bytes,
    headers: { "Content-Type": "application/octet-stream" },
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`monolithic push to ${repo}: HTTP ${res.status} ${text}${tails()}`);
  return digest;
}

async function putManifest(repo: string, ref: string, bytes: Uint8Array, mediaType = OCI_MANIFEST): Promise<string> {
  const res = await call(berth.url, `/v2/${repo}/manifests/${ref}`, { method: "PUT", body: bytes, headers: { "Content-Type": mediaType } });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${ref}: HTTP ${res.status} ${text}${tails()}`);
  expect(res.headers.get("docker-content-digest")).toBe(digestOf(bytes));
  return digestOf(bytes);
}

/** A config blob for one uncompressed layer (diff_id = the layer's digest), unique by `label`. */
function configFor(layerDigest: string, label: string): Uint8Array {
  return enc(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Labels: { "berth.test": label } },
      rootfs: { type: "layers", diff_ids: [layerDigest] },
    }),
  );
}

function manifestFor(config: { digest: string; size: number }, layers: { digest: string; size: number }[]): Uint8Array {
  return enc(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER_TAR, digest: l.digest, size: l.size })),
    }),
  );
}

/** Every descriptor reachable from `d` in the OCI layout (index -> children -> config + layers). */
async function reachable(dir: string, d: Desc): Promise<Desc[]> {
  const out: Desc[] = [d];
  if (d.mediaType === OCI_INDEX) {
    for (const child of (await readJson<IndexManifest>(blobFile(dir, d.digest))).manifests) out.push(...(await reachable(dir, child)));
  } else if (d.mediaType === OCI_MANIFEST) {
    const m = await readJson<ImageManifest>(blobFile(dir, d.digest));
    out.push(m.config, ...m.layers);
  }
  return out;
}

/** skopeo pull of `ref` into a fresh OCI layout; every blob reachable from the source tag must be identical. */
async function pullAndCompare(registry: string, repo: string, tag: string, extra: string[] = []): Promise<void> {
  const out = path.join(tmp, `pull-${rand()}`);
  await skopeo(["copy", "--src-tls-verify=false", "--preserve-digests", ...extra, `docker://${new URL(registry).host}/${repo}:${tag}`, `oci:${out}:${tag}`]);
  const want = await reachable(layout, refs[tag]!);
  expect(want.length).toBeGreaterThanOrEqual(3);
  for (const d of want) {
    const [a, b] = await Promise.all([readFile(blobFile(layout, d.digest)), readFile(blobFile(out, d.digest))]);
    expect(b.equals(a), `${repo}:${tag}: blob ${d.digest} differs`).toBe(true);
  }
  await rm(out, { recursive: true, force: true });
}

/** Full catalog, following Link pagination with page size `n` (bounded). */
async function catalog(base: string, n?: number): Promise<string[]> {
  const out: string[] = [];
  let next: string | null = n ? `/v2/_catalog?n=${n}` : "/v2/_catalog";
  for (let page = 0; next && page < 200; page++) {
    const r: { status: number; body: { repositories: string[] }; link: string | null } = await getJson(base, next);
    expect(r.status).toBe(200);
    out.push(...r.body.repositories);
    const m: RegExpExecArray | null = r.link ? /<([^>]+)>/.exec(r.link) : null;
    next = m ? m[1]!.replace(/^https?:\/\/[^/]+/, "") : null;
  }
  return out;
}

/** Tags of `repo` as both registries list them: same status, same tags (sorted). */
async function expectTagsAgree(repo: string, expected: string[]): Promise<void> {
  const [b, d] = await Promise.all([getJson<{ name: string; tags: string[] | null }>(berth.url, `/v2/${repo}/tags/list`), getJson<{ name: string; tags: string[] | null }>(dist.url, `/v2/${repo}/tags/list`)]);
  expect(d.status, `Distribution tags/list ${repo}`).toBe(200);
  expect(b.status, `Berth tags/list ${repo}`).toBe(200);
  expect(b.body.name).toBe(repo);
  expect(d.body.name).toBe(repo);
  expect([...(d.body.tags ?? [])].sort(), "Distribution's tags").toEqual([...expected].sort());
  expect([...(b.body.tags ?? [])].sort(), "Berth's tags").toEqual([...expected].sort());
}

/**
 * Both catalogs, in full and walked one entry per page, are the same list. Repositories that hold only blobs
 * (no manifest) are left out here: they have a test of their own below.
 */
async function expectCatalogsAgree(mustContain: string[]): Promise<void> {
  const drop = (l: string[]) => l.filter((r) => !BLOB_ONLY.includes(r));
  const [b, d, b1, d1] = (await Promise.all([catalog(berth.url), catalog(dist.url), catalog(berth.url, 1), catalog(dist.url, 1)])).map(drop);
  expect(b, "Berth's catalog vs Distribution's").toEqual(d);
  expect(b1, "catalog walked with n=1: Berth vs Distribution").toEqual(d1);
  expect(d1).toEqual(d);
  for (const r of mustContain) expect(d).toContain(r);
}

beforeAll(async () => {
  await ensureTools("skopeo", ["skopeo"]);
  await ensureTools("reference", ["docker-registry"]);
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-interop-"));
  layout = path.join(tmp, "layout");
  const [b, d, list] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT }),
    startDistribution({ rootdirectory: ROOT }),
    makeOciLayout(layout),
  ]);
  berth = b;
  dist = d;
  refs = Object.fromEntries(list.map((r) => [r.annotations?.["org.opencontainers.image.ref.name"] ?? "", r]));
  expect(Object.keys(refs).sort()).toEqual(["multi", "v1"]);
});

afterAll(async () => {
  await Promise.all([berth?.stop(), dist?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// Repositories, and what Berth pushed (for the GC check): repo -> digests of manifests and of their blobs.
const DREPO = `dist-pushed/${RUN}`;
const BREPO_A = `berth-pushed/${RUN}/a`;
const BREPO_B = `berth-pushed/${RUN}/b`;
const BREPO_DEL = `berth-pushed/${RUN}/del`;
const BREPO_MNT = `berth-pushed/${RUN}/mnt`;
const DREPO_MNT = `dist-pushed/${RUN}/mnt`;
const BLOB_ONLY = [BREPO_MNT, DREPO_MNT]; // repositories that only ever get a mounted blob
const berthManifests = new Map<string, Set<string>>(); // repo -> manifest digests that must stay
const berthBlobs = new Set<string>(); // configs and layers those manifests reference
const note = (repo: string, manifest: string, blobs: string[]) => {
  if (!berthManifests.has(repo)) berthManifests.set(repo, new Set());
  berthManifests.get(repo)!.add(manifest);
  for (const b of blobs) berthBlobs.add(b);
};
let deleted: { manifest: string; config: string; layer: string } | undefined;
let chunked: { layer: Uint8Array; layerDigest: string; config: Uint8Array; configDigest: string; manifest: Uint8Array; manifestDigest: string } | undefined;

describe("Distribution writes, Berth reads", () => {
  it("an image and an index pushed through Distribution pull through Berth byte-identical", async () => {
    const dhost = new URL(dist.url).host;
    await skopeo(["copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${layout}:v1`, `docker://${dhost}/${DREPO}:v1`]);
    await skopeo(["copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${layout}:v1`, `docker://${dhost}/${DREPO}:also`]);
    await skopeo(["copy", "--dest-tls-verify=false", "--preserve-digests", "--all", `oci:${layout}:multi`, `docker://${dhost}/${DREPO}:multi`]);

    // Raw: the manifest and index bytes, digest and media type, by tag and by digest.
    for (const tag of ["v1", "multi"]) {
      const ref = refs[tag]!;
      const source = await readFile(blobFile(layout, ref.digest));
      for (const r of [tag, ref.digest]) {
        const m = await getBytes(berth.url, `/v2/${DREPO}/manifests/${r}`);
        expect(m.status, `GET ${DREPO}:${r} through Berth${tails()}`).toBe(200);
        expect(m.headers.get("docker-content-digest")).toBe(ref.digest);
        expect(m.headers.get("content-type")).toBe(ref.mediaType);
        expect(m.bytes.equals(source), `${r}: manifest bytes`).toBe(true);
      }
    }
    // Through a real client: every blob of v1, and of the index with --all.
    await pullAndCompare(berth.url, DREPO, "v1");
    await pullAndCompare(berth.url, DREPO, "multi", ["--all"]);
  });

  it("Berth answers blob HEAD for Distribution's blobs itself, with their size, and mounts them into its repositories", async () => {
    const all = [...(await reachable(layout, refs.v1!)), ...(await reachable(layout, refs.multi!))];
    const blobs = all.filter((d) => d.mediaType !== OCI_MANIFEST && d.mediaType !== OCI_INDEX);
    expect(blobs.length).toBeGreaterThanOrEqual(6);
    for (const d of blobs) {
      const res = await call(berth.url, `/v2/${DREPO}/blobs/${d.digest}`, { method: "HEAD" });
      await res.body?.cancel();
      expect(res.status, `HEAD ${d.digest}`).toBe(200);
      expect(res.headers.get("content-length"), `HEAD ${d.digest}`).toBe(String(d.size));
      expect(res.headers.get("docker-content-digest")).toBe(d.digest);
    }
    // Cross-repository mount from a repository Distribution wrote, into one of Berth's.
    const layer = (await readJson<ImageManifest>(blobFile(layout, refs.v1!.digest))).layers[0]!;
    const mount = await call(berth.url, `/v2/${BREPO_MNT}/blobs/uploads/?mount=${layer.digest}&from=${DREPO}`, { method: "POST" });
    const text = await mount.text();
    expect(mount.status, `Berth mount from Distribution's repository: ${text}${tails()}`).toBe(201);
    const seen = await call(dist.url, `/v2/${BREPO_MNT}/blobs/${layer.digest}`, { method: "HEAD" });
    await seen.body?.cancel();
    expect([200, 307], "Distribution HEAD of the blob Berth mounted").toContain(seen.status);
  });

  it("tags list and catalog agree with Distribution's", async () => {
    await expectTagsAgree(DREPO, ["v1", "also", "multi"]);
    await expectCatalogsAgree([DREPO]);
  });
});

describe("Berth writes, Distribution reads", () => {
  it("a layer uploaded in chunks (POST, PATCH with Content-Range x3, PUT) and its image pull through Distribution", async () => {
    // 7 MiB in 3 + 3 + 1 MiB chunks: more than one 5 MiB S3 part.
    const layer = new Uint8Array(randomBytes(7 * MiB));
    const layerDigest = digestOf(layer);
    const post = await call(berth.url, `/v2/${BREPO_A}/blobs/uploads/`, { method: "POST" });
    await post.body?.cancel();
    expect(post.status).toBe(202);
    let loc = absolute(berth.url, post.headers.get("location") ?? "");
    let off = 0;
    for (const size of [3 * MiB, 3 * MiB, 1 * MiB]) {
      const chunk = layer.subarray(off, off + size);
      const res = await call(berth.url, loc, {
        method: "PATCH",
        body: chunk,
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${off}-${off + size - 1}` },
      });
      const text = await res.text();
      expect(res.status, `PATCH ${off}-${off + size - 1}: ${text}${tails()}`).toBe(202);
      off += size;
      expect(res.headers.get("range")).toBe(`0-${off - 1}`);
      loc = absolute(berth.url, res.headers.get("location") ?? loc);
    }
    const put = await call(berth.url, withDigest(loc, layerDigest), { method: "PUT" });
    const putText = await put.text();
    expect(put.status, `PUT ?digest=: ${putText}${tails()}`).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(layerDigest);

    const config = configFor(layerDigest, `chunked-${RUN}`);
    const configDigest = await pushBlob(BREPO_A, config);
    const manifest = manifestFor({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
    const manifestDigest = await putManifest(BREPO_A, "chunked", manifest);
    chunked = { layer, layerDigest, config, configDigest, manifest, manifestDigest };
    note(BREPO_A, manifestDigest, [configDigest, layerDigest]);

    // Distribution serves the same bytes: manifest by tag, config and layer (through its 307 to S3).
    const m = await getBytes(dist.url, `/v2/${BREPO_A}/manifests/chunked`);
    expect(m.status, `Distribution GET manifest${tails()}`).toBe(200);
    expect(m.headers.get("docker-content-digest")).toBe(manifestDigest);
    expect(m.headers.get("content-type")).toBe(OCI_MANIFEST);
    expect(m.bytes.equals(Buffer.from(manifest))).toBe(true);
    const head = await call(dist.url, `/v2/${BREPO_A}/blobs/${layerDigest}`, { method: "HEAD" });
    await head.body?.cancel();
    expect([200, 307]).toContain(head.status);
    const l = await getBytes(dist.url, `/v2/${BREPO_A}/blobs/${layerDigest}`);
    expect(l.status).toBe(200);
    expect(l.bytes.length).toBe(layer.length);
    expect(l.bytes.equals(Buffer.from(layer)), "layer bytes through Distribution").toBe(true);

    // And a real client pulls it through Distribution.
    const out = path.join(tmp, "dist-pull-chunked");
    await skopeo(["copy", "--src-tls-verify=false", `docker://${new URL(dist.url).host}/${BREPO_A}:chunked`, `dir:${out}`]);
    expect((await readFile(path.join(out, "manifest.json"))).equals(Buffer.from(manifest))).toBe(true);
    expect((await readFile(path.join(out, hexOf(configDigest)))).equals(Buffer.from(config))).toBe(true);
    expect((await readFile(path.join(out, hexOf(layerDigest)))).equals(Buffer.from(layer))).toBe(true);
    await rm(out, { recursive: true, force: true });
  });

  it("a blob mounted across repositories (POST ?mount=&from=) and the image using it pull through Distribution", async () => {
    expect(chunked, "needs the chunked upload test").toBeDefined();
    const { layer, layerDigest } = chunked!;
    const res = await call(berth.url, `/v2/${BREPO_B}/blobs/uploads/?mount=${layerDigest}&from=${BREPO_A}`, { method: "POST" });
    const text = await res.text();
    expect(res.status, `mount: ${text}${tails()}`).toBe(201);
    expect(res.headers.get("docker-content-digest")).toBe(layerDigest);
    expect(res.headers.get("location")).toContain(`/v2/${BREPO_B}/blobs/${layerDigest}`);

    const config = configFor(layerDigest, `mounted-${RUN}`);
    const configDigest = await pushBlob(BREPO_B, config);
    const manifest = manifestFor({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
    const manifestDigest = await putManifest(BREPO_B, "v1", manifest);
    note(BREPO_B, manifestDigest, [configDigest, layerDigest]);

    // Distribution finds the mounted blob in the target repository (it checks the repository's link).
    const head = await call(dist.url, `/v2/${BREPO_B}/blobs/${layerDigest}`, { method: "HEAD" });
    await head.body?.cancel();
    expect([200, 307], `Distribution HEAD mounted blob${tails()}`).toContain(head.status);
    const out = path.join(tmp, "dist-pull-mounted");
    await skopeo(["copy", "--src-tls-verify=false", `docker://${new URL(dist.url).host}/${BREPO_B}:v1`, `dir:${out}`]);
    expect((await readFile(path.join(out, "manifest.json"))).equals(Buffer.from(manifest))).toBe(true);
    expect((await readFile(path.join(out, hexOf(layerDigest)))).equals(Buffer.from(layer))).toBe(true);
    await rm(out, { recursive: true, force: true });
  });

  it("Distribution mounts a blob from a repository Berth wrote", async () => {
    expect(chunked).toBeDefined();
    const { layerDigest, layer } = chunked!;
    const res = await call(dist.url, `/v2/${DREPO_MNT}/blobs/uploads/?mount=${layerDigest}&from=${BREPO_A}`, { method: "POST" });
    const text = await res.text();
    expect(res.status, `Distribution mount from Berth's repository: ${text}${tails()}`).toBe(201);
    const l = await getBytes(berth.url, `/v2/${DREPO_MNT}/blobs/${layerDigest}`);
    expect(l.status).toBe(200);
    expect(l.bytes.equals(Buffer.from(layer))).toBe(true);
  });

  it("a tag moved through Berth moves for Distribution too", async () => {
    expect(chunked).toBeDefined();
    const { layerDigest, layer } = chunked!;
    const digests: string[] = [];
    for (const label of ["first", "second"]) {
      const config = configFor(layerDigest, `${label}-${RUN}`);
      const configDigest = await pushBlob(BREPO_B, config);
      const manifest = manifestFor({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
      digests.push(await putManifest(BREPO_B, "moving", manifest));
      const d = await call(dist.url, `/v2/${BREPO_B}/manifests/moving`, { method: "HEAD", headers: { Accept: ACCEPT } });
      await d.body?.cancel();
      expect(d.status).toBe(200);
      expect(d.headers.get("docker-content-digest"), `Distribution's view of the tag after the ${label} PUT`).toBe(digests.at(-1));
      note(BREPO_B, digests.at(-1)!, [configDigest, layerDigest]);
    }
    // Distribution's tag history: both digests under tags/moving/index/.
    const idx = await listKeys(`${PREFIX}repositories/${BREPO_B}/_manifests/tags/moving/index/`);
    expect(idx.sort()).toEqual(digests.map((d) => `${PREFIX}repositories/${BREPO_B}/_manifests/tags/moving/index/sha256/${hexOf(d)}/link`).sort());
  });

  it("an image and an index pushed through Berth by skopeo pull through Distribution byte-identical", async () => {
    const bhost = new URL(berth.url).host;
    await skopeo(["copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${layout}:v1`, `docker://${bhost}/${BREPO_A}:v1`]);
    await skopeo(["copy", "--dest-tls-verify=false", "--preserve-digests", "--all", `oci:${layout}:multi`, `docker://${bhost}/${BREPO_A}:multi`]);
    for (const tag of ["v1", "multi"]) {
      const all = await reachable(layout, refs[tag]!);
      for (const d of all.filter((x) => x.mediaType === OCI_MANIFEST || x.mediaType === OCI_INDEX)) {
        note(BREPO_A, d.digest, []);
      }
      for (const d of all.filter((x) => x.mediaType !== OCI_MANIFEST && x.mediaType !== OCI_INDEX)) berthBlobs.add(d.digest);
      const m = await getBytes(dist.url, `/v2/${BREPO_A}/manifests/${tag}`);
      expect(m.status).toBe(200);
      expect(m.headers.get("docker-content-digest")).toBe(refs[tag]!.digest);
      expect(m.headers.get("content-type")).toBe(refs[tag]!.mediaType);
    }
    await pullAndCompare(dist.url, BREPO_A, "v1");
    await pullAndCompare(dist.url, BREPO_A, "multi", ["--all"]);
  });

  it("tags list and catalog agree with Distribution's", async () => {
    await expectTagsAgree(BREPO_A, ["chunked", "v1", "multi"]);
    await expectTagsAgree(BREPO_B, ["v1", "moving"]);
    await expectCatalogsAgree([DREPO, BREPO_A, BREPO_B]);
  });

  it("a repository that holds only blobs (a mount, no manifest yet) is in both catalogs; its tags list is empty (Distribution: unknown)", async () => {
    // Distribution 2.8 lists every directory under repositories/ that has a `_layers` directory
    // (registry/storage/catalog.go, handleRepository), manifests or not; both of these have only `_layers`.
    for (const repo of BLOB_ONLY) {
      expect(await listKeys(`${PREFIX}repositories/${repo}/_layers/`), repo).toHaveLength(1);
      expect(await listKeys(`${PREFIX}repositories/${repo}/_manifests/`), repo).toEqual([]);
    }
    const [b, d] = await Promise.all([catalog(berth.url), catalog(dist.url)]);
    for (const repo of BLOB_ONLY) expect(d, "Distribution's catalog").toContain(repo);
    expect.soft(b, "Berth's catalog vs Distribution's").toEqual(d); // soft: the tags answer is checked too
    // The one deliberate difference: Distribution calls such a repository unknown to the tags API; Berth lists
    // no tags, as the OCI conformance suite expects of an existing repository.
    for (const repo of BLOB_ONLY) {
      const [bt, dt] = await Promise.all([call(berth.url, `/v2/${repo}/tags/list`), call(dist.url, `/v2/${repo}/tags/list`)]);
      const [btBody, dtText] = await Promise.all([bt.json(), dt.text()]);
      expect(bt.status, repo).toBe(200);
      expect(btBody).toEqual({ name: repo, tags: [] });
      expect(`${dt.status} ${dtText.includes("NAME_UNKNOWN") ? "NAME_UNKNOWN" : dtText.trim()}`).toBe("404 NAME_UNKNOWN");
    }
  });

  it("the bucket holds Distribution's key layout: blob data, link files of exactly `sha256:<hex>`, no upload leftovers", async () => {
    expect(chunked).toBeDefined();
    const { layerDigest, configDigest, manifestDigest, layer, config, manifest } = chunked!;
    const repoA = `${PREFIX}repositories/${BREPO_A}/`;
    const blobKey = (d: string) => `${PREFIX}blobs/sha256/${hexOf(d).slice(0, 2)}/${hexOf(d)}/data`;
    for (const [d, bytes] of [[layerDigest, layer], [configDigest, config], [manifestDigest, manifest]] as const) {
      const obj = await getObject(blobKey(d));
      expect(obj, `blob data of ${d}`).not.toBeNull();
      expect(Buffer.from(obj!).equals(Buffer.from(bytes)), `blob data of ${d}`).toBe(true);
    }
    const links: [string, string][] = [
      [`${repoA}_layers/sha256/${hexOf(layerDigest)}/link`, layerDigest],
      [`${repoA}_layers/sha256/${hexOf(configDigest)}/link`, configDigest],
      [`${repoA}_manifests/revisions/sha256/${hexOf(manifestDigest)}/link`, manifestDigest],
      [`${repoA}_manifests/tags/chunked/current/link`, manifestDigest],
      [`${repoA}_manifests/tags/chunked/index/sha256/${hexOf(manifestDigest)}/link`, manifestDigest],
      // The mount linked the layer into the other repository.
      [`${PREFIX}repositories/${BREPO_B}/_layers/sha256/${hexOf(layerDigest)}/link`, layerDigest],
    ];
    for (const [key, digest] of links) {
      const obj = await getObject(key);
      expect(obj, `missing ${key}`).not.toBeNull();
      const text = Buffer.from(obj!).toString("latin1");
      expect(JSON.stringify(text), key).toBe(JSON.stringify(digest));
      expect(obj!.length, key).toBe(71);
    }
    // Index children are revisions of the repository too (Distribution needs them there to serve them).
    const index = await readJson<IndexManifest>(blobFile(layout, refs.multi!.digest));
    for (const child of index.manifests) {
      const obj = await getObject(`${repoA}_manifests/revisions/sha256/${hexOf(child.digest)}/link`);
      expect(obj && Buffer.from(obj).toString("latin1"), `revision link of index child ${child.digest}`).toBe(child.digest);
    }
    // Every link Berth wrote under its repositories has the exact form (no newline, no JSON, right digest).
    const keys = await listKeys(`${PREFIX}repositories/berth-pushed/${RUN}/`);
    const linkKeys = keys.filter((k) => k.endsWith("/link"));
    expect(linkKeys.length).toBeGreaterThanOrEqual(links.length);
    for (const k of linkKeys) {
      const text = Buffer.from((await getObject(k))!).toString("latin1");
      expect(text, k).toMatch(/^sha256:[0-9a-f]{64}$/);
      const hexInKey = /\/sha256\/([0-9a-f]{64})\/link$/.exec(k)?.[1];
      if (hexInKey) expect(text, k).toBe(`sha256:${hexInKey}`);
    }
    // Only Distribution's directories (plus Berth's own "_berth", which Distribution ignores) in each repository.
    for (const k of keys) {
      const rest = k.slice(`${PREFIX}repositories/`.length);
      expect(rest, k).toMatch(/^berth-pushed\/[0-9a-f]+\/[a-z]+\/(_layers|_manifests|_uploads|_berth)\//);
    }
    // Completed uploads leave nothing behind: no _uploads objects, no open multipart uploads.
    expect(keys.filter((k) => k.includes("/_uploads/"))).toEqual([]);
    expect(await listMultipartUploads(PREFIX)).toEqual([]);
  });
});

describe("Berth deletes, Distribution agrees", () => {
  it("a manifest deleted through Berth is 404 through Distribution, by digest and by its tag", async () => {
    const mk = async (label: string) => {
      const layer = new Uint8Array(randomBytes(64 * 1024));
      const layerDigest = await pushBlob(BREPO_DEL, layer);
      const config = configFor(layerDigest, label);
      const configDigest = await pushBlob(BREPO_DEL, config);
      const manifest = manifestFor({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
      return { manifest, layerDigest, configDigest, manifestDigest: await putManifest(BREPO_DEL, label, manifest) };
    };
    const doomed = await mk("doomed");
    const keep = await mk("keep");
    note(BREPO_DEL, keep.manifestDigest, [keep.configDigest, keep.layerDigest]);

    // Distribution sees it first (so the 404 below is not just "never saw it").
    const before = await getBytes(dist.url, `/v2/${BREPO_DEL}/manifests/${doomed.manifestDigest}`);
    expect(before.status).toBe(200);
    expect(before.bytes.equals(Buffer.from(doomed.manifest))).toBe(true);

    const del = await call(berth.url, `/v2/${BREPO_DEL}/manifests/${doomed.manifestDigest}`, { method: "DELETE" });
    const delText = await del.text();
    expect(del.status, `DELETE through Berth: ${delText}${tails()}`).toBe(202);
    deleted = { manifest: doomed.manifestDigest, config: doomed.configDigest, layer: doomed.layerDigest };

    for (const ref of [doomed.manifestDigest, "doomed"]) {
      for (const method of ["GET", "HEAD"]) {
        const res = await call(dist.url, `/v2/${BREPO_DEL}/manifests/${ref}`, { method, headers: { Accept: ACCEPT } });
        const body = await res.text();
        expect(res.status, `Distribution ${method} ${BREPO_DEL}:${ref} after Berth's DELETE: ${body}`).toBe(404);
        if (method === "GET") expect(body).toContain("MANIFEST_UNKNOWN");
        const own = await call(berth.url, `/v2/${BREPO_DEL}/manifests/${ref}`, { method, headers: { Accept: ACCEPT } });
        await own.body?.cancel();
        expect(own.status, `Berth ${method} ${ref} after its DELETE`).toBe(404);
      }
    }
    // A blob deleted through Berth is unknown to Distribution in that repository (its link is gone).
    const blobDel = await call(berth.url, `/v2/${BREPO_DEL}/blobs/${doomed.layerDigest}`, { method: "DELETE" });
    const blobDelText = await blobDel.text();
    expect(blobDel.status, `DELETE blob through Berth: ${blobDelText}`).toBe(202);
    for (const base of [dist.url, berth.url]) {
      const res = await call(base, `/v2/${BREPO_DEL}/blobs/${doomed.layerDigest}`, { method: "HEAD" });
      await res.body?.cancel();
      expect(res.status, `${base === dist.url ? "Distribution" : "Berth"} HEAD of the deleted blob`).toBe(404);
    }
    // The other manifest is untouched, and both registries list only its tag.
    const kept = await getBytes(dist.url, `/v2/${BREPO_DEL}/manifests/keep`);
    expect(kept.status).toBe(200);
    expect(kept.headers.get("docker-content-digest")).toBe(keep.manifestDigest);
    await expectTagsAgree(BREPO_DEL, ["keep"]);
  });
});

describe("Distribution's garbage collector on the shared bucket", () => {
  it("garbage-collect --dry-run runs clean and marks every blob Berth's manifests reference", async () => {
    expect(berthManifests.size, "needs the push tests").toBeGreaterThanOrEqual(3);
    const r = await dist.garbageCollect(["--dry-run"]);
    const out = `${r.stdout}\n${r.stderr}`
    expect(r.code, `garbage-collect exit code\n${out.slice(-4000)}`).toBe(0);
    expect(out, "errors in garbage-collect's output").not.toMatch(/level=(error|fatal|panic)|panic:|failed to/i);

    const marked = new Map<string, Set<string>>(); // repo -> digests marked under it
    const all = new Set<string>();
    for (const m of out.matchAll(/^(\S+): marking (?:manifest|blob|configuration) (sha256:[0-9a-f]{64})\s*$/gm)) {
      if (!marked.has(m[1]!)) marked.set(m[1]!, new Set());
      marked.get(m[1]!)!.add(m[2]!);
      all.add(m[2]!);
    }
    const eligible = new Set([...out.matchAll(/^blob eligible for deletion: (sha256:[0-9a-f]{64})\s*$/gm)].map((m) => m[1]!));
    const summary = /^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion/m.exec(out);
    expect(summary, `no summary line in\n${out.slice(-3000)}`).not.toBeNull();
    expect(Number(summary![1]), "marked count vs marked lines").toBe(all.size);
    expect(Number(summary![2]), "eligible count vs eligible lines").toBe(eligible.size);

    // Every manifest Berth holds is marked under its own repository; every blob they reference is marked.
    for (const [repo, digests] of berthManifests) {
      const got = marked.get(repo) ?? new Set<string>();
      for (const d of digests) expect(got.has(d), `${repo}: manifest ${d} not marked\n${out.slice(-3000)}`).toBe(true);
    }
    expect(berthBlobs.size).toBeGreaterThanOrEqual(6);
    for (const d of berthBlobs) {
      expect(all.has(d), `blob ${d} not marked`).toBe(true);
      expect(eligible.has(d), `blob ${d} eligible for deletion`).toBe(false);
    }
    // What Berth deleted is no longer referenced: its manifest, config and layer are up for collection.
    expect(deleted).toBeDefined();
    for (const d of [deleted!.manifest, deleted!.config, deleted!.layer]) {
      expect(all.has(d), `deleted ${d} still marked`).toBe(false);
      expect(eligible.has(d), `deleted ${d} not eligible`).toBe(true);
    }
    // The dry run changed nothing: the deleted manifest's blob data is still there.
    expect(await getObject(`${PREFIX}blobs/sha256/${hexOf(deleted!.layer).slice(0, 2)}/${hexOf(deleted!.layer)}/data`)).not.toBeNull();
  });
});
