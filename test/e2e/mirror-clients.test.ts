// Real clients through Berth's pull-through cache, offline, against two real upstreams on 127.0.0.1:
// CNCF Distribution 2.8 with htpasswd (Berth answers its Basic challenge) and a second Berth in token mode (the
// flow Docker Hub uses: a 401 with a Bearer challenge whose realm is another origin and whose service is not the
// registry's host, a token from there for Basic credentials, blob redirects to its bucket). Each holds a two-platform index and an image with a 64 MiB layer (a different one in each), pushed
// with skopeo. The Berth under test mirrors Distribution under `dist/` (namespace dist.invalid) and the token
// Berth under `tok/` (namespace tok.invalid, and the `default` upstream), with credentials from named secrets;
// each upstream sits behind a recording proxy that counts its requests, and so does Berth for containerd.
// Checked, with the bytes the clients got identical to the upstream's and the blobs in Berth's bucket after:
// podman through a registries.conf mirror (prefix); skopeo by prefix; containerd's `ctr --hosts-dir` with a
// hosts.toml mirror (routed by the ?ns= containerd adds, answered with OCI-Namespace); dockerd with
// registry-mirrors (Docker Hub names, served by the default upstream); and 20 concurrent pulls of an uncached
// 64 MiB layer cause one upstream blob GET. The clients' fallbacks to the real registry are closed ports on
// 127.0.0.1 (dockerd's through an HTTPS_PROXY there), so nothing leaves the machine even when a pull fails.
import { createHash, randomBytes, type webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { DockerdUnavailable, startDockerd, unmountAndRemove, type Dockerd } from "./harness/dockerd.js";
import { freePort } from "./harness/ports.js";
import { listKeys } from "./harness/s3.js";
import { ensureTools, makeOciLayout, run, sha256File, type OciRef, type RunResult } from "./harness/tools.js";
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX } from "./helpers/manifests.js";
import { berthToken, ContainerdUnavailable, pushUpstreamBlob, recordingProxy, startContainerd, type Containerd, type RecordingProxy } from "./helpers/mirror-clients.js";

const RUN = randomBytes(4).toString("hex");
const ROOT = `t-mirror-clients-${RUN}`;
const USER = "puller";
const DIST_PW = randomBytes(12).toString("hex");
const TOK_PW = randomBytes(12).toString("hex");
const STEP_MS = 240_000;
const BIG_MIB = 64;
const CONCURRENT = 20;
const TOK_SERVICE = "registry.upstream.test";

type Desc = { mediaType: string; digest: string; size: number; platform?: { architecture: string } };
type Up = { name: "dist" | "tok"; url: () => string; proxy: () => RecordingProxy; auth: (scope: string) => Promise<string>; layout: string; refs: Record<string, OciRef> };

let tmp: string;
let dist: Distribution;
let tok: Berth;
let berth: Berth;
let front: RecordingProxy; // in front of the Berth under test (containerd talks to it)
let distProxy: RecordingProxy;
let tokProxy: RecordingProxy;
let realmProxy: RecordingProxy; // the token-mode upstream's /token, on an origin of its own (auth.docker.io's part)
let closedPort: number; // where every client's fallback to "the real registry" goes
let noAuthEnv: Record<string, string>;
let dockerd: Dockerd | undefined;
let dockerSkip = "";
const ups: Record<Up["name"], Up> = {
  dist: { name: "dist", url: () => dist.url, proxy: () => distProxy, auth: async () => basic(USER, DIST_PW), layout: "", refs: {} },
  tok: { name: "tok", url: () => tok.url, proxy: () => tokProxy, auth: (scope) => berthToken(`${realmProxy.url}/token`, TOK_SERVICE, basic(USER, TOK_PW), scope), layout: "", refs: {} },
};

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;
const hexOf = (d: string) => d.replace(/^sha256:/, "");
const blobFile = (layout: string, d: string) => path.join(layout, "blobs", "sha256", hexOf(d));
const blobKey = (d: string) => `${ROOT}/docker/registry/v2/blobs/sha256/${hexOf(d).slice(0, 2)}/${hexOf(d)}/data`;
const layerLink = (repo: string, d: string) => `${ROOT}/docker/registry/v2/repositories/${repo}/_layers/sha256/${hexOf(d)}/link`;
const readJson = async <T>(file: string) => JSON.parse(await readFile(file, "utf8")) as T;

function tails(): string {
  return [`--- berth\n${berth?.logs().slice(-3000)}`, `--- token-mode upstream\n${tok?.logs().slice(-1500)}`].join("\n");
}

async function ok(cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = STEP_MS): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs, env: { ...noAuthEnv, ...env } });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-4000)}\n${tails()}`);
  return r;
}

/** The manifest (or index, for one platform or all) and every blob it names, from an OCI layout. */
async function reachable(layout: string, d: Desc, arch?: string): Promise<Desc[]> {
  const doc = await readJson<{ manifests?: Desc[]; config?: Desc; layers?: Desc[] }>(blobFile(layout, d.digest));
  if (d.mediaType !== OCI_INDEX) return [d, doc.config!, ...(doc.layers ?? [])];
  const out: Desc[] = arch ? [] : [d];
  for (const m of doc.manifests ?? []) if (!arch || m.platform?.architecture === arch) out.push(...(await reachable(layout, m)));
  return out;
}

/** Every descriptor's blob is in Berth's bucket and linked in the cache repository `cache`. */
async function expectCached(cache: string, wanted: Desc[]): Promise<void> {
  const keys = new Set(await listKeys(`${ROOT}/docker/registry/v2/`));
  for (const d of wanted) {
    expect(keys.has(blobKey(d.digest)), `${d.digest} (${d.mediaType}) in the bucket`).toBe(true);
    if (!d.mediaType.includes("manifest") && !d.mediaType.includes("index")) expect(keys.has(layerLink(cache, d.digest)), `${d.digest} linked in ${cache}`).toBe(true);
  }
}

/** A manifest as the token-mode upstream holds it: its digest and document (asked with a token of our own). */
async function upstreamManifest(repo: string, ref: string): Promise<{ digest: string; doc: { manifests?: Desc[]; config?: Desc; layers?: Desc[] } }> {
  const res = await fetch(`${tok.url}/v2/${repo}/manifests/${ref}`, {
    headers: { Accept: [DOCKER_LIST, DOCKER_MANIFEST].join(", "), Authorization: await ups.tok.auth(`repository:${repo}:pull`) },
    signal: AbortSignal.timeout(30_000),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(res.status).toBe(200);
  return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, doc: JSON.parse(bytes.toString("utf8")) };
}

function podmanFlags(dir: string): string[] {
  return ["--root", path.join(dir, "root"), "--runroot", path.join(dir, "rr"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", path.join(dir, "tmp")];
}

beforeAll(async () => {
  await ensureTools("skopeo", ["skopeo"]);
  await ensureTools("clients", ["podman", "dockerd", "docker", "containerd", "ctr"]);
  await ensureTools("reference", ["docker-registry"]);
  // Short (podman refuses a --runroot longer than 50 characters), lowercase.
  tmp = path.join(existsSync("/tmp") ? "/tmp" : os.tmpdir(), `bmcl-${RUN}`);
  await mkdir(tmp);
  noAuthEnv = { REGISTRY_AUTH_FILE: path.join(tmp, "no-auth.json"), DOCKER_CONFIG: path.join(tmp, "no-docker"), XDG_RUNTIME_DIR: path.join(tmp, "xdg") };
  await writeFile(noAuthEnv.REGISTRY_AUTH_FILE!, '{"auths":{}}\n');
  await mkdir(noAuthEnv.DOCKER_CONFIG!);
  await mkdir(noAuthEnv.XDG_RUNTIME_DIR!, { mode: 0o700 });
  closedPort = await freePort();

  const kp = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", kp.privateKey)).toString("base64");
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${der.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  ups.dist.layout = path.join(tmp, "layout-dist");
  ups.tok.layout = path.join(tmp, "layout-tok");
  realmProxy = await recordingProxy(() => tok.url);
  const [listDist, listTok] = await Promise.all([
    makeOciLayout(ups.dist.layout, { bigMiB: BIG_MIB }),
    makeOciLayout(ups.tok.layout, { bigMiB: BIG_MIB }),
    startDistribution({ rootdirectory: "unused", filesystem: true, htpasswd: `${USER}:${bcrypt.hashSync(DIST_PW, 4)}\n` }).then((d) => void (dist = d)),
    startBerth({
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: `${ROOT}-upstream`,
      REGISTRY_AUTH: "token",
      REGISTRY_AUTH_HTPASSWD: `${USER}:${bcrypt.hashSync(TOK_PW, 4)}`,
      BERTH_AUTH_TOKEN_KEY: keyPem,
      REGISTRY_AUTH_TOKEN_REALM: `${realmProxy.url}/token`,
      REGISTRY_AUTH_TOKEN_SERVICE: TOK_SERVICE,
    }).then((b) => void (tok = b)),
  ]);
  for (const [up, list] of [[ups.dist, listDist], [ups.tok, listTok]] as const) {
    up.refs = Object.fromEntries(list.map((r) => [r.annotations!["org.opencontainers.image.ref.name"]!, r]));
  }
  expect(ups.dist.refs.big!.digest).not.toBe(ups.tok.refs.big!.digest);
  // Each upstream: lib/multi:multi (the index), lib/big:big; the token Berth also holds Docker Hub-style names.
  const push = (up: Up, pw: string, tag: string, repo: string) =>
    ok("skopeo", ["--insecure-policy", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `--dest-creds=${USER}:${pw}`, `oci:${up.layout}:${tag}`, `docker://${new URL(up.url()).host}/${repo}`]);
  await Promise.all([
    push(ups.dist, DIST_PW, "multi", "lib/multi:multi").then(() => push(ups.dist, DIST_PW, "big", "lib/big:big")).then(() => push(ups.dist, DIST_PW, "v1", "lib/pinned:v1")),
    push(ups.tok, TOK_PW, "multi", "lib/multi:multi").then(() => push(ups.tok, TOK_PW, "big", "lib/big:big")).then(() => push(ups.tok, TOK_PW, "multi", "library/mirrored:multi")),
  ]);
  // Docker Hub's own format (a Docker manifest list of schema 2 manifests), converted by skopeo.
  await ok("skopeo", ["--insecure-policy", "copy", "--all", "--format", "v2s2", "--dest-tls-verify=false", `--dest-creds=${USER}:${TOK_PW}`, `oci:${ups.tok.layout}:multi`, `docker://${new URL(tok.url).host}/library/dockerlist:multi`]);
  [distProxy, tokProxy] = await Promise.all([recordingProxy(dist.url), recordingProxy(tok.url)]);
  berth = await startBerth({
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT,
    DIST_PASSWORD: DIST_PW,
    TOK_PASSWORD: TOK_PW,
    BERTH_UPSTREAMS: JSON.stringify([
      { name: "dist", urls: [distProxy.url], prefix: "dist", namespaces: ["dist.invalid"], credentials: { username: USER, secret: "DIST_PASSWORD" }, ttl: "1h" },
      { name: "tok", urls: [tokProxy.url], prefix: "tok", namespaces: ["tok.invalid", "docker.io"], default: true, credentials: { username: USER, secret: "TOK_PASSWORD" }, ttl: "1h" },
    ]),
  });
  front = await recordingProxy(berth.url);
  try {
    // Docker Hub names go to the mirror; were it to fail, the fallback to Docker Hub goes to a closed port here.
    const proxy = `http://127.0.0.1:${closedPort}`;
    dockerd = await startDockerd({ daemonJson: { "registry-mirrors": [berth.url] }, env: { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, NO_PROXY: "127.0.0.1,localhost" } });
  } catch (e) {
    if (!(e instanceof DockerdUnavailable)) throw e;
    dockerSkip = `docker test skipped: ${e.message}`;
    console.warn(`[mirror-clients.test] ${dockerSkip}`);
  }
}, 600_000);

afterAll(async () => {
  await Promise.all([berth?.stop(), tok?.stop(), dist?.stop(), dockerd?.stop(), front?.close(), distProxy?.close(), tokProxy?.close(), realmProxy?.close()]);
  if (tmp) await unmountAndRemove(tmp);
});

describe("real clients through the pull-through cache", () => {
  it("podman through a registries.conf mirror (dist/ prefix): the 64 MiB image, and arm64 of the index", async () => {
    const conf = path.join(tmp, "registries.conf");
    // The registry itself is a closed port: only the mirror can answer.
    await writeFile(
      conf,
      [
        "unqualified-search-registries = []",
        "[[registry]]",
        'prefix = "dist.invalid"',
        `location = "127.0.0.1:${closedPort}"`,
        "insecure = true",
        "[[registry.mirror]]",
        `location = "${new URL(berth.url).host}/dist"`,
        "insecure = true",
        "",
      ].join("\n"),
    );
    const P = podmanFlags(path.join(tmp, "podman"));
    const env = { CONTAINERS_REGISTRIES_CONF: conf };
    const up = ups.dist;
    await ok("podman", [...P, "pull", "dist.invalid/lib/big:big"], env);
    await ok("podman", [...P, "pull", "--arch", "arm64", "dist.invalid/lib/multi:multi"], env);
    const inspect = async (ref: string) => {
      const out = (await ok("podman", [...P, "image", "inspect", "--format", "{{.Digest}} {{.Id}} {{json .RootFS.Layers}}", ref], env)).stdout.trim();
      const [digest, id, layers] = out.split(" ");
      return { digest, id: `sha256:${id}`, layers: JSON.parse(layers!) as string[] };
    };
    const big = await reachable(up.layout, up.refs.big!);
    // podman names the image by the upstream's manifest digest and its config; the layer is a plain tar, so
    // the diff ID podman computed from the bytes it unpacked is the layer's digest.
    expect(await inspect("dist.invalid/lib/big:big")).toEqual({ digest: up.refs.big!.digest, id: big[1]!.digest, layers: [big[2]!.digest] });
    const arm = await reachable(up.layout, up.refs.multi!, "arm64");
    expect(arm).toHaveLength(3);
    const m = await inspect("dist.invalid/lib/multi:multi");
    expect(m.id).toBe(arm[1]!.digest);
    expect([up.refs.multi!.digest, arm[0]!.digest]).toContain(m.digest);
    await expectCached("dist/lib/big", big);
    await expectCached("dist/lib/multi", arm);
    // The prefixed name itself, through the token-mode upstream, into a storage of its own (the index is the
    // same in both upstreams, and podman fetches no layer it already holds).
    const direct = `${new URL(berth.url).host}/tok/lib/multi:multi`;
    const P2 = podmanFlags(path.join(tmp, "podman2"));
    await ok("podman", [...P2, "pull", "--tls-verify=false", "--arch", "arm64", direct], env);
    const tokArm = await reachable(ups.tok.layout, ups.tok.refs.multi!, "arm64");
    const id = (await ok("podman", [...P2, "image", "inspect", "--format", "{{.Id}}", direct], env)).stdout.trim();
    expect(`sha256:${id}`).toBe(tokArm[1]!.digest);
    await expectCached("tok/lib/multi", tokArm);
  });

  it("skopeo by prefix (tok/): the index with --all and the 64 MiB image, byte for byte, from the token-mode upstream", async () => {
    const up = ups.tok;
    const out = path.join(tmp, "skopeo-out");
    const host = new URL(berth.url).host;
    await ok("skopeo", ["--insecure-policy", "copy", "--all", "--preserve-digests", "--src-tls-verify=false", `docker://${host}/tok/lib/multi:multi`, `oci:${out}:multi`]);
    await ok("skopeo", ["--insecure-policy", "copy", "--preserve-digests", "--src-tls-verify=false", `docker://${host}/tok/lib/big:big`, `oci:${out}:big`]);
    const multi = await reachable(up.layout, up.refs.multi!);
    const big = await reachable(up.layout, up.refs.big!);
    expect(multi.length).toBeGreaterThanOrEqual(7);
    for (const d of [...multi, ...big]) expect(await sha256File(blobFile(out, d.digest)), d.digest).toBe(hexOf(d.digest));
    await expectCached("tok/lib/multi", multi);
    await expectCached("tok/lib/big", big);
    // Berth reached the token-mode upstream with tokens it fetched itself from the challenge's realm, for the
    // challenge's service and the repository's pull scope.
    const scope = encodeURIComponent("repository:lib/multi:pull");
    expect(realmProxy.seen.some((r) => r.path.includes(`service=${TOK_SERVICE}`) && r.path.includes(`scope=${scope}`) && r.status === 200)).toBe(true);
    expect(tokProxy.seen.filter((r) => r.path.startsWith("/token"))).toEqual([]);
  });

  it("containerd (ctr --hosts-dir, hosts.toml mirror): routed by ?ns=, answered with OCI-Namespace, content identical", async (t) => {
    let cd: Containerd;
    try {
      cd = await startContainerd();
    } catch (e) {
      if (!(e instanceof ContainerdUnavailable)) throw e;
      console.warn(`[mirror-clients.test] containerd test skipped: ${e.message}`);
      return t.skip(`containerd test skipped: ${e.message}`);
    }
    try {
      const hostsDir = path.join(tmp, "certs.d");
      for (const ns of ["dist.invalid", "tok.invalid", "docker.io"]) {
        await mkdir(path.join(hostsDir, ns), { recursive: true });
        await writeFile(
          path.join(hostsDir, ns, "hosts.toml"),
          [`server = "http://127.0.0.1:${closedPort}"`, "", `[host."http://${front.host}"]`, '  capabilities = ["pull", "resolve"]', ""].join("\n"),
        );
      }
      const pull = async (args: string[]) => {
        const r = await cd.ctr(["image", "pull", "--hosts-dir", hostsDir, "--snapshotter", "native", ...args], STEP_MS);
        if (r.code !== 0) throw new Error(`ctr image pull ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-3000)}\n--- containerd\n${cd.logs()}\n${tails()}`);
      };
      await pull(["--platform", "linux/arm64", "dist.invalid/lib/multi:multi"]);
      await pull(["tok.invalid/lib/big:big"]);
      // A Kubernetes node's Docker Hub image: certs.d/docker.io/hosts.toml, ns=docker.io, the token-mode upstream.
      await pull(["docker.io/library/mirrored:multi"]);
      // A pod's image pinned by digest: the manifest by digest, fetched from the upstream through ns.
      const pinned = ups.dist.refs.v1!.digest;
      await pull([`dist.invalid/lib/pinned@${pinned}`]);
      expect(front.seen.find((r) => r.path.startsWith(`/v2/lib/pinned/manifests/${pinned}`))).toMatchObject({ status: 200, namespace: "dist.invalid" });
      const listed = await cd.ctr(["content", "ls", "-q"]);
      expect(listed.code).toBe(0);
      const have = new Set(listed.stdout.split("\n").map((l) => l.trim()));
      const arm = await reachable(ups.dist.layout, ups.dist.refs.multi!, "arm64");
      const big = await reachable(ups.tok.layout, ups.tok.refs.big!);
      const amd = await reachable(ups.tok.layout, ups.tok.refs.multi!, "amd64");
      // containerd's content store checks every blob's digest as it commits it: present means identical.
      const v1 = await reachable(ups.dist.layout, ups.dist.refs.v1!);
      for (const d of [ups.dist.refs.multi!, ...arm, ...big, ups.tok.refs.multi!, ...amd, ...v1]) expect(have.has(d.digest), `${d.digest} in containerd's content store`).toBe(true);
      const images = await cd.ctr(["image", "ls", "-q"]);
      expect(images.stdout.split("\n").sort()).toEqual(expect.arrayContaining(["dist.invalid/lib/multi:multi", "tok.invalid/lib/big:big", "docker.io/library/mirrored:multi"]));
      // What Berth answered containerd: every request carried ?ns=, every answer the namespace that routed it.
      for (const ns of ["dist.invalid", "tok.invalid", "docker.io"]) {
        const asked = front.seen.filter((r) => r.path.includes(`ns=${ns}`));
        expect(asked.some((r) => r.path.includes("/manifests/")), `manifest requests with ns=${ns}`).toBe(true);
        expect(asked.some((r) => r.path.includes("/blobs/")), `blob requests with ns=${ns}`).toBe(true);
        for (const r of asked) expect({ path: r.path, status: r.status! < 400, namespace: r.namespace }).toEqual({ path: r.path, status: true, namespace: ns });
      }
      expect(front.seen.filter((r) => !/[?&]ns=/.test(r.path))).toEqual([]);
      // The same cache repositories as a pull by prefix: dist.invalid's lib/multi is dist/lib/multi.
      await expectCached("dist/lib/multi", arm);
      await expectCached("tok/lib/big", big);
      await expectCached("tok/library/mirrored", amd);
      await expectCached("dist/lib/pinned", v1);
    } finally {
      await cd.stop();
    }
  });

  it("dockerd with registry-mirrors: a Docker Hub name is served by the default upstream (the token-mode Berth)", async (t) => {
    if (!dockerd) return t.skip(dockerSkip);
    const env = { ...dockerd.env };
    await ok("docker", ["pull", "mirrored:multi"], env);
    const [id, repoDigests] = (await ok("docker", ["image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", "mirrored:multi"], env)).stdout.trim().split(" ");
    const amd = await reachable(ups.tok.layout, ups.tok.refs.multi!, "amd64");
    expect(id).toBe(amd[1]!.digest);
    expect(JSON.parse(repoDigests!)).toEqual([`mirrored@${ups.tok.refs.multi!.digest}`]);
    // dockerd asked the mirror for library/mirrored; the default upstream's cache is tok/library/mirrored.
    await expectCached("tok/library/mirrored", amd);
    // Docker Hub's format: a Docker manifest list, the amd64 schema 2 manifest chosen from it. Its config and
    // layer are mirrored:multi's (skopeo converted only the manifests): removed first, so dockerd fetches them.
    await ok("docker", ["image", "rm", "mirrored:multi"], env);
    await ok("docker", ["pull", "dockerlist:multi"], env);
    const list = await upstreamManifest("library/dockerlist", "multi");
    const child = list.doc.manifests!.find((m) => m.platform?.architecture === "amd64")!;
    const image = await upstreamManifest("library/dockerlist", child.digest);
    const [id2, repoDigests2] = (await ok("docker", ["image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", "dockerlist:multi"], env)).stdout.trim().split(" ");
    expect(id2).toBe(image.doc.config!.digest);
    expect(JSON.parse(repoDigests2!)).toEqual([`dockerlist@${list.digest}`]);
    await expectCached("tok/library/dockerlist", [child, image.doc.config!, ...image.doc.layers!]);
  });

  for (const name of ["dist", "tok"] as const) {
    it(`${CONCURRENT} concurrent pulls of an uncached ${BIG_MIB} MiB layer (${name} upstream): one upstream blob GET`, async () => {
      const up = ups[name];
      const repo = `lib/conc-${RUN}`;
      const bytes = randomBytes(BIG_MIB * 1024 * 1024);
      const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
      await pushUpstreamBlob(up.url(), repo, digest, bytes, await up.auth(`repository:${repo}:pull,push`));
      const pull = async () => {
        const res = await fetch(`${berth.url}/v2/${name}/${repo}/blobs/${digest}`, { redirect: "manual", signal: AbortSignal.timeout(STEP_MS) });
        const body = res.status === 307 ? await fetch(res.headers.get("Location")!, { signal: AbortSignal.timeout(STEP_MS) }) : res;
        const h = createHash("sha256");
        let n = 0;
        for await (const chunk of body.body!) {
          h.update(chunk);
          n += chunk.byteLength;
        }
        return { status: res.status, bodyStatus: body.status, n, sha: h.digest("hex") };
      };
      const pulls = await Promise.all(Array.from({ length: CONCURRENT }, pull));
      expect(pulls.map((p) => p.sha)).toEqual(Array(CONCURRENT).fill(hexOf(digest)));
      // One request streamed it from the upstream; the others waited and were sent to the bucket.
      expect(pulls.map((p) => p.status).sort()).toEqual([200, ...Array(CONCURRENT - 1).fill(307)]);
      const gets = up.proxy().seen.filter((r) => r.method === "GET" && r.path.startsWith(`/v2/${repo}/blobs/${digest}`));
      // A 401 is the token-mode upstream's challenge (answered with a token, then asked again): not a fetch.
      expect(gets.filter((r) => r.status !== 401)).toHaveLength(1);
      expect(await listKeys(blobKey(digest))).toEqual([blobKey(digest)]);
    }, 600_000);
  }

  it("no upstream password reaches a log", () => {
    for (const logs of [berth.logs(), tok.logs(), dist.logs()]) {
      expect(logs).not.toContain(DIST_PW);
      expect(logs).not.toContain(TOK_PW);
    }
  });
});
