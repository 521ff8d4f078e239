// `berth push` end to end against Berth under wrangler dev: a 64 MiB layer sent in many 6 MiB chunks and pulled
// back byte-identical with skopeo; a multi-arch index with its children; a PATCH cut off mid-body by a proxy and
// resumed from the upload's Range; Berth's advertised OCI-Chunk-Max-Length honoured for a `docker save` archive
// built here (no docker needed); the Bearer token flow through a small auth front; and clear one-line failures.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { freePort } from "./harness/ports.js";
import { PROJECT_ROOT, makeOciLayout, run, sha256File, skopeo, type OciRef } from "./harness/tools.js";

const MiB = 1024 * 1024;
const SERVER_MAX = 8 * MiB; // BERTH_CHUNK_MAX_LENGTH of this file's Berth
const CLI = path.join(PROJECT_ROOT, "bin/berth.mjs");
const rand = () => randomBytes(4).toString("hex");
const ROOT = `t-berth-push-${rand()}`;
const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

let berth: Berth;
let host: string; // 127.0.0.1:PORT
let tmp: string;
let layout: string;
let refs: Record<string, OciRef>;

interface Manifest {
  mediaType?: string;
  config: { digest: string; size: number };
  layers: { digest: string; size: number; mediaType: string }[];
  manifests?: { digest: string }[];
}

const blobFile = (digest: string) => path.join(layout, "blobs/sha256", digest.slice("sha256:".length));
const readJson = async <T>(file: string) => JSON.parse(await readFile(file, "utf8")) as T;

/** Runs `berth push ARGS` with the project's Node (the one running vitest), bounded. */
function berthPush(args: string[], timeoutMs = 90_000) {
  return run(process.execPath, [CLI, "push", ...args], { timeoutMs });
}

/** wrangler dev's request log lines for PATCHes of uploads in `repo`, waiting (bounded) until `atLeast` appear. */
async function patchLines(repo: string, atLeast: number): Promise<string[]> {
  const re = new RegExp(`PATCH /v2/${repo}/blobs/uploads/[0-9a-f-]{36} `);
  let lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    lines = berth.logs().split("\n").filter((l) => re.test(l));
    if (lines.length >= atLeast) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return lines;
}

/** The blob's bytes as a client gets them: GET, following Berth's 307 to the bucket. */
async function blobSha(repo: string, digest: string): Promise<string> {
  const res = await fetch(`${berth.url}/v2/${repo}/blobs/${digest}`, { signal: AbortSignal.timeout(60_000) });
  expect(res.status).toBe(200);
  return sha256(new Uint8Array(await res.arrayBuffer()));
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-push-"));
  layout = path.join(tmp, "oci");
  const [descs, b] = await Promise.all([
    makeOciLayout(layout, { bigMiB: 64 }),
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, BERTH_CHUNK_MAX_LENGTH: String(SERVER_MAX) }),
  ]);
  berth = b;
  host = new URL(berth.url).host;
  refs = Object.fromEntries(descs.map((d) => [d.annotations?.["org.opencontainers.image.ref.name"] ?? d.digest, d]));
});

afterAll(async () => {
  await berth?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- wrangler logs (tail)\n${berth?.logs().slice(-4000)}`);
});

describe("berth push", () => {
  it("pushes a 64 MiB layer in 6 MiB chunks, and skopeo pulls it back byte-identical", async () => {
    const manifest = await readJson<Manifest>(blobFile(refs.big!.digest));
    const layer = manifest.layers[0]!;
    expect(layer.size).toBeGreaterThan(64 * MiB);
    const r = await berthPush(["--chunk-size", "6MiB", `oci:${layout}:big`, `${host}/cli/big:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`${host}/cli/big:1@${refs.big!.digest}`);
    // Every PATCH carries at most 6 MiB: ceil(size / 6 MiB) for the layer, one for the config.
    const expected = Math.ceil(layer.size / (6 * MiB)) + 1;
    const lines = await patchLines("cli/big", expected);
    expect(lines.length, lines.join("\n")).toBe(expected);
    expect(lines.every((l) => / 202 /.test(l)), lines.join("\n")).toBe(true);
    // Berth's OCI-Chunk-Min-Length (10 MiB S3 parts) is above the limit: the CLI says the limit wins.
    expect(r.stderr).toMatch(/OCI-Chunk-Min-Length\); the 6 MiB limit wins/);

    const out = path.join(tmp, "pulled-big");
    const pull = await skopeo(["copy", "--src-tls-verify=false", `docker://${host}/cli/big:1`, `dir:${out}`]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(await sha256File(path.join(out, layer.digest.slice(7)))).toBe(layer.digest.slice(7));
    expect(sha256(await readFile(path.join(out, "manifest.json")))).toBe(refs.big!.digest.slice(7));
  });

  it("pushes a multi-arch index with its children, and finds the blobs present the second time", async () => {
    // A decimal size is accepted; Berth's 8 MiB OCI-Chunk-Max-Length is below it.
    const r = await berthPush(["--chunk-size", "50MB", `oci:${layout}:multi`, `${host}/cli/multi`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\(chunks up to 47\.7 MiB\)\nregistry limits chunks to 8 MiB/);
    expect(r.stdout.trim()).toBe(`${host}/cli/multi:multi@${refs.multi!.digest}`);
    const index = await readJson<Manifest>(blobFile(refs.multi!.digest));
    expect(index.manifests).toHaveLength(2);
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${host}/cli/multi:multi`]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(sha256(raw.stdout)).toBe(refs.multi!.digest.slice(7));
    for (const child of index.manifests!) {
      const res = await fetch(`${berth.url}/v2/cli/multi/manifests/${child.digest}`, { method: "HEAD" });
      expect(res.status).toBe(200);
      const m = await readJson<Manifest>(blobFile(child.digest));
      for (const b of [m.config, ...m.layers]) expect(await blobSha("cli/multi", b.digest)).toBe(b.digest.slice(7));
    }
    // Again: every blob is found by HEAD, nothing is uploaded.
    const again = await berthPush([`oci:${layout}:multi`, `${host}/cli/multi:again`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 blob\(s\) pushed, 4 already present/);
  });

  it("pushes skopeo dir: directories, an image and a multi-arch index (children in <hex>.manifest.json)", async () => {
    const one = path.join(tmp, "dir-v1");
    const all = path.join(tmp, "dir-multi");
    for (const [src, dst, extra] of [[`oci:${layout}:v1`, one, []], [`oci:${layout}:multi`, all, ["--all"]]] as const) {
      const c = await skopeo(["copy", ...extra, src, `dir:${dst}`]);
      expect(c.code, c.stderr).toBe(0);
    }
    const r1 = await berthPush([`dir:${one}`, `${host}/cli/fromdir:v1`]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout.trim()).toBe(`${host}/cli/fromdir:v1@${refs.v1!.digest}`);
    expect(r1.stderr).toMatch(/done: 2 blob\(s\) pushed, 0 already present/);
    const r2 = await berthPush([`dir:${all}`, `${host}/cli/fromdir`]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout.trim()).toBe(`${host}/cli/fromdir:latest@${refs.multi!.digest}`);
    const pulled = path.join(tmp, "dir-pulled");
    const c = await skopeo(["copy", "--all", "--src-tls-verify=false", `docker://${host}/cli/fromdir:latest`, `dir:${pulled}`]);
    expect(c.code, c.stderr).toBe(0);
    expect(sha256(await readFile(path.join(pulled, "manifest.json")))).toBe(refs.multi!.digest.slice(7));
  });

  it("resumes a layer from the upload's Range after a PATCH is cut off mid-body", async () => {
    // A TCP proxy that, once, drops the connection 3 MiB into the PATCH carrying bytes from 6 MiB on.
    let cutDone = false;
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(new URL(berth.url).port), "127.0.0.1");
      let armed = false;
      let count = 0;
      let tail = "";
      client.on("data", (buf: Buffer) => {
        if (!cutDone) {
          if (!armed) {
            const text = tail + buf.toString("latin1");
            const i = text.search(/Content-Range: 6291456-/i);
            if (i >= 0) {
              armed = true;
              count = text.length - i;
            }
            tail = text.slice(-64);
          } else {
            count += buf.length;
          }
          if (armed && count >= 3 * MiB) {
            cutDone = true;
            client.destroy();
            upstream.destroy();
            return;
          }
        }
        if (!upstream.write(buf)) {
          client.pause();
          upstream.once("drain", () => client.resume());
        }
      });
      upstream.pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    try {
      const manifest = await readJson<Manifest>(blobFile(refs.big!.digest));
      const layer = manifest.layers[0]!;
      const r = await berthPush(["--chunk-size", "6MiB", `oci:${layout}:big`, `127.0.0.1:${port}/cli/resume:1`]);
      expect(cutDone).toBe(true);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/retry 1\/5/);
      const resumedAt = Number(/resuming at byte (\d+)/.exec(r.stderr)?.[1]);
      // Resumed where the registry said it was: Berth keeps what arrived of the cut chunk, so past its start.
      expect(resumedAt).toBeGreaterThan(6 * MiB);
      expect(resumedAt).toBeLessThan(12 * MiB);
      expect(await blobSha("cli/resume", layer.digest)).toBe(layer.digest.slice(7));
      const res = await fetch(`${berth.url}/v2/cli/resume/manifests/1`, { method: "HEAD" });
      expect(res.headers.get("docker-content-digest")).toBe(refs.big!.digest);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it("pushes a docker save archive as a schema2 image, in chunks no larger than Berth's OCI-Chunk-Max-Length", async () => {
    const big = randomBytes(20 * MiB);
    const layer1 = tarOf([{ name: "data.bin", data: big }]);
    const layer2 = tarOf([{ name: "hello.txt", data: Buffer.from("hello from docker-archive\n") }]);
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Cmd: ["/hello.txt"] },
        rootfs: { type: "layers", diff_ids: [`sha256:${sha256(layer1)}`, `sha256:${sha256(layer2)}`] },
      }),
    );
    const cfgName = `${sha256(config)}.json`;
    const saved = [{ Config: cfgName, RepoTags: ["demo/archive:v7"], Layers: ["aaa/layer.tar", "bbb/layer.tar"] }];
    const archive = path.join(tmp, "saved.tar");
    await writeFile(
      archive,
      tarOf([
        { name: "aaa/", dir: true },
        { name: "aaa/layer.tar", data: layer1 },
        { name: "ccc/layer.tar", data: layer2 },
        { name: "bbb/", dir: true },
        // docker save links a layer it already wrote; the CLI must follow the link inside the archive.
        { name: "bbb/layer.tar", symlink: "../ccc/layer.tar" },
        { name: cfgName, data: config },
        { name: "manifest.json", data: Buffer.from(JSON.stringify(saved)) },
        { name: "repositories", data: Buffer.from("{}") },
      ]),
    );

    const r = await berthPush([`docker-archive:${archive}`, `${host}/cli/archive`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^${host}/cli/archive:v7@sha256:[0-9a-f]{64}$`));
    expect(r.stderr).toMatch(/registry limits chunks to 8 MiB \(OCI-Chunk-Max-Length\)/);
    // Default --chunk-size is 64 MiB; Berth's 8 MiB wins: 3 PATCHes for the 20 MiB layer, 1 each for the rest.
    const lines = await patchLines("cli/archive", 5);
    expect(lines.length, lines.join("\n")).toBe(Math.ceil(layer1.length / SERVER_MAX) + 2);

    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${host}/cli/archive:v7`]);
    expect(raw.code, raw.stderr).toBe(0);
    const m = JSON.parse(raw.stdout) as Manifest;
    expect(m.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(m.config.digest).toBe(`sha256:${sha256(config)}`);
    expect(m.layers.map((l) => [l.mediaType, l.digest, l.size])).toEqual([
      ["application/vnd.docker.image.rootfs.diff.tar", `sha256:${sha256(layer1)}`, layer1.length],
      ["application/vnd.docker.image.rootfs.diff.tar", `sha256:${sha256(layer2)}`, layer2.length],
    ]);
    const inspect = await skopeo(["inspect", "--tls-verify=false", `docker://${host}/cli/archive:v7`]);
    expect(inspect.code, inspect.stderr).toBe(0);
    const info = JSON.parse(inspect.stdout) as { Architecture: string; Layers: string[] };
    expect(info.Architecture).toBe("amd64");
    expect(info.Layers).toEqual(m.layers.map((l) => l.digest));
    expect(await blobSha("cli/archive", `sha256:${sha256(layer1)}`)).toBe(sha256(layer1));
  });

  it("authenticates with the Bearer token flow, and fails clearly without or with wrong credentials", async () => {
    const TOKEN = `tok-${rand()}`;
    const tokenRequests: { auth?: string; scope: string[]; service: string | null }[] = [];
    const upstream = new URL(berth.url);
    const front = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/token") {
        tokenRequests.push({ auth: req.headers.authorization, scope: url.searchParams.getAll("scope"), service: url.searchParams.get("service") });
        const ok = req.headers.authorization === `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;
        res.writeHead(ok ? 200 : 401, { "Content-Type": "application/json" });
        res.end(JSON.stringify(ok ? { token: TOKEN } : { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        req.resume();
        res.writeHead(401, {
          "Content-Type": "application/json",
          "WWW-Authenticate": `Bearer realm="http://127.0.0.1:${frontPort}/token",service="berth-test",scope="repository:cli/auth:pull"`,
        });
        res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
        return;
      }
      const headers = { ...req.headers };
      delete headers.authorization;
      const p = http.request({ host: "127.0.0.1", port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      p.on("error", () => res.destroy());
      req.pipe(p);
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    const frontPort = (front.address() as net.AddressInfo).port;
    try {
      const dest = `127.0.0.1:${frontPort}/cli/auth:1`;
      const ok = await berthPush(["--creds", "alice:s3cret", `oci:${layout}:v1`, dest]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(tokenRequests.length).toBeGreaterThan(0);
      expect(tokenRequests[0]!.service).toBe("berth-test");
      expect(tokenRequests[0]!.scope).toContain("repository:cli/auth:pull,push");
      const res = await fetch(`${berth.url}/v2/cli/auth/manifests/1`, { method: "HEAD" });
      expect(res.headers.get("docker-content-digest")).toBe(refs.v1!.digest);

      const none = await berthPush(["-q", `oci:${layout}:v1`, dest]);
      expect(none.code).toBe(1);
      expect(none.stderr.trim().split("\n")).toHaveLength(1);
      expect(none.stderr).toMatch(/^berth push: GET token from .*: 401 Unauthorized: UNAUTHORIZED: bad credentials \(try --creds/);
      const wrong = await berthPush(["-q", "--creds", "alice:nope", `oci:${layout}:v1`, dest]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/401 Unauthorized: UNAUTHORIZED: bad credentials \(credentials refused\?\)/);
    } finally {
      await new Promise((r) => front.close(r));
    }
  });

  it("fails with one clear line: unknown source, registry answering 500, nothing listening", async () => {
    const missing = await berthPush([`oci:${path.join(tmp, "nope")}:v1`, `${host}/cli/x:1`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`berth push: oci:${path.join(tmp, "nope")}: not an OCI image layout (no ${path.join(tmp, "nope", "oci-layout")})`);

    const usage = await berthPush([`tarball:${tmp}`, `${host}/cli/x:1`]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^berth push: source "tarball:.*": unknown form/);

    // A registry whose PATCHes always fail with 500: bounded retries, then the status and the error code.
    const seen: string[] = [];
    const broken = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on("end", () => {
        if (req.method === "GET" && req.url === "/v2/") return void res.writeHead(200).end("{}");
        if (req.method === "HEAD") return void res.writeHead(404).end();
        if (req.method === "POST") return void res.writeHead(202, { Location: "/v2/cli/x/blobs/uploads/u1", Range: "0-0" }).end();
        if (req.method === "GET") return void res.writeHead(204, { Location: "/v2/cli/x/blobs/uploads/u1", Range: "0-0" }).end();
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: "UNKNOWN", message: "disk on fire" }] }));
      });
    });
    await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
    try {
      const port = (broken.address() as net.AddressInfo).port;
      const r = await berthPush(["-q", "--retries", "2", `oci:${layout}:v1`, `127.0.0.1:${port}/cli/x:1`]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^berth push: config sha256:[0-9a-f]{12}: giving up after 2 retries: PATCH \/v2\/cli\/x\/blobs\/uploads\/u1: 500 Internal Server Error: UNKNOWN: disk on fire\n$/,
      );
      expect(seen.filter((s) => s.startsWith("PATCH"))).toHaveLength(3);
      expect(seen.filter((s) => s === "GET /v2/cli/x/blobs/uploads/u1")).toHaveLength(2);
    } finally {
      await new Promise((r) => broken.close(r));
    }

    const closed = await freePort();
    const refused = await berthPush(["-q", "--retries", "1", `oci:${layout}:v1`, `127.0.0.1:${closed}/cli/x:1`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^berth push: GET /v2/ \\(127\\.0\\.0\\.1:${closed}\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}\\n$`));
  });
});

interface TarInput {
  name: string;
  data?: Uint8Array;
  dir?: boolean;
  symlink?: string;
}

/** A ustar archive of the entries (what `docker save` writes, minus PAX extras). */
function tarOf(entries: TarInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? new Uint8Array(0));
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, "utf8");
    const octal = (n: number, at: number, len: number) => h.write(`${n.toString(8).padStart(len - 1, "0")}\0`, at, len, "ascii");
    octal(e.dir ? 0o755 : 0o644, 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(data.length, 124, 12);
    octal(0, 136, 12);
    h.write(e.dir ? "5" : e.symlink ? "2" : "0", 156, 1, "ascii");
    if (e.symlink) h.write(e.symlink, 157, 100, "utf8");
    h.write("ustar\u000000", 257, 8, "ascii");
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
