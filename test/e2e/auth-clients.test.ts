// Real registry clients against Berth with authentication on, in both modes: `token` (Berth's own token
// endpoint; htpasswd users made here with bcryptjs, a signing key made here with WebCrypto) and `htpasswd`
// (HTTP Basic on every request). In each: `docker login` + push + pull (a private dockerd, a temp DOCKER_CONFIG
// per login), `podman login --tls-verify=false` (temp --authfile) + push + pull, `skopeo copy --dest-creds` /
// `--src-creds`, an anonymous skopeo pull of a public repository (anonymousPolicy read on public/**) and an
// anonymous push there that fails, a user without create rights refused (the client exits non-zero; a raw
// request of the same operation shows what Berth answered: 403 DENIED, or 401 for anonymous callers), and
// `berth push --creds`. Every tool keeps its state in temp dirs; skopeo and podman are pointed at an empty
// auth file so nothing from the machine's own logins leaks in.
import type { webcrypto } from "node:crypto";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { DockerdUnavailable, startDockerd, unmountAndRemove, type Dockerd } from "./harness/dockerd.js";
import { ensureTools, makeOciLayout, PROJECT_ROOT, run, type OciRef, type RunResult } from "./harness/tools.js";

const RUN = randomBytes(4).toString("hex");
const ROOT = `t-auth-clients-${RUN}`;
const STEP_MS = 120_000;
const PW: Record<User, string> = { alice: `alice-pw-${RUN}`, bob: `bob-pw-${RUN}`, carol: `carol-pw-${RUN}` };
type User = "alice" | "bob" | "carol";
type Mode = "token" | "htpasswd";

// The README's example: alice and bob push to team/*, everyone else pulls there; anonymous pull of public/**
// (alice pushes there); read for every authenticated user elsewhere.
const ACCESS = JSON.stringify({
  groups: { team: { users: ["alice", "bob"] } },
  repositories: {
    "team/*": { policies: [{ groups: ["team"], actions: ["read", "create", "update", "delete"] }], defaultPolicy: ["read"] },
    "public/**": { policies: [{ users: ["alice"], actions: ["read", "create", "update"] }], anonymousPolicy: ["read"] },
    "**": { defaultPolicy: ["read"] },
  },
});

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST].join(", ");

interface Inst {
  mode: Mode;
  berth: Berth;
  url: string;
  host: string;
}
const inst: Partial<Record<Mode, Inst>> = {};
let tmp: string;
let layout: string;
let refs: Record<string, OciRef>;
let dockerd: Dockerd | undefined;
let dockerSkip = "";
/** Env for skopeo/podman: an empty auth file and docker config, so only the flags given count. */
let noAuthEnv: Record<string, string>;

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

function tail(i?: Inst): string {
  return i ? `\n--- wrangler (${i.mode}, last 3 KB)\n${i.berth.logs().slice(-3000)}` : "";
}

/** Runs a tool; fails with its output and Berth's log tail when it exits non-zero. */
async function ok(cmd: string, args: string[], opts: { env?: Record<string, string | undefined>; input?: string; i?: Inst } = {}): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs: STEP_MS, env: { ...noAuthEnv, ...opts.env }, input: opts.input });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-4000)}${tail(opts.i)}`);
  return r;
}

/** Runs a tool that must fail; returns its output. */
async function fails(cmd: string, args: string[], opts: { env?: Record<string, string | undefined>; input?: string; i?: Inst } = {}): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs: STEP_MS, env: { ...noAuthEnv, ...opts.env }, input: opts.input });
  expect(r.code, `${cmd} ${args.join(" ")} should have failed\n${r.stdout}${tail(opts.i)}`).not.toBe(0);
  return r;
}

// ---- raw requests: what Berth answers ---------------------------------------------------------------------

interface Answer {
  status: number;
  code?: string;
  message?: string;
  challenge: string | null;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let e: { code?: string; message?: string } | undefined;
  try {
    e = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
  } catch {
    // no error body
  }
  return { status: res.status, code: e?.code, message: e?.message, challenge: res.headers.get("www-authenticate") };
}

/** Authorization for `user` (null: anonymous) to do `actions` on `repo`, as a client would get it. */
async function authFor(i: Inst, user: User | null, repo: string, actions: string): Promise<Record<string, string>> {
  if (i.mode === "htpasswd") return user === null ? {} : { Authorization: basic(user, PW[user]) };
  const q = new URLSearchParams({ service: i.host, scope: `repository:${repo}:${actions}` });
  const res = await fetch(`${i.url}/token?${q}`, {
    headers: user === null ? {} : { Authorization: basic(user, PW[user]) },
    signal: AbortSignal.timeout(30_000),
  });
  expect(res.status).toBe(200);
  return { Authorization: `Bearer ${((await res.json()) as { token: string }).token}` };
}

/** The first request of a push (POST of an upload), as `user` would send it. */
async function rawPushStart(i: Inst, user: User | null, repo: string): Promise<Answer> {
  const res = await fetch(`${i.url}/v2/${repo}/blobs/uploads/`, {
    method: "POST",
    headers: await authFor(i, user, repo, "pull,push"),
    signal: AbortSignal.timeout(30_000),
  });
  return answer(res);
}

/** HEAD of a manifest as `user`: its status and digest. */
async function headManifest(i: Inst, user: User | null, repo: string, ref: string): Promise<[number, string | null]> {
  const res = await fetch(`${i.url}/v2/${repo}/manifests/${ref}`, {
    method: "HEAD",
    headers: { Accept: ACCEPT, ...(await authFor(i, user, repo, "pull")) },
    signal: AbortSignal.timeout(30_000),
  });
  return [res.status, res.headers.get("docker-content-digest")];
}

/** What the mode answers to a refused push: 403 DENIED to a known user, 401 with the challenge to anonymous. */
function refusedPush(i: Inst, user: User | null, repo: string): Answer {
  if (user !== null) return { status: 403, code: "DENIED", message: `create on repository ${repo} is denied for user ${user}`, challenge: null };
  const challenge =
    i.mode === "token"
      ? `Bearer realm="${i.url}/token",service="${i.host}",scope="repository:${repo}:pull,push"`
      : 'Basic realm="Berth Registry"';
  return { status: 401, code: "UNAUTHORIZED", message: "authentication required", challenge };
}

// ---- set-up -----------------------------------------------------------------------------------------------

beforeAll(async () => {
  await ensureTools("skopeo", ["skopeo"]);
  await ensureTools("clients", ["podman", "dockerd", "docker"]);
  // Short (podman refuses a --runroot longer than 50 characters) and lowercase (podman names an image pulled
  // from an oci: layout after its path).
  tmp = path.join(existsSync("/tmp") ? "/tmp" : os.tmpdir(), `bac-${RUN}`);
  await mkdir(tmp);
  layout = path.join(tmp, "layout");
  noAuthEnv = {
    REGISTRY_AUTH_FILE: path.join(tmp, "no-auth.json"),
    DOCKER_CONFIG: path.join(tmp, "no-docker-config"),
    XDG_RUNTIME_DIR: path.join(tmp, "xdg"),
  };
  await writeFile(noAuthEnv.REGISTRY_AUTH_FILE!, '{"auths":{}}\n');
  await mkdir(noAuthEnv.DOCKER_CONFIG!);
  await mkdir(noAuthEnv.XDG_RUNTIME_DIR!, { mode: 0o700 });

  const htpasswd = Object.entries(PW)
    .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`)
    .join("\n");
  const kp = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", kp.privateKey)).toString("base64");
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${der.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  const common = { REGISTRY_AUTH_HTPASSWD: htpasswd, REGISTRY_ACCESSCONTROL: ACCESS, BERTH_AUTH_FAIL_DELAY: "100ms" };
  const start = async (mode: Mode, vars: Record<string, string>): Promise<void> => {
    const berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `${ROOT}-${mode}`, REGISTRY_AUTH: mode, ...common, ...vars });
    inst[mode] = { mode, berth, url: berth.url, host: new URL(berth.url).host };
  };
  const [list] = await Promise.all([
    makeOciLayout(layout),
    start("token", { BERTH_AUTH_TOKEN_KEY: keyPem }),
    start("htpasswd", {}),
    startDockerd().then(
      (d) => void (dockerd = d),
      (e: unknown) => {
        if (!(e instanceof DockerdUnavailable)) throw e;
        dockerSkip = `docker tests skipped: ${e.message}`;
        console.warn(`[auth-clients.test] ${dockerSkip}`);
      },
    ),
  ]);
  refs = Object.fromEntries(list.map((r) => [r.annotations?.["org.opencontainers.image.ref.name"] ?? "", r]));
  expect(refs.v1).toBeDefined();
});

afterAll(async () => {
  await Promise.all([inst.token?.berth.stop(), inst.htpasswd?.berth.stop(), dockerd?.stop()]);
  if (tmp) await unmountAndRemove(tmp);
});

// ---- the clients, per mode --------------------------------------------------------------------------------

function podmanFlags(dir: string): string[] {
  return [
    "--root", path.join(dir, "root"),
    "--runroot", path.join(dir, "rr"),
    "--storage-driver", "vfs",
    "--cgroup-manager", "cgroupfs",
    "--events-backend", "file",
    "--tmpdir", path.join(dir, "tmp"),
  ];
}

for (const mode of ["token", "htpasswd"] as const) {
  describe(`${mode} mode`, () => {
    const I = () => inst[mode]!;
    const repo = (what: string) => `team/${what}-${mode}-${RUN}`;
    const pub = `public/tool-${mode}-${RUN}`;
    const v1 = () => refs.v1!.digest;

    it("skopeo: copy --dest-creds pushes, --src-creds pulls back the same manifest; no creds on a private repository fails", async () => {
      const i = I();
      const r = repo("skopeo");
      await ok("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", "--preserve-digests", "--dest-creds", `alice:${PW.alice}`, `oci:${layout}:v1`, `docker://${i.host}/${r}:v1`], { i });
      expect(await headManifest(i, "bob", r, "v1")).toEqual([200, v1()]);
      const out = path.join(tmp, `skopeo-${mode}`);
      await ok("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false", "--src-creds", `bob:${PW.bob}`, `docker://${i.host}/${r}:v1`, `dir:${out}`], { i });
      expect(`sha256:${sha256(await readFile(path.join(out, "manifest.json")))}`).toBe(v1());
      // The same repository without credentials: refused (team/* has no anonymous read).
      const anon = await fails("skopeo", ["--insecure-policy", "inspect", "--tls-verify=false", "--raw", `docker://${i.host}/${r}:v1`], { i });
      expect(anon.stderr).toMatch(/unauthorized|authentication required/i);
      expect((await headManifest(i, null, r, "v1"))[0]).toBe(401);
      // Wrong password: refused too.
      const wrong = await fails("skopeo", ["--insecure-policy", "inspect", "--tls-verify=false", "--raw", "--creds", `bob:not-${PW.bob}`, `docker://${i.host}/${r}:v1`], { i });
      expect(wrong.stderr).toMatch(/unauthorized|authentication (required|failed)/i);
    });

    it("anonymous: skopeo pulls a public repository without credentials; its anonymous push fails (401)", async () => {
      const i = I();
      await ok("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", "--preserve-digests", "--dest-creds", `alice:${PW.alice}`, `oci:${layout}:v1`, `docker://${i.host}/${pub}:v1`], { i });
      const out = path.join(tmp, `anon-${mode}`);
      await ok("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false", "--src-no-creds", `docker://${i.host}/${pub}:v1`, `dir:${out}`], { i });
      expect(`sha256:${sha256(await readFile(path.join(out, "manifest.json")))}`).toBe(v1());
      // Anonymous push to the public repository: refused, and nothing tagged.
      const push = await fails("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-no-creds", `oci:${layout}:v1`, `docker://${i.host}/${pub}:anon`], { i });
      expect(push.stderr).toMatch(/unauthorized|authentication required/i);
      expect(await rawPushStart(i, null, pub)).toEqual(refusedPush(i, null, pub));
      expect((await headManifest(i, null, pub, "anon"))[0]).toBe(404);
      expect(await headManifest(i, null, pub, "v1")).toEqual([200, v1()]);
    });

    it("a user without create rights (carol on team/*) is refused: skopeo exits non-zero, Berth answered 403 DENIED", async () => {
      const i = I();
      const r = repo("refused");
      const push = await fails("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds", `carol:${PW.carol}`, `oci:${layout}:v1`, `docker://${i.host}/${r}:v1`], { i });
      expect(push.stderr).toMatch(/denied/i);
      expect(await rawPushStart(i, "carol", r)).toEqual(refusedPush(i, "carol", r));
      expect((await headManifest(i, "alice", r, "v1"))[0]).toBe(404);
    });

    it("podman: login --tls-verify=false into a temp authfile, push, pull back; a refused push fails", async () => {
      const i = I();
      const dir = path.join(tmp, `p-${mode[0]}`);
      const P = podmanFlags(dir);
      const authfile = path.join(dir, "auth.json");
      const env = { REGISTRY_AUTH_FILE: authfile };
      await mkdir(dir, { recursive: true });
      const bad = await fails("podman", [...P, "login", "--tls-verify=false", "--authfile", authfile, "-u", "bob", "--password-stdin", i.host], { env, input: `not-${PW.bob}\n`, i });
      expect(bad.stderr + bad.stdout).toMatch(/unauthorized|authentication|invalid username\/password/i);
      const login = await ok("podman", [...P, "login", "--tls-verify=false", "--authfile", authfile, "-u", "bob", "--password-stdin", i.host], { env, input: `${PW.bob}\n`, i });
      expect(login.stdout).toMatch(/Login Succeeded/);
      const stored = JSON.parse(await readFile(authfile, "utf8")) as { auths: Record<string, { auth?: string }> };
      expect(Buffer.from(stored.auths[i.host]?.auth ?? "", "base64").toString()).toBe(`bob:${PW.bob}`);

      const r = repo("podman");
      const local = `localhost/auth-${mode}-${RUN}:v1`;
      await ok("podman", [...P, "pull", `oci:${layout}:v1`], { env, i });
      const id = (await ok("podman", [...P, "images", "--quiet", "--no-trunc"], { env })).stdout.trim().split("\n")[0]!;
      await ok("podman", [...P, "tag", id, local], { env });
      const digestFile = path.join(dir, "push.digest");
      await ok("podman", [...P, "push", "--tls-verify=false", "--authfile", authfile, "--digestfile", digestFile, local, `docker://${i.host}/${r}:v1`], { env, i });
      const pushed = (await readFile(digestFile, "utf8")).trim();
      expect(await headManifest(i, "alice", r, "v1")).toEqual([200, pushed]);

      await ok("podman", [...P, "rmi", "--all", "--force"], { env });
      const remote = `${i.host}/${r}:v1`;
      await ok("podman", [...P, "pull", "--tls-verify=false", "--authfile", authfile, remote], { env, i });
      const digest = (await ok("podman", [...P, "image", "inspect", "--format", "{{.Digest}}", remote], { env })).stdout.trim();
      expect(digest).toBe(pushed);

      // Logged in as carol: push to team/* refused; pulls still fine.
      const carolAuth = path.join(dir, "carol.json");
      await ok("podman", [...P, "login", "--tls-verify=false", "--authfile", carolAuth, "-u", "carol", "--password-stdin", i.host], { env, input: `${PW.carol}\n`, i });
      const refused = await fails("podman", [...P, "push", "--tls-verify=false", "--authfile", carolAuth, remote, `docker://${i.host}/${r}:carol`], { env, i });
      expect(refused.stderr).toMatch(/denied/i);
      expect((await headManifest(i, "alice", r, "carol"))[0]).toBe(404);
      await ok("podman", [...P, "pull", "--tls-verify=false", "--authfile", carolAuth, remote], { env, i });
    });

    it("docker: login with a temp DOCKER_CONFIG, push, rmi, pull; anonymous pull of public/**; carol's push refused", async (ctx) => {
      if (!dockerd) return ctx.skip(dockerSkip);
      const i = I();
      const dir = path.join(tmp, `docker-${mode}`);
      await mkdir(path.join(dir, "ctx"), { recursive: true });
      const config = (who: string) => ({ ...dockerd!.env, DOCKER_CONFIG: path.join(dir, `config-${who}`) });
      const docker = (who: string, args: string[], input?: string) => ok("docker", args, { env: config(who), input, i });

      const bad = await fails("docker", ["login", i.host, "-u", "alice", "--password-stdin"], { env: config("bad"), input: `not-${PW.alice}\n`, i });
      expect(bad.stderr).toMatch(/unauthorized|authentication/i);
      const login = await docker("alice", ["login", i.host, "-u", "alice", "--password-stdin"], `${PW.alice}\n`);
      expect(login.stdout).toMatch(/Login Succeeded/);
      const cfg = await readFile(path.join(config("alice").DOCKER_CONFIG, "config.json"), "utf8");
      const entry = (JSON.parse(cfg) as { auths: Record<string, { auth?: string; identitytoken?: string }> }).auths[i.host];
      if (mode === "token") {
        // The token flow's login keeps a refresh token (identity token), not the password.
        expect(entry?.identitytoken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
        expect(cfg).not.toContain(Buffer.from(`alice:${PW.alice}`).toString("base64"));
      } else {
        expect(Buffer.from(entry?.auth ?? "", "base64").toString()).toBe(`alice:${PW.alice}`);
      }

      const hello = `hello from docker, ${mode} mode, ${RUN}\n`;
      await writeFile(path.join(dir, "ctx", "hello.txt"), hello);
      await writeFile(path.join(dir, "ctx", "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
      const r = repo("docker");
      const image = `${i.host}/${r}:v1`;
      await ok("docker", ["build", "-q", "-t", image, path.join(dir, "ctx")], { env: { ...config("alice"), DOCKER_BUILDKIT: "0" }, i });
      const push = await docker("alice", ["push", image]);
      const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      expect(pushed, push.stdout).toBeTruthy();
      expect(await headManifest(i, "bob", r, "v1")).toEqual([200, pushed!]);

      await docker("alice", ["rmi", image]);
      const pull = await docker("alice", ["pull", image]);
      expect(pull.stdout).toContain(`Digest: ${pushed}`);

      // Anonymous (a config without logins): in token mode a public image pulls (docker fetches an anonymous
      // token), a team one does not. In htpasswd mode docker never pulls anonymously: after a Basic challenge
      // it refuses to send a request without credentials ("no basic auth credentials"), whatever the policy;
      // skopeo and podman do (see the anonymous test above).
      const pubImage = `${i.host}/${pub}:docker`;
      await docker("alice", ["tag", image, pubImage]);
      await docker("alice", ["push", pubImage]);
      await docker("alice", ["rmi", pubImage, image]);
      if (mode === "token") {
        const anonPull = await docker("anon", ["pull", pubImage]);
        expect(anonPull.stdout).toContain(`Digest: ${pushed}`);
      } else {
        const anonPull = await fails("docker", ["pull", pubImage], { env: config("anon"), i });
        expect(anonPull.stderr).toContain("no basic auth credentials");
        expect(await headManifest(i, null, pub, "docker")).toEqual([200, pushed!]);
      }
      const anonTeam = await fails("docker", ["pull", image], { env: config("anon"), i });
      expect(anonTeam.stderr).toMatch(/unauthorized|authentication required|no basic auth credentials/i);

      // carol may pull team/* but not push there: docker says denied, Berth answered 403 DENIED.
      await docker("carol", ["login", i.host, "-u", "carol", "--password-stdin"], `${PW.carol}\n`);
      await docker("carol", ["pull", image]);
      const carolImage = `${i.host}/${r}:carol`;
      await docker("carol", ["tag", image, carolImage]);
      const refused = await fails("docker", ["push", carolImage], { env: config("carol"), i });
      expect(refused.stderr + refused.stdout).toMatch(/denied/i);
      expect(await rawPushStart(i, "carol", r)).toEqual(refusedPush(i, "carol", r));
      expect((await headManifest(i, "alice", r, "carol"))[0]).toBe(404);
    });

    it("berth push --creds pushes through the mode's auth; wrong credentials fail with exit 1", async () => {
      const i = I();
      const r = repo("berth");
      const cli = path.join(PROJECT_ROOT, "bin/berth.mjs");
      const push = await run(process.execPath, [cli, "push", "-q", "--creds", `bob:${PW.bob}`, `oci:${layout}:v1`, `${i.host}/${r}:1`], { timeoutMs: STEP_MS });
      expect(push.code, push.stderr + tail(i)).toBe(0);
      expect(push.stdout.trim()).toBe(`${i.host}/${r}:1@${v1()}`);
      expect(await headManifest(i, "carol", r, "1")).toEqual([200, v1()]);
      const wrong = await run(process.execPath, [cli, "push", "-q", "--creds", `bob:not-${PW.bob}`, `oci:${layout}:v1`, `${i.host}/${r}:2`], { timeoutMs: STEP_MS });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/401/);
      expect(wrong.stderr).not.toContain(PW.bob);
      const carol = await run(process.execPath, [cli, "push", "-q", "--creds", `carol:${PW.carol}`, `oci:${layout}:v1`, `${i.host}/${r}:3`], { timeoutMs: STEP_MS });
      expect(carol.code).toBe(1);
      expect(carol.stderr).toMatch(/403|DENIED/);
      expect((await headManifest(i, "alice", r, "2"))[0]).toBe(404);
      expect((await headManifest(i, "alice", r, "3"))[0]).toBe(404);
    });
  });
}

describe("secrets", () => {
  it("no Berth log line holds a password or a Basic credential, after its own requests and all the clients above", async () => {
    // Requests of its own, so the check has material whether or not the client tests ran: every user starts a
    // push (allowed or refused) and reads a manifest on both instances, with their credentials.
    for (const i of [inst.token!, inst.htpasswd!]) {
      for (const user of Object.keys(PW) as User[]) {
        const r = `team/secrets-${i.mode}-${RUN}`;
        await rawPushStart(i, user, r);
        await headManifest(i, user, r, "v1");
      }
    }
    await new Promise((r) => setTimeout(r, 500)); // let wrangler flush its request log lines
    for (const i of [inst.token!, inst.htpasswd!]) {
      const log = i.berth.logs();
      expect(log).toMatch(/\[wrangler:info\] (PUT|POST|PATCH) \/v2\//);
      for (const [u, p] of Object.entries(PW)) {
        expect(log, i.mode).not.toContain(p);
        expect(log, i.mode).not.toContain(Buffer.from(`${u}:${p}`).toString("base64"));
      }
      expect(log).not.toMatch(/authorization:|Bearer ey/i);
    }
  });
});
