// Real-client round trips with skopeo (containers/image): push a hand-made OCI layout (a small image, a
// two-platform index with --all, and a ≥ 64 MiB layer with --preserve-digests so its digest is kept), pull each
// back and compare every blob byte for byte (by SHA-256 of the files) with the source; the index bytes survive
// unchanged; blob GETs are answered with 307 to a presigned URL on the S3 endpoint; a second push of the same
// image finds its blobs already there. The three images are pushed once in beforeAll; every test reads them and
// makes what else it needs, so each passes alone.
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { s3Settings } from "./harness/s3.js";
import { makeOciLayout, sha256File, skopeo, type OciRef } from "./harness/tools.js";
import { OCI_INDEX, OCI_MANIFEST, rand, req, sha256Hex } from "./helpers/manifests.js";

const ROOT = `t-skopeo-${rand()}`;
const BIG_MIB = 64;
const STEP_TIMEOUT_MS = 90_000;

let berth: Berth;
let tmp: string;
let src: string; // the source OCI layout
let refs: Record<string, OciRef>;
let host: string; // 127.0.0.1:<port>, as skopeo names the registry
const repo = `sk-${rand()}/img`;

type Desc = { mediaType: string; digest: string; size: number };
type ImageManifest = { config: Desc; layers: Desc[] };
type IndexManifest = { manifests: Desc[] };

const hexOf = (digest: string) => digest.replace(/^sha256:/, "");
const blobPath = (layout: string, digest: string) => path.join(layout, "blobs", "sha256", hexOf(digest));
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;

/** Every digest reachable from a descriptor in an OCI layout: the manifest (or index), children, configs, layers. */
async function reachable(layout: string, d: Desc): Promise<Desc[]> {
  const out: Desc[] = [d];
  if (d.mediaType === OCI_INDEX) {
    for (const child of (await readJson<IndexManifest>(blobPath(layout, d.digest))).manifests) {
      out.push(...(await reachable(layout, child)));
    }
  } else if (d.mediaType === OCI_MANIFEST) {
    const m = await readJson<ImageManifest>(blobPath(layout, d.digest));
    out.push(m.config, ...m.layers);
  }
  return out;
}

async function run(args: string[]): Promise<string> {
  // --insecure-policy: independent of the machine's /etc/containers/policy.json.
  const r = await skopeo(["--insecure-policy", ...args], { timeoutMs: STEP_TIMEOUT_MS });
  if (r.code !== 0) {
    throw new Error(`skopeo ${args.join(" ")} exited with ${r.code}\n${r.stderr.slice(-3000)}\n--- berth logs\n${berth.logs().slice(-3000)}`);
  }
  return r.stdout + r.stderr;
}

const push = (tag: string, destTag = tag, extra: string[] = []) =>
  run(["copy", "--dest-tls-verify=false", "--preserve-digests", ...extra, `oci:${src}:${tag}`, `docker://${host}/${repo}:${destTag}`]);

const pull = (tag: string, out: string, extra: string[] = []) =>
  run(["copy", "--src-tls-verify=false", "--preserve-digests", ...extra, `docker://${host}/${repo}:${tag}`, `oci:${out}:${tag}`]);

/** Pulls `tag` into a fresh layout and checks every reachable blob against the source, byte for byte. */
async function pullAndCompare(tag: string, extra: string[] = []): Promise<void> {
  const out = path.join(tmp, `pull-${tag}-${rand()}`);
  await pull(tag, out, extra);
  const pulledIndex = await readJson<{ manifests: (Desc & { annotations?: Record<string, string> })[] }>(
    path.join(out, "index.json"),
  );
  const top = pulledIndex.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  expect(top?.digest, `${tag}: pulled top-level digest`).toBe(refs[tag]!.digest);

  const want = await reachable(src, refs[tag]!);
  expect(want.length).toBeGreaterThanOrEqual(3);
  for (const d of want) {
    const pulled = blobPath(out, d.digest);
    const [srcHash, pulledHash] = await Promise.all([sha256File(blobPath(src, d.digest)), sha256File(pulled)]);
    expect(srcHash, `source ${d.digest}`).toBe(hexOf(d.digest));
    expect(pulledHash, `pulled ${d.digest}`).toBe(srcHash);
    expect((await stat(pulled)).size, `size of ${d.digest}`).toBe(d.size);
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-skopeo-"));
  src = path.join(tmp, "src");
  const [b, list] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT }),
    makeOciLayout(src, { bigMiB: BIG_MIB }),
  ]);
  berth = b;
  host = new URL(berth.url).host;
  refs = Object.fromEntries(list.map((r) => [r.annotations?.["org.opencontainers.image.ref.name"] ?? "", r]));
  expect(Object.keys(refs).sort()).toEqual(["big", "multi", "v1"]);
  // The shared fixture every test reads: the three images pushed once (push() throws if skopeo fails).
  await push("v1");
  await push("multi", "multi", ["--all"]);
  await push("big");
});

afterAll(async () => {
  await berth?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("skopeo round trips", () => {
  it("pushes v1, multi (--all) and big (--preserve-digests) with their digests kept", async () => {
    for (const tag of ["v1", "multi", "big"]) {
      const res = await req(berth.url, `/v2/${repo}/manifests/${tag}`, { method: "HEAD" });
      expect(res.status, tag).toBe(200);
      expect(res.headers.get("Docker-Content-Digest"), tag).toBe(refs[tag]!.digest);
      expect(res.headers.get("Content-Type"), tag).toBe(refs[tag]!.mediaType);
    }
    // The big layer kept its (uncompressed) digest and size.
    const bigManifest = await readJson<ImageManifest>(blobPath(src, refs.big!.digest));
    const layer = bigManifest.layers[0]!;
    expect(layer.size).toBeGreaterThanOrEqual(BIG_MIB * 1024 * 1024);
    const head = await req(berth.url, `/v2/${repo}/blobs/${layer.digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe(String(layer.size));
  });

  it("skopeo inspect --raw of the index equals the pushed bytes", async () => {
    const r = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${host}/${repo}:multi`], {
      timeoutMs: STEP_TIMEOUT_MS,
    });
    expect(r.code, r.stderr).toBe(0);
    const pushed = await readFile(blobPath(src, refs.multi!.digest));
    // skopeo prints the raw manifest as received (plus nothing else on stdout).
    expect(sha256Hex(r.stdout)).toBe(hexOf(refs.multi!.digest));
    expect(Buffer.from(r.stdout)).toEqual(pushed);
  });

  it("pulls v1 back: every blob identical", async () => {
    await pullAndCompare("v1");
  });

  it("pulls multi back with --all: index, both children and their blobs identical", async () => {
    await pullAndCompare("multi", ["--all"]);
  });

  it("pulls big back: the ≥ 64 MiB layer identical", async () => {
    await pullAndCompare("big");
  });

  it("blob GETs are 307 redirects to a presigned URL on the S3 endpoint, and a skopeo pull goes through them", async () => {
    const v1 = await readJson<ImageManifest>(blobPath(src, refs.v1!.digest));
    const layer = v1.layers[0]!;
    const res = await req(berth.url, `/v2/${repo}/blobs/${layer.digest}`);
    expect(res.status).toBe(307);
    await res.body?.cancel();
    const location = res.headers.get("Location");
    expect(location).toBeTruthy();
    const loc = new URL(location as string);
    expect(loc.origin).toBe(new URL(s3Settings().endpoint).origin);
    expect(loc.searchParams.get("X-Amz-Signature") ?? loc.searchParams.get("Signature")).toBeTruthy();
    // Following it yields exactly the layer.
    const blob = await fetch(loc, { signal: AbortSignal.timeout(30_000) });
    expect(blob.status).toBe(200);
    expect(sha256Hex(new Uint8Array(await blob.arrayBuffer()))).toBe(hexOf(layer.digest));

    // A pull of big through skopeo: wrangler dev logs each request with its status, and its blob GETs
    // (after a marker request) were answered 307.
    const marker = `/v2/${repo}/manifests/mark-${rand()}`;
    await (await req(berth.url, marker)).body?.cancel();
    await pullAndCompare("big");
    const bigLayer = (await readJson<ImageManifest>(blobPath(src, refs.big!.digest))).layers[0]!;
    const gets = () => {
      const logs = berth.logs();
      return logs.slice(logs.lastIndexOf(marker)).split("\n").filter((l) => /GET \/v2\/\S+\/blobs\/sha256:[0-9a-f]{64}/.test(l));
    };
    // wrangler may print the last request lines a moment after skopeo exits: wait (bounded) for them.
    for (let i = 0; i < 40 && !gets().some((l) => l.includes(bigLayer.digest)); i++) await new Promise((r) => setTimeout(r, 50));
    const logs = berth.logs();
    const blobGets = gets();
    expect(blobGets.length, logs.slice(-2000)).toBeGreaterThan(0);
    expect(blobGets.some((l) => l.includes(bigLayer.digest) && / 307 /.test(l)), blobGets.join("\n")).toBe(true);
    expect(blobGets.every((l) => / 307 /.test(l)), blobGets.join("\n")).toBe(true);
  });

  it("a second push of the same image to the same repository finds every blob present", async () => {
    // A request with a unique path marks where this push starts in wrangler's request log.
    const marker = `/v2/${repo}/manifests/mark-${rand()}`;
    await (await req(berth.url, marker)).body?.cancel();
    const out = await push("v1", "v1-again", ["--debug"]);
    const v1 = await readJson<ImageManifest>(blobPath(src, refs.v1!.digest));
    const blobs = [v1.config, ...v1.layers];
    // Client side: containers/image HEADs each blob before uploading and logs "... already exists" on a 200.
    for (const d of blobs) {
      expect(out, `${d.digest} not reported present:\n${out.slice(-3000)}`).toMatch(
        new RegExp(`HEAD \\S+/blobs/${d.digest}"?\\s*\\n[^\\n]*\\.\\.\\. already exists`),
      );
    }
    // Server side: HEAD of each blob answered 200, and no upload session was opened.
    const since = () => {
      const logs = berth.logs();
      return logs.slice(logs.lastIndexOf(marker)).split("\n");
    };
    const headSeen = (d: Desc) => since().some((l) => l.includes(`HEAD /v2/${repo}/blobs/${d.digest} 200`));
    // wrangler may print the last request lines a moment after skopeo exits: wait (bounded) for them.
    for (let i = 0; i < 40 && !blobs.every(headSeen); i++) await new Promise((r) => setTimeout(r, 50));
    const lines = since();
    expect(lines.length).toBeGreaterThan(1);
    for (const d of blobs) expect(headSeen(d), `HEAD ${d.digest} 200 in\n${lines.join("\n")}`).toBe(true);
    expect(lines.filter((l) => /POST \/v2\/\S+\/blobs\/uploads/.test(l))).toEqual([]);
    const res = await req(berth.url, `/v2/${repo}/manifests/v1-again`, { method: "HEAD" });
    expect(res.headers.get("Docker-Content-Digest")).toBe(refs.v1!.digest);
  });
});
