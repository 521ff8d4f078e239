// Helpers for test/e2e/mirror-clients.test.ts (real clients through Berth's pull-through cache):
// - an HTTP/1.1 proxy on 127.0.0.1 that records every request it passes on (method, path, status, the
//   OCI-Namespace header of the answer), put in front of an upstream to count its blob GETs and in front of
//   Berth to see what it answered containerd;
// - a private containerd (Debian's 1.6) with its root, state and sockets in a temp dir, driven with `ctr`;
// - a blob pushed straight into an upstream (Basic for Distribution, a token from Berth's /token endpoint).
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { unmountAndRemove } from "../harness/dockerd.js";
import { recordingProxy as recordingProxyOf, type Proxy } from "./proxy.js";
import { run, type RunResult } from "../harness/tools.js";

/** One request the proxy passed on. */
export interface Passed {
  method: string;
  path: string;
  status?: number;
  /** The answer's OCI-Namespace header. */
  namespace?: string;
}

export type RecordingProxy = Proxy<Passed>;

/** A proxy to `target` recording each request's method, path, status and the answer's OCI-Namespace. */
export function recordingProxy(target: string | (() => string)): Promise<RecordingProxy> {
  return recordingProxyOf(target, (req): Passed => ({ method: req.method ?? "", path: req.url ?? "" }), {
    maxSockets: 64,
    timeoutMs: 300_000,
    answered: (rec, res) => {
      const ns = res.headers["oci-namespace"];
      if (typeof ns === "string") rec.namespace = ns;
    },
  });
}

export interface Containerd {
  /** Runs `ctr --address <sock> --namespace berth <args>` (bounded). */
  ctr(args: string[], timeoutMs?: number): Promise<RunResult>;
  logs(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** containerd cannot run on this machine (not a bug in Berth): the test skips and prints `message`. */
export class ContainerdUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContainerdUnavailable";
  }
}

/**
 * Starts containerd with a config of its own (no CRI plugin, no snapshotters that need kernel features it may
 * lack) and resolves once `ctr version` answers (bounded: 30 s). Throws ContainerdUnavailable when it cannot
 * run here (not root, or it exits during start-up), a plain Error when it hangs.
 */
export async function startContainerd(): Promise<Containerd> {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new ContainerdUnavailable(`containerd needs root (uid is ${process.getuid()}): it mounts snapshots and owns its state directories`);
  }
  // Short: the gRPC socket path must stay under 108 bytes.
  const dir = await mkdtemp(path.join(existsSync("/tmp") ? "/tmp" : os.tmpdir(), "bmc-"));
  const sock = path.join(dir, "c.sock");
  const config = path.join(dir, "config.toml");
  const logFile = path.join(dir, "containerd.log");
  await writeFile(
    config,
    [
      "version = 2",
      `root = ${JSON.stringify(path.join(dir, "root"))}`,
      `state = ${JSON.stringify(path.join(dir, "state"))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      "[grpc]",
      `  address = ${JSON.stringify(sock)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
      "[debug]",
      '  address = ""',
      "[metrics]",
      '  address = ""',
      "",
    ].join("\n"),
  );
  const fd = openSync(logFile, "a");
  const child = spawn("containerd", ["--config", config], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `code ${code}, signal ${signal}`));
  child.once("error", (e) => (exited = `spawn error: ${e.message}`));
  const logs = () => {
    try {
      return readFileSync(logFile, "utf8").slice(-6000);
    } catch {
      return "(no containerd log)";
    }
  };
  const ctr = (args: string[], timeoutMs = 180_000) => run("ctr", ["--address", sock, "--namespace", "berth", ...args], { timeoutMs });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (exited === undefined) child.kill("SIGTERM");
      for (let i = 0; i < 100 && exited === undefined; i++) await sleep(100);
      if (exited === undefined) child.kill("SIGKILL");
      for (let i = 0; i < 30 && exited === undefined; i++) await sleep(100);
      await unmountAndRemove(dir).catch(() => undefined);
    })());
  for (let i = 0; ; i++) {
    if (exited !== undefined) {
      const tail = logs();
      await stop();
      throw new ContainerdUnavailable(`containerd exited during start-up (${exited}); its log ends with:\n${tail}`);
    }
    if ((await ctr(["version"], 10_000)).code === 0) break;
    if (i >= 150) {
      const tail = logs();
      await stop();
      throw new Error(`containerd did not answer \`ctr version\` within 30 s:\n${tail}`);
    }
    await sleep(200);
  }
  return { ctr, logs, stop };
}

/**
 * Pushes `bytes` as a blob of `repo` straight into an upstream registry (POST, then PUT with the digest):
 * `auth` is the Authorization header to send (Basic for Distribution, a Bearer token for Berth in token mode).
 */
export async function pushUpstreamBlob(base: string, repo: string, digest: string, bytes: Uint8Array, auth: string): Promise<void> {
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { Authorization: auth }, signal: AbortSignal.timeout(30_000) });
  await post.arrayBuffer();
  if (post.status !== 202) throw new Error(`POST of an upload to ${base}/v2/${repo}: HTTP ${post.status}`);
  const location = new URL(post.headers.get("Location")!, base);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { Authorization: auth, "Content-Type": "application/octet-stream" },
    body: bytes,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`PUT of blob ${digest} to ${base}/v2/${repo}: HTTP ${put.status} ${text.slice(0, 300)}`);
}

/** A token for `scope` from a Berth's /token endpoint at `realm` (token mode), as a client with Basic credentials gets one. */
export async function berthToken(realm: string, service: string, basic: string, scope: string): Promise<string> {
  const q = new URLSearchParams({ service, scope });
  const res = await fetch(`${realm}?${q}`, { headers: { Authorization: basic }, signal: AbortSignal.timeout(30_000) });
  if (res.status !== 200) throw new Error(`token for ${scope}: HTTP ${res.status}`);
  return `Bearer ${((await res.json()) as { token: string }).token}`;
}
