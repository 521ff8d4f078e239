// Starts CNCF Distribution 2.8 (Debian's `docker-registry serve`) for the benchmark: 127.0.0.1 only, a config
// written to a temp dir, S3 driver on the counting proxy's port, same bucket as Berth, its own rootdirectory,
// redirects on, chunksize 10 MiB (its default), in-memory blob descriptor cache (the packaged default),
// upload purging and the access log off (no background S3 walks, no per-request logging during measurements);
// and its `garbage-collect` command with such a config. For the pull-through scenario also: filesystem storage
// (the upstream registry) and proxy mode (`proxy.remoteurl`, what REGISTRY_PROXY_REMOTEURL sets).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { waitForHttp } from "../../scripts/lib/stack.mjs";
import { freePortBlock, onCleanup, run, stopGroup, waitPortFree, type RunResult } from "./proc.ts";

export interface Distribution {
  url: string;
  /** docker-registry's PID (changes on restart). */
  pid(): number;
  logs(): string;
  /** Stops it and starts it again with the same config (same port, fresh in-memory cache). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface DistributionOptions {
  /** S3 storage (every registry under measurement); without it, `filesystem`. */
  s3?: { endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
  rootdirectory: string;
  chunkSize?: number;
  /** Filesystem storage in this directory (the pull-through scenario's upstream, which is not measured). */
  filesystem?: string;
  /** Proxy mode: a pull-through cache of this registry; Distribution then refuses pushes. */
  proxyRemoteUrl?: string;
}

const q = (s: string) => JSON.stringify(s); // JSON strings are valid YAML scalars

function storage(o: DistributionOptions): string[] {
  if (!o.s3) {
    if (!o.filesystem) throw new Error("startDistribution: needs s3 or filesystem storage");
    return ["  filesystem:", `    rootdirectory: ${q(o.filesystem)}`];
  }
  return [
    "  s3:",
    `    accesskey: ${q(o.s3.accessKey)}`,
    `    secretkey: ${q(o.s3.secretKey)}`,
    `    region: ${q(o.s3.region)}`,
    `    regionendpoint: ${q(o.s3.endpoint)}`,
    `    bucket: ${q(o.s3.bucket)}`,
    "    secure: false",
    "    v4auth: true",
    `    chunksize: ${o.chunkSize ?? 10 * 1024 * 1024}`,
    `    rootdirectory: ${q("/" + o.rootdirectory.replace(/^\/+/, ""))}`,
  ];
}

function config(port: number, o: DistributionOptions): string {
  return [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog: {disabled: true}",
    "  fields: {service: registry}",
    "storage:",
    ...storage(o),
    "  redirect: {disable: false}",
    "  delete: {enabled: true}",
    "  cache: {blobdescriptor: inmemory}",
    "  maintenance:",
    "    uploadpurging: {enabled: false}",
    ...(o.proxyRemoteUrl ? ["proxy:", `  remoteurl: ${q(o.proxyRemoteUrl)}`] : []),
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${q(randomBytes(16).toString("hex"))}`,
    "",
  ].join("\n");
}

/**
 * `docker-registry garbage-collect [args] CONFIG` with a config for `o` (in a temp dir, removed afterwards);
 * its wall time is the command's, start-up included.
 */
export async function garbageCollect(o: DistributionOptions, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "berth-bench-gc-"));
  try {
    const cfg = path.join(tmp, "config.yml");
    await writeFile(cfg, config(0, o));
    // Without AWS_CA_BUNDLE, as `serve` below.
    return await run("docker-registry", ["garbage-collect", ...args, cfg], { timeoutMs, env: { AWS_CA_BUNDLE: undefined } });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function startDistribution(o: DistributionOptions): Promise<Distribution> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "berth-bench-distribution-"));
  const cfg = path.join(tmp, "config.yml");
  const port = await freePortBlock(1);
  await writeFile(cfg, config(port, o));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.AWS_CA_BUNDLE; // with it the 2.8 S3 driver panics at start (LoadCustomCABundleError)
  const url = `http://127.0.0.1:${port}`;
  let log = "";
  const append = (c: string) => {
    log = (log + (o.s3 ? c.split(o.s3.secretKey).join("***") : c)).slice(-200_000);
  };
  let pid = 0;

  const launch = async () => {
    const child = spawn("docker-registry", ["serve", cfg], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    pid = child.pid ?? 0;
    let exited = false;
    child.stdout.setEncoding("utf8").on("data", append);
    child.stderr.setEncoding("utf8").on("data", append);
    child.once("exit", (code, sig) => {
      exited = true;
      append(`\n[bench] docker-registry exited (code ${code}, signal ${sig})\n`);
    });
    child.once("error", (e) => {
      exited = true;
      append(`\n[bench] spawn error: ${e.message}\n`);
    });
    try {
      await waitForHttp(`${url}/v2/`, { status: 200, timeoutMs: 30_000, intervalMs: 100, exited: () => exited, what: "docker-registry" });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${log.slice(-5000)}`);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      unregister();
      await stopGroup(pid, 5000);
      await rm(tmp, { recursive: true, force: true });
    })());
  const unregister = onCleanup(stop);
  try {
    await launch();
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    pid: () => pid,
    logs: () => log,
    restart: async () => {
      await stopGroup(pid, 5000);
      await waitPortFree(port);
      await launch();
    },
    stop,
  };
}
