// Client matrix against one Berth (wrangler dev + the run's Swift, unique root directory): skopeo, podman,
// buildah and docker each push an image, pull it back and run or inspect it; a multi-arch index pushed by one
// client is pulled for arm64 by others; docker's push sends each blob (a 12 MiB layer included) as ONE chunked
// PATCH without Content-Length or Content-Range (proven by a recording proxy in front of Berth). Every tool
// keeps its state in temp dirs (podman/buildah --root/--runroot with vfs, a private dockerd from
// harness/dockerd.ts), so the machine's own images are untouched; skopeo's blob-info cache
// (/var/lib/containers/cache) is the one shared file, as skopeo has no flag to move it.
// Tools missing on the machine are installed with scripts/install-deps.sh (groups skopeo, clients). Containers
// run on any cgroup layout (v1, hybrid, unified): harness/containers.ts picks podman's runtime flags for it.
// If dockerd cannot run here (not root, or it dies at start), the docker tests skip and print why.
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { cgroupLayout, podmanRun } from "./harness/containers.js";
import { DockerdUnavailable, startDockerd, unmountAndRemove, type Dockerd } from "./harness/dockerd.js";
import { ensureTools, makeOciLayout, run, type OciRef, type RunResult } from "./harness/tools.js";
import { recordingProxy, type Proxy } from "./helpers/proxy.js";

const rand = () => randomBytes(5).toString("hex");
const RUN = rand();
const ROOT = `t-clients-${RUN}`;
const STEP_MS = 120_000;
const BIG_LAYER_BYTES = 12 * 1024 * 1024;

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");

type Desc = { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string } };
type ImageManifest = { mediaType?: string; config: Desc; layers: Desc[] };
type IndexManifest = { mediaType?: string; manifests: Desc[] };

let berth: Berth;
let host: string; // 127.0.0.1:<port>, how clients name the registry
let tmp: string;
let layout: string; // mkoci.py output: tags v1, multi
let refs: Record<string, OciRef>;
let tini: string; // a static binary that runs in a FROM-scratch image

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const hexOf = (digest: string) => digest.replace(/^sha256:/, "");
const blobFile = (dir: string, digest: string) => path.join(dir, "blobs", "sha256", hexOf(digest));
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;

function berthTail(): string {
  return `\n--- wrangler (last 4 KB)\n${berth?.logs().slice(-4000) ?? ""}`;
}

/** Runs a tool and fails with its output and Berth's log tail when it exits non-zero. */
async function ok(cmd: string, args: string[], env?: Record<string, string | undefined>, timeoutMs = STEP_MS): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs, env });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-4000)}${berthTail()}`);
  }
  return r;
}

/** GET through Berth (redirects followed: blobs come from presigned S3 URLs). */
async function get(pathAndQuery: string, accept = ACCEPT): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(berth.url + pathAndQuery, { headers: { Accept: accept }, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** A file's bytes out of a (possibly gzipped) layer tarball, found by name suffix. */
async function fileFromLayer(layerFile: string, name: string): Promise<string> {
  const r = await ok("tar", ["-xOf", layerFile, "--wildcards", `*${name}`]);
  return r.stdout;
}

// ---- podman / buildah with private storage ----------------------------------------------------------------

/** Global flags that keep podman's images, containers and temp files in `dir`. */
function podmanFlags(dir: string): string[] {
  return [
    "--root", path.join(dir, "root"),
    "--runroot", path.join(dir, "runroot"),
    "--storage-driver", "vfs",
    "--cgroup-manager", "cgroupfs",
    "--events-backend", "file",
    "--tmpdir", path.join(dir, "tmp"),
  ];
}
function buildahFlags(dir: string): string[] {
  return ["--root", path.join(dir, "root"), "--runroot", path.join(dir, "runroot"), "--storage-driver", "vfs"];
}
// The machine may have a nofile/nproc hard limit below podman's defaults (1048576 / 4194304 for root); runc
// then fails with "error setting rlimit type 7: operation not permitted". Ask for limits any machine grants.
const RUN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

// ---- a recording HTTP proxy in front of Berth -------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  contentLength?: string;
  transferEncoding?: string;
  contentRange?: string;
  bodyBytes: number;
  status?: number;
}

/** A proxy to Berth recording how each request was framed (Content-Length, Transfer-Encoding, Content-Range) and its body's bytes. */
function framingProxy(target: string): Promise<Proxy<Seen>> {
  return recordingProxy(target, (req) => {
    const rec: Seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      contentLength: req.headers["content-length"],
      transferEncoding: req.headers["transfer-encoding"],
      contentRange: req.headers["content-range"],
      bodyBytes: 0,
    };
    req.on("data", (c: Buffer) => (rec.bodyBytes += c.length));
    return rec;
  });
}

// ---- set-up -----------------------------------------------------------------------------------------------

beforeAll(async () => {
  await ensureTools("skopeo", ["skopeo"]);
  await ensureTools("clients", ["podman", "buildah", "dockerd", "docker"]);
  tini = ["/usr/bin/tini-static", "/bin/tini-static"].find((p) => existsSync(p)) ?? "";
  if (!tini) throw new Error("tini-static not found (package tini, a dependency of docker.io)");
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-clients-"));
  layout = path.join(tmp, "layout");
  const [b, list] = await Promise.all([startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT }), makeOciLayout(layout)]);
  berth = b;
  host = new URL(berth.url).host;
  refs = Object.fromEntries(list.map((r) => [r.annotations?.["org.opencontainers.image.ref.name"] ?? "", r]));
  expect(Object.keys(refs).sort()).toEqual(["multi", "v1"]);
});

afterAll(async () => {
  await berth?.stop();
  if (tmp) await unmountAndRemove(tmp);
});

// ---- skopeo -----------------------------------------------------------------------------------------------

describe("skopeo", () => {
  const repo = `skopeo/${RUN}`;

  it("pushes an OCI layout with --preserve-digests and pulls every blob back byte for byte", async () => {
    await ok("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${layout}:v1`, `docker://${host}/${repo}:v1`]);
    const out = path.join(tmp, "skopeo-pull");
    await ok("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false", "--preserve-digests", `docker://${host}/${repo}:v1`, `oci:${out}:v1`]);

    const v1 = refs.v1!;
    const manifest = await readJson<ImageManifest>(blobFile(layout, v1.digest));
    const want = [v1.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)].sort();
    const got = (await readdir(path.join(out, "blobs", "sha256"))).map((h) => `sha256:${h}`).sort();
    expect(got).toEqual(want);
    for (const d of want) {
      const [a, b] = await Promise.all([readFile(blobFile(layout, d)), readFile(blobFile(out, d))]);
      expect(b.equals(a), `blob ${d} differs after the round trip`).toBe(true);
    }
    // And Berth serves the manifest bytes as pushed, under the same digest.
    const m = await get(`/v2/${repo}/manifests/v1`);
    expect(m.status).toBe(200);
    expect(m.headers.get("docker-content-digest")).toBe(v1.digest);
    expect(m.bytes.equals(await readFile(blobFile(layout, v1.digest)))).toBe(true);
  });
});

// ---- podman -----------------------------------------------------------------------------------------------

describe("podman", () => {
  const repo = `podman/${RUN}`;
  let dir: string;
  let P: string[];
  let podmanBig: Buffer;

  beforeAll(async () => {
    dir = path.join(tmp, "podman");
    P = podmanFlags(dir);
    const rootfs = path.join(dir, "rootfs");
    await mkdir(rootfs, { recursive: true });
    copyFileSync(tini, path.join(rootfs, "tini"));
    await writeFile(path.join(rootfs, "hello.txt"), `hello from podman ${RUN}\n`);
    // Bigger than an S3 part: podman compresses on the fly and sends the layer as one chunked PATCH.
    podmanBig = randomBytes(BIG_LAYER_BYTES);
    await writeFile(path.join(rootfs, "big.bin"), podmanBig);
    await ok("tar", ["-C", rootfs, "-cf", path.join(dir, "rootfs.tar"), "."]);
  });

  it("imports an image offline, pushes it, pulls it back by digest and runs it", async () => {
    const local = `localhost/podman-${RUN}:v1`;
    const remote = `${host}/${repo}:v1`;
    await ok("podman", [...P, "import", "--change", 'ENTRYPOINT ["/tini","--version"]', path.join(dir, "rootfs.tar"), local]);
    const digestFile = path.join(dir, "push.digest");
    await ok("podman", [...P, "push", "--tls-verify=false", "--digestfile", digestFile, local, `docker://${remote}`]);
    const pushed = (await readFile(digestFile, "utf8")).trim();
    expect(pushed).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Berth has it under the tag, with that digest.
    const head = await fetch(`${berth.url}/v2/${repo}/manifests/v1`, { method: "HEAD", headers: { Accept: ACCEPT } });
    expect(head.status).toBe(200);
    expect(head.headers.get("docker-content-digest")).toBe(pushed);

    // Forget it locally, pull it from Berth: same manifest digest, and it runs.
    await ok("podman", [...P, "rmi", "--force", local]);
    await ok("podman", [...P, "pull", "--tls-verify=false", remote]);
    const inspect = await ok("podman", [...P, "image", "inspect", "--format", "{{.Digest}}", remote]);
    expect(inspect.stdout.trim()).toBe(pushed);
    // The runtime and cgroup flags depend on the machine's cgroup layout (harness/containers.ts); the
    // container really runs, whichever way fits.
    const ran = await podmanRun(P, ["--rm", "--network", "none", ...RUN_LIMITS, remote], { timeoutMs: STEP_MS }).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}${berthTail()}`);
    });
    expect(ran.result.stdout, `podman run (${ran.way.name}; ${ran.layout.summary})`).toMatch(/^tini version \d+\.\d+\.\d+/);

    // The file we put in comes back with its content.
    const ctr = `c-${RUN}`;
    await ok("podman", [...P, "create", "--name", ctr, remote]);
    const exported = path.join(dir, "export.tar");
    await ok("podman", [...P, "export", "-o", exported, ctr]);
    await ok("podman", [...P, "rm", ctr]);
    expect(await fileFromLayer(exported, "hello.txt")).toBe(`hello from podman ${RUN}\n`);
    const outDir = path.join(dir, "export");
    await mkdir(outDir);
    await ok("tar", ["-xf", exported, "-C", outDir, "--wildcards", "*big.bin"]);
    expect(sha256(await readFile(path.join(outDir, "big.bin")))).toBe(sha256(podmanBig));
  });
});

// ---- buildah ----------------------------------------------------------------------------------------------

describe("buildah", () => {
  const repo = `buildah/${RUN}`;
  let dir: string;
  let B: string[];

  beforeAll(async () => {
    dir = path.join(tmp, "buildah");
    B = buildahFlags(dir);
    await mkdir(dir, { recursive: true });
  });

  /** `buildah from scratch` + copy + config + commit; returns the local image name. */
  async function build(name: string, files: Record<string, string>, arch: string): Promise<string> {
    const ctr = (await ok("buildah", [...B, "from", "scratch"])).stdout.trim();
    for (const [file, content] of Object.entries(files)) {
      const src = path.join(dir, `${rand()}-${file}`);
      await writeFile(src, content);
      await ok("buildah", [...B, "copy", ctr, src, `/${file}`]);
    }
    await ok("buildah", [...B, "config", "--cmd", "/hello.txt", "--arch", arch, "--os", "linux", ctr]);
    const image = `localhost/${name}`;
    await ok("buildah", [...B, "commit", "--rm", ctr, image]);
    return image;
  }

  it("builds from scratch, pushes, and skopeo pulls back the same manifest and file", async () => {
    const hello = `hello from buildah ${RUN}\n`;
    const image = await build(`buildah-${RUN}:v1`, { "hello.txt": hello }, "amd64");
    const digestFile = path.join(dir, "push.digest");
    await ok("buildah", [...B, "push", "--tls-verify=false", "--digestfile", digestFile, image, `docker://${host}/${repo}:v1`]);
    const pushed = (await readFile(digestFile, "utf8")).trim();

    const out = path.join(dir, "pulled");
    await ok("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false", `docker://${host}/${repo}:v1`, `dir:${out}`]);
    const raw = await readFile(path.join(out, "manifest.json"));
    expect(`sha256:${sha256(raw)}`).toBe(pushed);
    const manifest = JSON.parse(raw.toString("utf8")) as ImageManifest;
    expect(manifest.layers).toHaveLength(1);
    const layerFile = path.join(out, hexOf(manifest.layers[0]!.digest));
    expect(`sha256:${sha256(await readFile(layerFile))}`).toBe(manifest.layers[0]!.digest);
    expect(await fileFromLayer(layerFile, "hello.txt")).toBe(hello);
  });

  it("pushes a two-platform manifest list with --all; skopeo --override-arch arm64 pulls the arm64 image", async () => {
    const list = `localhost/buildah-list-${RUN}:v1`;
    const amd = await build(`buildah-m-${RUN}:amd64`, { "hello.txt": "x\n", "arch.txt": "amd64\n" }, "amd64");
    const arm = await build(`buildah-m-${RUN}:arm64`, { "hello.txt": "x\n", "arch.txt": "arm64\n" }, "arm64");
    await ok("buildah", [...B, "manifest", "create", list]);
    await ok("buildah", [...B, "manifest", "add", list, amd]);
    await ok("buildah", [...B, "manifest", "add", list, arm]);
    const digestFile = path.join(dir, "list.digest");
    await ok("buildah", [...B, "manifest", "push", "--all", "--tls-verify=false", "--digestfile", digestFile, list, `docker://${host}/${repo}/multi:v1`]);
    const pushed = (await readFile(digestFile, "utf8")).trim();

    // Berth serves the list with both platforms under the pushed digest.
    const idx = await get(`/v2/${repo}/multi/manifests/v1`);
    expect(idx.status).toBe(200);
    expect(`sha256:${sha256(idx.bytes)}`).toBe(pushed);
    const index = JSON.parse(idx.bytes.toString("utf8")) as IndexManifest;
    expect(index.manifests.map((m) => m.platform?.architecture).sort()).toEqual(["amd64", "arm64"]);

    const out = path.join(dir, "pulled-arm64");
    await ok("skopeo", ["--insecure-policy", "--override-arch", "arm64", "copy", "--src-tls-verify=false", `docker://${host}/${repo}/multi:v1`, `dir:${out}`]);
    const raw = await readFile(path.join(out, "manifest.json"));
    const armDesc = index.manifests.find((m) => m.platform?.architecture === "arm64")!;
    expect(`sha256:${sha256(raw)}`).toBe(armDesc.digest);
    const manifest = JSON.parse(raw.toString("utf8")) as ImageManifest;
    expect(await fileFromLayer(path.join(out, hexOf(manifest.layers[0]!.digest)), "arch.txt")).toBe("arm64\n");
  });
});

// ---- docker -----------------------------------------------------------------------------------------------

describe("docker", () => {
  let dockerd: Dockerd | undefined;
  let skipReason = "";
  let proxy: Proxy<Seen>;
  const repo = `docker/${RUN}`;

  beforeAll(async () => {
    try {
      dockerd = await startDockerd();
    } catch (e) {
      if (!(e instanceof DockerdUnavailable)) throw e;
      skipReason = `docker tests skipped: ${e.message}`;
      console.warn(`[clients.test] ${skipReason}`);
    }
    proxy = await framingProxy(berth.url);
  });

  afterAll(async () => {
    await proxy?.close();
    await dockerd?.stop();
  });

  const docker = (args: string[], extraEnv: Record<string, string> = {}) =>
    ok("docker", args, { ...dockerd!.env, ...extraEnv });

  it("builds FROM scratch, pushes (one chunked PATCH per blob), rmi, pulls and runs it", async (ctx) => {
    if (!dockerd) return ctx.skip(skipReason);
    const ctxDir = path.join(tmp, "docker-build");
    await mkdir(ctxDir, { recursive: true });
    copyFileSync(tini, path.join(ctxDir, "tini"));
    // A second layer bigger than an S3 part (5 MiB), random so that docker's gzip can't shrink it.
    const big = randomBytes(BIG_LAYER_BYTES);
    await writeFile(path.join(ctxDir, "big.bin"), big);
    await writeFile(path.join(ctxDir, "Dockerfile"), 'FROM scratch\nCOPY tini /tini\nCOPY big.bin /big.bin\nENTRYPOINT ["/tini","--version"]\n');
    // Pushed through the recording proxy: 127.0.0.1:<port> is an insecure registry for docker by default.
    const image = `${proxy.host}/${repo}:v1`;
    await docker(["build", "-q", "-t", image, ctxDir], { DOCKER_BUILDKIT: "0" });

    const push = await docker(["push", image]);
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
    expect(pushed, push.stdout).toBeTruthy();

    const m = await get(`/v2/${repo}/manifests/v1`);
    expect(m.status).toBe(200);
    expect(`sha256:${sha256(m.bytes)}`).toBe(pushed);
    const manifest = JSON.parse(m.bytes.toString("utf8")) as ImageManifest;
    expect(manifest.layers).toHaveLength(2);
    expect(manifest.layers[1]!.size).toBeGreaterThan(BIG_LAYER_BYTES);

    // Framing: each blob (config and both layers) went up as exactly one PATCH, chunked, without
    // Content-Length or Content-Range, carrying the whole blob; then a PUT ?digest= with an empty body.
    const digestParam = (s: Seen) => new URL(s.url, "http://x").searchParams.get("digest");
    const summary = proxy.seen
      .map((s) => `${s.method} ${s.url} cl=${s.contentLength} te=${s.transferEncoding} cr=${s.contentRange} body=${s.bodyBytes} -> ${s.status}`)
      .join("\n");
    for (const blob of [manifest.config, ...manifest.layers]) {
      const put = proxy.seen.find((s) => s.method === "PUT" && digestParam(s) === blob.digest);
      expect(put, `no PUT ?digest=${blob.digest}\n${summary}`).toBeDefined();
      const uploadPath = put!.url.split("?")[0]!;
      const patches = proxy.seen.filter((s) => s.method === "PATCH" && s.url.split("?")[0] === uploadPath);
      expect(patches, summary).toHaveLength(1);
      const patch = patches[0]!;
      expect(patch.transferEncoding, summary).toBe("chunked");
      expect(patch.contentLength, summary).toBeUndefined();
      expect(patch.contentRange, summary).toBeUndefined();
      expect(patch.bodyBytes, summary).toBe(blob.size);
      expect(patch.status, summary).toBe(202);
      expect(put!.bodyBytes, summary).toBe(0);
      expect(put!.status, summary).toBe(201);
      // And the blob Berth stored is exactly what docker sent.
      const got = await get(`/v2/${repo}/blobs/${blob.digest}`);
      expect(got.status).toBe(200);
      expect(got.bytes.length).toBe(blob.size);
      expect(`sha256:${sha256(got.bytes)}`).toBe(blob.digest);
    }

    // Round trip: forget the image, pull it (directly from Berth this time), run it without a network.
    const direct = `${host}/${repo}:v1`;
    await docker(["rmi", image]);
    const pull = await docker(["pull", direct]);
    expect(pull.stdout).toContain(`Digest: ${pushed}`);
    // dockerd's runc copes with v1, hybrid (it uses the v1 controllers) and unified layouts; say which one
    // this machine has if it did not.
    const r = await docker(["run", "--rm", "--network", "none", direct]).catch((e: unknown) => {
      throw new Error(`docker run on cgroup layout ${cgroupLayout().summary}: ${e instanceof Error ? e.message : String(e)}`);
    });
    expect(r.stdout).toMatch(/^tini version \d+\.\d+\.\d+/);
    // The big file came back intact.
    const ctr = `d-${RUN}`;
    await docker(["create", "--name", ctr, direct]);
    const exported = path.join(ctxDir, "export.tar");
    await docker(["export", "-o", exported, ctr]);
    await docker(["rm", ctr]);
    const outDir = path.join(ctxDir, "export");
    await mkdir(outDir);
    await ok("tar", ["-xf", exported, "-C", outDir, "--wildcards", "*big.bin"]);
    expect(sha256(await readFile(path.join(outDir, "big.bin")))).toBe(sha256(big));
  });

  it("pulls the arm64 image of an index that skopeo pushed (docker pull --platform linux/arm64)", async (ctx) => {
    if (!dockerd) return ctx.skip(skipReason);
    const repoM = `multi/${RUN}/skopeo`;
    await pushMultiWithSkopeo(repoM);
    const arm = await childFor("arm64");
    const image = `${host}/${repoM}:latest`;
    const pull = await docker(["pull", "--platform", "linux/arm64", image]);
    expect(pull.stdout).toContain(`Digest: ${refs.multi!.digest}`);
    const arch = await docker(["image", "inspect", "--format", "{{.Architecture}} {{index .RootFS.Layers 0}}", image]);
    const armConfig = await readJson<{ rootfs: { diff_ids: string[] } }>(blobFile(layout, arm.manifest.config.digest));
    expect(arch.stdout.trim()).toBe(`arm64 ${armConfig.rootfs.diff_ids[0]}`);
  });
});

// ---- multi-arch across clients ----------------------------------------------------------------------------

let multiPushed: Promise<void> | undefined;
/** skopeo copy --all of mkoci's `multi` index into `repo:latest` (once per file, whoever needs it first). */
function pushMultiWithSkopeo(repo: string): Promise<void> {
  multiPushed ??= ok("skopeo", ["--insecure-policy", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${layout}:multi`, `docker://${host}/${repo}:latest`]).then(() => undefined);
  return multiPushed;
}

async function childFor(arch: string): Promise<{ desc: Desc; manifest: ImageManifest }> {
  const index = await readJson<IndexManifest>(blobFile(layout, refs.multi!.digest));
  const desc = index.manifests.find((m) => m.platform?.architecture === arch);
  if (!desc) throw new Error(`no ${arch} in mkoci's multi index`);
  return { desc, manifest: await readJson<ImageManifest>(blobFile(layout, desc.digest)) };
}

describe("multi-arch index pushed by skopeo", () => {
  const repo = `multi/${RUN}/skopeo`;

  it("is served as pushed, and podman pull --arch arm64 gets the arm64 image and its file", async () => {
    await pushMultiWithSkopeo(repo);
    const idx = await get(`/v2/${repo}/manifests/latest`);
    expect(idx.status).toBe(200);
    expect(idx.headers.get("docker-content-digest")).toBe(refs.multi!.digest);
    expect(idx.bytes.equals(await readFile(blobFile(layout, refs.multi!.digest)))).toBe(true);

    const dir = path.join(tmp, "podman-multi");
    const P = podmanFlags(dir);
    const image = `${host}/${repo}:latest`;
    await ok("podman", [...P, "pull", "--tls-verify=false", "--arch", "arm64", image]);
    const arm = await childFor("arm64");
    const armConfig = await readJson<{ rootfs: { diff_ids: string[] } }>(blobFile(layout, arm.manifest.config.digest));
    // The image ID is the config's digest: it pins the arm64 instance (podman 4.3's .Digest names the index).
    const inspect = await ok("podman", [...P, "image", "inspect", "--format", "{{.Architecture}} sha256:{{.Id}} {{index .RootFS.Layers 0}}", image]);
    expect(inspect.stdout.trim()).toBe(`arm64 ${arm.manifest.config.digest} ${armConfig.rootfs.diff_ids[0]}`);
    const ctr = `m-${RUN}`;
    await ok("podman", [...P, "create", "--arch", "arm64", "--name", ctr, image]);
    const exported = path.join(dir, "export.tar");
    await ok("podman", [...P, "export", "-o", exported, ctr]);
    await ok("podman", [...P, "rm", ctr]);
    expect(await fileFromLayer(exported, "arch.txt")).toBe("arm64\n");
  });
});
