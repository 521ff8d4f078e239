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
// Every test sets up what it needs in repositories of its own (beforeAll only pushes the shared, read-only
// Distribution fixture), so any single test passes alone (`-t`) and in any order.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { parseGarbageCollect, startDistribution, type Distribution } from "./harness/distribution.js";
import { getObject, listKeys, listMultipartUploads } from "./harness/s3.js";
import { ensureTools, makeOciLayout, run, type OciRef, type RunResult } from "./harness/tools.js";
import { absolute, digestOf, MiB, pushBlob, rand, req as call, withDigest } from "./helpers/registry.js";

const RUN = rand();
const ROOT = `t-interop-${RUN}`;
const PREFIX = `${ROOT}/docker/registry/v2/`;
const STEP_MS = 120_000;

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

const hexOf = (digest: string) => digest.replace(/^sha256:/, "");
const blobFile = (dir: string, digest: string) => path.join(dir, "blobs", "sha256", hexOf(digest));
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;
const enc = (s: string) => new TextEncoder().encode(s);

// Repositories. Each test uses its own (under berth-pushed/RUN/ when Berth writes them, dist-pushed/RUN/ when
// Distribution does); DREPO is the one shared fixture, pushed through Distribution in beforeAll and only read.
const DREPO = `dist-pushed/${RUN}`;
const brepo = (name: string) => `berth-pushed/${RUN}/${name}`;
const drepo = (name: string) => `dist-pushed/${RUN}/${name}`;
/**
 * Repositories that only ever get a mounted blob are named `…/mnt-…`. Distribution's catalog lists them (it
 * lists every repository with `_layers`); they have a test of their own and are left out of the other catalog
 * comparisons, whatever tests created them.
 */
const isBlobOnly = (repo: string) => /\/mnt-[a-z0-9-]+$/.test(repo);

function tails(): string {
  return `\n--- wrangler (last 3 KB)\n${berth?.logs().slice(-3000) ?? ""}\n--- docker-registry (last 3 KB)\n${dist?.logs().slice(-3000) ?? ""}`;
}

async function ok(cmd: string, args: string[], timeoutMs = STEP_MS): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-4000)}${tails()}`);
  return r;
}

const skopeo = (args: string[]) => ok("skopeo", ["--insecure-policy", ...args]);

/** skopeo copy of the layout's `tag` (`--all` for an index) to `registry`'s `repo:destTag`, digests kept. */
async function skopeoPush(registry: string, tag: string, repo: string, destTag = tag): Promise<void> {
  const all = refs[tag]!.mediaType === OCI_INDEX ? ["--all"] : [];
  await skopeo(["copy", "--dest-tls-verify=false", "--preserve-digests", ...all, `oci:${layout}:${tag}`, `docker://${new URL(registry).host}/${repo}:${destTag}`]);
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

/** Monolithic blob push to Berth; the failure message carries both registries' log tails. */
async function berthBlob(repo: string, bytes: Uint8Array): Promise<string> {
  try {
    return await pushBlob(berth.url, repo, bytes);
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}${tails()}`);
  }
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

interface Pushed {
  layer: Uint8Array;
  layerDigest: string;
  config: Uint8Array;
  configDigest: string;
  manifest: Uint8Array;
  manifestDigest: string;
}

/** A config + manifest over an existing layer of `repo`, pushed through Berth under `tag`. */
async function imageOver(repo: string, tag: string, layer: Uint8Array, layerDigest: string, label: string): Promise<Pushed> {
  const config = configFor(layerDigest, `${label}-${RUN}`);
  const configDigest = await berthBlob(repo, config);
  const manifest = manifestFor({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
  return { layer, layerDigest, config, configDigest, manifest, manifestDigest: await putManifest(repo, tag, manifest) };
}

/**
 * A fresh random layer uploaded to Berth in chunks by hand (POST, PATCH with Content-Range x3, PUT ?digest=),
 * 7 MiB in 3 + 3 + 1 MiB chunks (more than one 5 MiB S3 part), and an image over it tagged `tag`.
 */
async function pushChunked(repo: string, tag = "chunked"): Promise<Pushed> {
  const layer = new Uint8Array(randomBytes(7 * MiB));
  const layerDigest = digestOf(layer);
  const post = await call(berth.url, `/v2/${repo}/blobs/uploads/`, { method: "POST" });
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
  return imageOver(repo, tag, layer, layerDigest, `chunked-${repo}-${tag}`);
}

/** A small image (a fresh random 64 KiB layer, pushed monolithically) through Berth under `tag`. */
async function pushSmall(repo: string, tag: string): Promise<Pushed> {
  const layer = new Uint8Array(randomBytes(64 * 1024));
  return imageOver(repo, tag, layer, await berthBlob(repo, layer), `small-${repo}-${tag}`);
}

/** Mounts `digest` from `from` into `repo` through `base`; expects 201. */
async function mount(base: string, repo: string, digest: string, from: string): Promise<Response> {
  const res = await call(base, `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
  const text = await res.text();
  expect(res.status, `${base === berth.url ? "Berth" : "Distribution"} mount of ${digest} from ${from} into ${repo}: ${text}${tails()}`).toBe(201);
  return res;
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

const isManifest = (d: Desc) => d.mediaType === OCI_MANIFEST || d.mediaType === OCI_INDEX;

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

/** skopeo pull of `repo:tag` through Distribution into a dir:, compared with what Berth was given. */
async function distPullDir(repo: string, tag: string, p: Pushed): Promise<void> {
  const out = path.join(tmp, `dist-pull-${rand()}`);
  await skopeo(["copy", "--src-tls-verify=false", `docker://${new URL(dist.url).host}/${repo}:${tag}`, `dir:${out}`]);
  expect((await readFile(path.join(out, "manifest.json"))).equals(Buffer.from(p.manifest))).toBe(true);
  expect((await readFile(path.join(out, hexOf(p.configDigest)))).equals(Buffer.from(p.config))).toBe(true);
  expect((await readFile(path.join(out, hexOf(p.layerDigest)))).equals(Buffer.from(p.layer))).toBe(true);
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
  const drop = (l: string[]) => l.filter((r) => !isBlobOnly(r));
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
  // The shared, read-only fixture: an image (under two tags) and an index pushed through Distribution.
  await skopeoPush(dist.url, "v1", DREPO);
  await skopeoPush(dist.url, "v1", DREPO, "also");
  await skopeoPush(dist.url, "multi", DREPO);
});

afterAll(async () => {
  await Promise.all([berth?.stop(), dist?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("Distribution writes, Berth reads", () => {
  it("an image and an index pushed through Distribution pull through Berth byte-identical", async () => {
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
    const blobs = all.filter((d) => !isManifest(d));
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
    const target = brepo("mnt-from-dist");
    await mount(berth.url, target, layer.digest, DREPO);
    const seen = await call(dist.url, `/v2/${target}/blobs/${layer.digest}`, { method: "HEAD" });
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
    const repo = brepo("chunked");
    const p = await pushChunked(repo);

    // Distribution serves the same bytes: manifest by tag, config and layer (through its 307 to S3).
    const m = await getBytes(dist.url, `/v2/${repo}/manifests/chunked`);
    expect(m.status, `Distribution GET manifest${tails()}`).toBe(200);
    expect(m.headers.get("docker-content-digest")).toBe(p.manifestDigest);
    expect(m.headers.get("content-type")).toBe(OCI_MANIFEST);
    expect(m.bytes.equals(Buffer.from(p.manifest))).toBe(true);
    const head = await call(dist.url, `/v2/${repo}/blobs/${p.layerDigest}`, { method: "HEAD" });
    await head.body?.cancel();
    expect([200, 307]).toContain(head.status);
    const l = await getBytes(dist.url, `/v2/${repo}/blobs/${p.layerDigest}`);
    expect(l.status).toBe(200);
    expect(l.bytes.length).toBe(p.layer.length);
    expect(l.bytes.equals(Buffer.from(p.layer)), "layer bytes through Distribution").toBe(true);

    // And a real client pulls it through Distribution.
    await distPullDir(repo, "chunked", p);
  });

  it("a blob mounted across repositories (POST ?mount=&from=) and the image using it pull through Distribution", async () => {
    const from = brepo("mount-src");
    const repo = brepo("mount-dst");
    const src = await pushChunked(from);
    const res = await mount(berth.url, repo, src.layerDigest, from);
    expect(res.headers.get("docker-content-digest")).toBe(src.layerDigest);
    expect(res.headers.get("location")).toContain(`/v2/${repo}/blobs/${src.layerDigest}`);
    const p = await imageOver(repo, "v1", src.layer, src.layerDigest, "mounted");

    // Distribution finds the mounted blob in the target repository (it checks the repository's link).
    const head = await call(dist.url, `/v2/${repo}/blobs/${src.layerDigest}`, { method: "HEAD" });
    await head.body?.cancel();
    expect([200, 307], `Distribution HEAD mounted blob${tails()}`).toContain(head.status);
    await distPullDir(repo, "v1", p);
  });

  it("Distribution mounts a blob from a repository Berth wrote", async () => {
    const from = brepo("dist-mount-src");
    const src = await pushSmall(from, "v1");
    const target = drepo("mnt-from-berth");
    await mount(dist.url, target, src.layerDigest, from);
    const l = await getBytes(berth.url, `/v2/${target}/blobs/${src.layerDigest}`);
    expect(l.status).toBe(200);
    expect(l.bytes.equals(Buffer.from(src.layer))).toBe(true);
  });

  it("a tag moved through Berth moves for Distribution too", async () => {
    const repo = brepo("moving");
    const layer = new Uint8Array(randomBytes(64 * 1024));
    const layerDigest = await berthBlob(repo, layer);
    const digests: string[] = [];
    for (const label of ["first", "second"]) {
      digests.push((await imageOver(repo, "moving", layer, layerDigest, label)).manifestDigest);
      const d = await call(dist.url, `/v2/${repo}/manifests/moving`, { method: "HEAD", headers: { Accept: ACCEPT } });
      await d.body?.cancel();
      expect(d.status).toBe(200);
      expect(d.headers.get("docker-content-digest"), `Distribution's view of the tag after the ${label} PUT`).toBe(digests.at(-1));
    }
    // Distribution's tag history: both digests under tags/moving/index/.
    const idx = await listKeys(`${PREFIX}repositories/${repo}/_manifests/tags/moving/index/`);
    expect(idx.sort()).toEqual(digests.map((d) => `${PREFIX}repositories/${repo}/_manifests/tags/moving/index/sha256/${hexOf(d)}/link`).sort());
  });

  it("an image and an index pushed through Berth by skopeo pull through Distribution byte-identical", async () => {
    const repo = brepo("skopeo");
    await skopeoPush(berth.url, "v1", repo);
    await skopeoPush(berth.url, "multi", repo);
    for (const tag of ["v1", "multi"]) {
      const m = await getBytes(dist.url, `/v2/${repo}/manifests/${tag}`);
      expect(m.status).toBe(200);
      expect(m.headers.get("docker-content-digest")).toBe(refs[tag]!.digest);
      expect(m.headers.get("content-type")).toBe(refs[tag]!.mediaType);
    }
    await pullAndCompare(dist.url, repo, "v1");
    await pullAndCompare(dist.url, repo, "multi", ["--all"]);
  });

  it("tags list and catalog agree with Distribution's", async () => {
    const repo = brepo("tags");
    await skopeoPush(berth.url, "v1", repo);
    await skopeoPush(berth.url, "multi", repo);
    const p = await pushSmall(repo, "hand");
    await imageOver(repo, "hand", p.layer, p.layerDigest, "hand-moved"); // a moved tag lists once
    await expectTagsAgree(repo, ["v1", "multi", "hand"]);
    await expectCatalogsAgree([DREPO, repo]);
  });

  it("a repository that holds only blobs (a mount, no manifest yet) is in both catalogs; its tags list is empty (Distribution: unknown)", async () => {
    // One such repository made by each registry: Berth mounts from Distribution's repository, Distribution
    // from one Berth wrote.
    const layer = (await readJson<ImageManifest>(blobFile(layout, refs.v1!.digest))).layers[0]!;
    const byBerth = brepo("mnt-only");
    await mount(berth.url, byBerth, layer.digest, DREPO);
    const src = await pushSmall(brepo("blob-only-src"), "v1");
    const byDist = drepo("mnt-only");
    await mount(dist.url, byDist, src.layerDigest, brepo("blob-only-src"));
    const blobOnly = [byBerth, byDist];
    // Distribution 2.8 lists every directory under repositories/ that has a `_layers` directory
    // (registry/storage/catalog.go, handleRepository), manifests or not; both of these have only `_layers`.
    for (const repo of blobOnly) {
      expect(await listKeys(`${PREFIX}repositories/${repo}/_layers/`), repo).toHaveLength(1);
      expect(await listKeys(`${PREFIX}repositories/${repo}/_manifests/`), repo).toEqual([]);
    }
    const [b, d] = await Promise.all([catalog(berth.url), catalog(dist.url)]);
    for (const repo of blobOnly) expect(d, "Distribution's catalog").toContain(repo);
    expect.soft(b, "Berth's catalog vs Distribution's").toEqual(d); // soft: the tags answer is checked too
    // The one deliberate difference: Distribution calls such a repository unknown to the tags API; Berth lists
    // no tags, as the OCI conformance suite expects of an existing repository.
    for (const repo of blobOnly) {
      const [bt, dt] = await Promise.all([call(berth.url, `/v2/${repo}/tags/list`), call(dist.url, `/v2/${repo}/tags/list`)]);
      const [btBody, dtText] = await Promise.all([bt.json(), dt.text()]);
      expect(bt.status, repo).toBe(200);
      expect(btBody).toEqual({ name: repo, tags: [] });
      expect(`${dt.status} ${dtText.includes("NAME_UNKNOWN") ? "NAME_UNKNOWN" : dtText.trim()}`).toBe("404 NAME_UNKNOWN");
    }
  });

  it("the bucket holds Distribution's key layout: blob data, link files of exactly `sha256:<hex>`, no upload leftovers", async () => {
    const name = brepo("layout");
    const mounted = brepo("mnt-layout");
    const p = await pushChunked(name);
    await mount(berth.url, mounted, p.layerDigest, name);
    await skopeoPush(berth.url, "multi", name);
    const repoA = `${PREFIX}repositories/${name}/`;
    const blobKey = (d: string) => `${PREFIX}blobs/sha256/${hexOf(d).slice(0, 2)}/${hexOf(d)}/data`;
    for (const [d, bytes] of [[p.layerDigest, p.layer], [p.configDigest, p.config], [p.manifestDigest, p.manifest]] as const) {
      const obj = await getObject(blobKey(d));
      expect(obj, `blob data of ${d}`).not.toBeNull();
      expect(Buffer.from(obj!).equals(Buffer.from(bytes)), `blob data of ${d}`).toBe(true);
    }
    const links: [string, string][] = [
      [`${repoA}_layers/sha256/${hexOf(p.layerDigest)}/link`, p.layerDigest],
      [`${repoA}_layers/sha256/${hexOf(p.configDigest)}/link`, p.configDigest],
      [`${repoA}_manifests/revisions/sha256/${hexOf(p.manifestDigest)}/link`, p.manifestDigest],
      [`${repoA}_manifests/tags/chunked/current/link`, p.manifestDigest],
      [`${repoA}_manifests/tags/chunked/index/sha256/${hexOf(p.manifestDigest)}/link`, p.manifestDigest],
      // The mount linked the layer into the other repository.
      [`${PREFIX}repositories/${mounted}/_layers/sha256/${hexOf(p.layerDigest)}/link`, p.layerDigest],
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
    // Every link Berth wrote under its repositories (this test's and any other's) has the exact form (no
    // newline, no JSON, right digest).
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
      expect(rest, k).toMatch(/^berth-pushed\/[0-9a-f]+\/[a-z0-9-]+\/(_layers|_manifests|_uploads|_berth)\//);
    }
    // Completed uploads leave nothing behind: no _uploads objects, no open multipart uploads.
    expect(keys.filter((k) => k.includes("/_uploads/"))).toEqual([]);
    expect(await listMultipartUploads(PREFIX)).toEqual([]);
  });
});

describe("Berth deletes, Distribution agrees", () => {
  it("a manifest deleted through Berth is 404 through Distribution, by digest and by its tag", async () => {
    const repo = brepo("del");
    const doomed = await pushSmall(repo, "doomed");
    const keep = await pushSmall(repo, "keep");

    // Distribution sees it first (so the 404 below is not just "never saw it").
    const before = await getBytes(dist.url, `/v2/${repo}/manifests/${doomed.manifestDigest}`);
    expect(before.status).toBe(200);
    expect(before.bytes.equals(Buffer.from(doomed.manifest))).toBe(true);

    const del = await call(berth.url, `/v2/${repo}/manifests/${doomed.manifestDigest}`, { method: "DELETE" });
    const delText = await del.text();
    expect(del.status, `DELETE through Berth: ${delText}${tails()}`).toBe(202);

    for (const ref of [doomed.manifestDigest, "doomed"]) {
      for (const method of ["GET", "HEAD"]) {
        const res = await call(dist.url, `/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: ACCEPT } });
        const body = await res.text();
        expect(res.status, `Distribution ${method} ${repo}:${ref} after Berth's DELETE: ${body}`).toBe(404);
        if (method === "GET") expect(body).toContain("MANIFEST_UNKNOWN");
        const own = await call(berth.url, `/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: ACCEPT } });
        await own.body?.cancel();
        expect(own.status, `Berth ${method} ${ref} after its DELETE`).toBe(404);
      }
    }
    // A blob deleted through Berth is unknown to Distribution in that repository (its link is gone).
    const blobDel = await call(berth.url, `/v2/${repo}/blobs/${doomed.layerDigest}`, { method: "DELETE" });
    const blobDelText = await blobDel.text();
    expect(blobDel.status, `DELETE blob through Berth: ${blobDelText}`).toBe(202);
    for (const base of [dist.url, berth.url]) {
      const res = await call(base, `/v2/${repo}/blobs/${doomed.layerDigest}`, { method: "HEAD" });
      await res.body?.cancel();
      expect(res.status, `${base === dist.url ? "Distribution" : "Berth"} HEAD of the deleted blob`).toBe(404);
    }
    // The other manifest is untouched, and both registries list only its tag.
    const kept = await getBytes(dist.url, `/v2/${repo}/manifests/keep`);
    expect(kept.status).toBe(200);
    expect(kept.headers.get("docker-content-digest")).toBe(keep.manifestDigest);
    await expectTagsAgree(repo, ["keep"]);
  });
});

describe("Distribution's garbage collector on the shared bucket", () => {
  it("garbage-collect --dry-run runs clean and marks every blob Berth's manifests reference", async () => {
    // What Berth holds, in every shape it writes: images and an index pushed by skopeo, a chunked upload, a
    // mounted layer, a moved tag (both revisions stay), and a deleted manifest with its layer.
    const berthManifests = new Map<string, Set<string>>(); // repo -> manifest digests that must stay
    const berthBlobs = new Set<string>(); // configs and layers those manifests reference
    const note = (repo: string, manifest: string, blobs: string[]) => {
      if (!berthManifests.has(repo)) berthManifests.set(repo, new Set());
      berthManifests.get(repo)!.add(manifest);
      for (const b of blobs) berthBlobs.add(b);
    };
    const noteImage = (repo: string, p: Pushed) => note(repo, p.manifestDigest, [p.configDigest, p.layerDigest]);

    const viaSkopeo = brepo("gc-skopeo");
    for (const tag of ["v1", "multi"]) {
      await skopeoPush(berth.url, tag, viaSkopeo);
      const all = await reachable(layout, refs[tag]!);
      for (const d of all.filter(isManifest)) note(viaSkopeo, d.digest, []);
      for (const d of all.filter((x) => !isManifest(x))) berthBlobs.add(d.digest);
    }
    const chunkedRepo = brepo("gc-chunked");
    const chunked = await pushChunked(chunkedRepo);
    noteImage(chunkedRepo, chunked);
    const mountedRepo = brepo("gc-mounted");
    await mount(berth.url, mountedRepo, chunked.layerDigest, chunkedRepo);
    noteImage(mountedRepo, await imageOver(mountedRepo, "v1", chunked.layer, chunked.layerDigest, "gc-mounted"));
    for (const label of ["gc-first", "gc-second"]) {
      noteImage(mountedRepo, await imageOver(mountedRepo, "moving", chunked.layer, chunked.layerDigest, label));
    }
    const delRepo = brepo("gc-del");
    const doomed = await pushSmall(delRepo, "doomed");
    noteImage(delRepo, await pushSmall(delRepo, "keep"));
    for (const p of [`/v2/${delRepo}/manifests/${doomed.manifestDigest}`, `/v2/${delRepo}/blobs/${doomed.layerDigest}`]) {
      const del = await call(berth.url, p, { method: "DELETE" });
      const text = await del.text();
      expect(del.status, `DELETE ${p} through Berth: ${text}${tails()}`).toBe(202);
    }

    const r = await dist.garbageCollect(["--dry-run"]);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.code, `garbage-collect exit code\n${out.slice(-4000)}`).toBe(0);
    expect(out, "errors in garbage-collect's output").not.toMatch(/level=(error|fatal|panic)|panic:|failed to/i);

    const { marked, allMarked: all, eligibleBlobs: eligible, summary } = parseGarbageCollect(out);
    expect(summary, `no summary line in\n${out.slice(-3000)}`).not.toBeNull();
    expect(summary!.marked, "marked count vs marked lines").toBe(all.size);
    expect(summary!.blobs, "eligible count vs eligible lines").toBe(eligible.size);

    // Every manifest Berth holds is marked under its own repository; every blob they reference is marked.
    expect(berthManifests.size).toBeGreaterThanOrEqual(4);
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
    for (const d of [doomed.manifestDigest, doomed.configDigest, doomed.layerDigest]) {
      expect(all.has(d), `deleted ${d} still marked`).toBe(false);
      expect(eligible.has(d), `deleted ${d} not eligible`).toBe(true);
    }
    // The dry run changed nothing: the deleted manifest's blob data is still there.
    expect(await getObject(`${PREFIX}blobs/sha256/${hexOf(doomed.layerDigest).slice(0, 2)}/${hexOf(doomed.layerDigest)}/data`)).not.toBeNull();
  });
});
