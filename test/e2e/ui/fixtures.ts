// Content for the web UI's end-to-end test: hand-made OCI image layouts (real tar+gzip layers, image configs with
// entrypoint, env, ports, labels and history; a two-platform index) pushed with skopeo, and what only the API
// can make quickly: artifacts with a `subject` (a signature and an SBOM), many repositories (cross-repository
// mounts), and one manifest under thousands of tags (bounded-concurrency PUTs). Self-contained (Node built-ins
// only) and free of assertions.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
export const SIGNATURE_TYPE = "application/vnd.example.signature.v1+json";
export const SBOM_TYPE = "application/spdx+json";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const digestOf = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

/** A ustar archive of the given files (mtime 0, mode 0644): enough for any client to unpack. */
export function tar(files: Record<string, string>): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = enc(content);
    const head = new Uint8Array(512);
    const put = (off: number, s: string) => head.set(enc(s), off);
    const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";
    put(0, name);
    put(100, octal(0o644, 8));
    put(108, octal(0, 8));
    put(116, octal(0, 8));
    put(124, octal(data.byteLength, 12));
    put(136, octal(0, 12));
    put(148, "        "); // checksum field counts as spaces while summing
    put(156, "0");
    put(257, "ustar\u000000");
    let sum = 0;
    for (const b of head) sum += b;
    put(148, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(head, data, new Uint8Array((512 - (data.byteLength % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.byteLength, 0));
  let off = 0;
  for (const b of blocks) {
    out.set(b, off);
    off += b.byteLength;
  }
  return out;
}

/** An OCI image layout being written: blobs by digest, index.json naming tagged manifests. */
export class Layout {
  private readonly refs: Descriptor[] = [];
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async blob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    await mkdir(path.join(this.dir, "blobs", "sha256"), { recursive: true });
    await writeFile(path.join(this.dir, "blobs", "sha256", digest.slice(7)), bytes);
    return { digest, size: bytes.byteLength };
  }

  /** An image: one layer per entry of `layers` (files of a tar), the config merged from `config`. */
  async image(opts: {
    arch?: string;
    layers: Record<string, string>[];
    config?: Record<string, unknown>;
    created?: string;
    history?: { created_by: string; empty_layer?: boolean }[];
    annotations?: Record<string, string>;
  }): Promise<Descriptor> {
    const arch = opts.arch ?? "amd64";
    const layerDescs: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const files of opts.layers) {
      const raw = tar(files);
      diffIds.push(digestOf(raw));
      const gz = new Uint8Array(gzipSync(raw, { level: 1 }));
      layerDescs.push({ mediaType: OCI_LAYER, ...(await this.blob(gz)) });
    }
    const created = opts.created ?? "2026-01-01T00:00:00Z";
    const cfg = {
      created,
      architecture: arch,
      os: "linux",
      config: opts.config ?? {},
      rootfs: { type: "layers", diff_ids: diffIds },
      history: (opts.history ?? opts.layers.map((_, i) => ({ created_by: `COPY layer-${i} /` }))).map((h) => ({ created, ...h })),
    };
    const config = { mediaType: OCI_CONFIG, ...(await this.blob(enc(JSON.stringify(cfg)))) };
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: layerDescs,
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    };
    return { mediaType: OCI_MANIFEST, ...(await this.blob(enc(JSON.stringify(manifest)))), platform: { architecture: arch, os: "linux" } };
  }

  async index(children: Descriptor[]): Promise<Descriptor> {
    const doc = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: children };
    return { mediaType: OCI_INDEX, ...(await this.blob(enc(JSON.stringify(doc)))) };
  }

  tag(tag: string, d: Descriptor): void {
    const { platform: _p, ...rest } = d;
    this.refs.push({ ...rest, annotations: { "org.opencontainers.image.ref.name": tag } });
  }

  async finish(): Promise<void> {
    await writeFile(path.join(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await writeFile(path.join(this.dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.refs }));
  }
}

/** The images of the test: two tags of an image with a full config, and a two-platform index. */
export async function writeDemoLayout(dir: string): Promise<{ web1: Descriptor; web2: Descriptor; multi: Descriptor }> {
  const l = new Layout(dir);
  const config = (port: string) => ({
    Entrypoint: ["/usr/bin/web"],
    Cmd: ["--port", port],
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "WEB_MODE=production"],
    WorkingDir: "/srv/web",
    User: "1000:1000",
    ExposedPorts: { [`${port}/tcp`]: {} },
    Labels: { "org.opencontainers.image.source": "https://example.com/web", maintainer: "web team" },
  });
  const history = [
    { created_by: "ADD rootfs.tar /" },
    { created_by: "ENV WEB_MODE=production", empty_layer: true },
    { created_by: "COPY web /usr/bin/web" },
  ];
  const web1 = await l.image({
    layers: [{ "etc/os-release": "NAME=demo\n" }, { "usr/bin/web": "#!/bin/sh\necho web 1\n" }],
    config: config("8080"),
    created: "2026-01-02T03:04:05Z",
    history,
    annotations: { "org.opencontainers.image.title": "web", "org.opencontainers.image.version": "1.0" },
  });
  const web2 = await l.image({
    layers: [{ "etc/os-release": "NAME=demo\n" }, { "usr/bin/web": "#!/bin/sh\necho web 2\n" }],
    config: config("9090"),
    created: "2026-03-04T05:06:07Z",
    history,
  });
  const amd = await l.image({ arch: "amd64", layers: [{ "arch.txt": "amd64\n" }], created: "2026-02-01T00:00:00Z" });
  const arm = await l.image({ arch: "arm64", layers: [{ "arch.txt": "arm64\n" }], created: "2026-02-01T00:00:00Z" });
  const multi = await l.index([amd, { ...arm, platform: { architecture: "arm64", os: "linux", variant: "v8" } }]);
  l.tag("1.0", web1);
  l.tag("2.0", web2);
  l.tag("multi", multi);
  await l.finish();
  return { web1, web2, multi };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell) with a hard time limit. */
export function run(cmd: string, args: string[], opts: { timeoutMs: number; env?: Record<string, string> }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const t = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** skopeo copy of one tag of a layout to the registry (all platforms of an index). Throws on failure. */
export async function skopeoPush(opts: { layout: string; tag: string; dest: string; creds?: string; authFile: string }): Promise<void> {
  const args = [
    "--insecure-policy",
    "copy",
    "--all",
    "--preserve-digests",
    "--dest-tls-verify=false",
    ...(opts.creds ? ["--dest-creds", opts.creds] : []),
    `oci:${opts.layout}:${opts.tag}`,
    `docker://${opts.dest}`,
  ];
  const r = await run("skopeo", args, { timeoutMs: 120_000, env: { REGISTRY_AUTH_FILE: opts.authFile } });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(" ")} exited with ${r.code}\n${r.stderr.slice(-3000)}`);
}

type Headers = Record<string, string>;

async function ok(res: Response, what: string, status: number): Promise<Response> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

/** Monolithic blob push. */
export async function pushBlob(base: string, repo: string, bytes: Uint8Array, headers: Headers = {}): Promise<{ digest: string; size: number }> {
  const digest = digestOf(bytes);
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", ...headers },
    body: bytes,
  });
  await (await ok(res, `push blob to ${repo}`, 201)).body?.cancel();
  return { digest, size: bytes.byteLength };
}

/** PUT of a manifest under a tag or its digest; returns its descriptor. */
export async function putManifest(base: string, repo: string, ref: string, doc: unknown, headers: Headers = {}): Promise<Descriptor> {
  const bytes = enc(JSON.stringify(doc));
  const mediaType = (doc as { mediaType: string }).mediaType;
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref === "" ? digestOf(bytes) : ref}`, {
    method: "PUT",
    headers: { "Content-Type": mediaType, ...headers },
    body: bytes,
  });
  await (await ok(res, `PUT manifest ${repo}:${ref}`, 201)).body?.cancel();
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

/** A signature-like artifact and an SBOM whose subject is `subject` (pushed by digest, as cosign/oras do). */
export async function pushReferrers(base: string, repo: string, subject: Descriptor): Promise<{ signature: Descriptor; sbom: Descriptor }> {
  const empty = await pushBlob(base, repo, enc("{}"));
  const sigPayload = await pushBlob(base, repo, enc(JSON.stringify({ critical: { image: { "docker-manifest-digest": subject.digest } } })));
  const sbomPayload = await pushBlob(base, repo, enc(JSON.stringify({ spdxVersion: "SPDX-2.3", name: "web" })));
  const subj = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
  const signature = await putManifest(base, repo, "", {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SIGNATURE_TYPE,
    config: { mediaType: OCI_EMPTY, ...empty },
    layers: [{ mediaType: "application/vnd.example.signature.payload.v1+json", ...sigPayload }],
    subject: subj,
    annotations: { "org.opencontainers.image.created": "2026-01-03T00:00:00Z" },
  });
  const sbom = await putManifest(base, repo, "", {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SBOM_TYPE,
    config: { mediaType: OCI_EMPTY, ...empty },
    layers: [{ mediaType: SBOM_TYPE, ...sbomPayload }],
    subject: subj,
  });
  return { signature: { ...signature, artifactType: SIGNATURE_TYPE }, sbom: { ...sbom, artifactType: SBOM_TYPE } };
}

/** A tiny image pushed through the API (blobs + manifest), tagged `tag`. */
export async function pushTinyImage(base: string, repo: string, tag: string, note: string): Promise<Descriptor> {
  const raw = tar({ "note.txt": `${note}\n` });
  const layer = await pushBlob(base, repo, new Uint8Array(gzipSync(raw)));
  const cfg = {
    created: "2026-02-02T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: [digestOf(raw)] },
  };
  const config = await pushBlob(base, repo, enc(JSON.stringify(cfg)));
  return putManifest(base, repo, tag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, ...config }, layers: [{ mediaType: OCI_LAYER, ...layer }] });
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

/** `count` repositories `<prefix>-NNN`, each holding one tag of `source`'s image (blobs mounted, not uploaded). */
export async function pushManyRepos(base: string, prefix: string, count: number, source: { repo: string; tag: string }): Promise<string[]> {
  const res = await fetch(`${base}/v2/${source.repo}/manifests/${source.tag}`, { headers: { Accept: OCI_MANIFEST } });
  const doc = (await (await ok(res, "source manifest", 200)).json()) as { config: Descriptor; layers: Descriptor[] };
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`);
  await mapLimit(names, 8, async (name) => {
    for (const d of [doc.config, ...doc.layers]) {
      const m = await fetch(`${base}/v2/${name}/blobs/uploads/?mount=${d.digest}&from=${source.repo}`, { method: "POST" });
      await (await ok(m, `mount into ${name}`, 201)).body?.cancel();
    }
    await putManifest(base, name, "latest", doc);
  });
  return names;
}

/**
 * The manifest of `repo:tag` put again under `count` more tags (`prefix` + zero-padded number): PUTs by digest
 * with up to 64 `?tag=` each (distribution-spec end-7b), `concurrency` at once.
 */
export async function tagMany(base: string, repo: string, tag: string, prefix: string, count: number, concurrency = 4): Promise<string[]> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
  const bytes = new Uint8Array(await (await ok(res, "manifest to tag", 200)).arrayBuffer());
  const digest = digestOf(bytes);
  const tags = Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);
  const batches: string[][] = [];
  for (let i = 0; i < tags.length; i += 64) batches.push(tags.slice(i, i + 64));
  await mapLimit(batches, concurrency, async (batch) => {
    const q = new URLSearchParams(batch.map((t): [string, string] => ["tag", t]));
    const put = await fetch(`${base}/v2/${repo}/manifests/${digest}?${q}`, { method: "PUT", headers: { "Content-Type": OCI_MANIFEST }, body: bytes });
    await (await ok(put, `PUT ${repo}@${digest} with ${batch.length} tags`, 201)).body?.cancel();
    if (put.headers.get("OCI-Tag") === null) throw new Error(`PUT ${repo}@${digest}?tag=…: no OCI-Tag in the answer (is ?tag= supported?)`);
  });
  return tags;
}
