// Starts CNCF Distribution 2.8 (Debian's `docker-registry serve`) as a reference registry for one e2e test
// file: on a free 127.0.0.1 port, with a config written to a temp dir whose S3 driver points at the run's
// Swift bucket (from inject("s3")) under a given rootdirectory, so Berth and Distribution can share it, or,
// as an upstream of Berth's pull-through cache, on its own filesystem storage and with htpasswd auth; and
// the parse of what its `garbage-collect` prints.
// Never the packaged service or /etc/docker/registry/config.yml (all interfaces, htpasswd).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inject } from "vitest";
import type {} from "./global-setup.js"; // brings the ProvidedContext["s3"] declaration into scope
import { waitForHttp } from "../../../scripts/lib/stack.mjs";
import { freePort } from "./ports.js";
import { run, watchChild, type RunResult } from "./tools.js";

export interface Distribution {
  /** Base URL, e.g. http://127.0.0.1:23456 (no trailing slash). */
  url: string;
  /** The config file it runs with (also valid for `docker-registry garbage-collect`). */
  configPath: string;
  /** `docker-registry garbage-collect [args] CONFIG` on the same config, same environment; bounded. */
  garbageCollect(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The last ~200 KB of its stdout+stderr (secret key redacted). */
  logs(): string;
  /** Kills it (SIGTERM, SIGKILL after 5 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface DistributionOptions {
  /** S3 key prefix shared with Berth (REGISTRY_STORAGE_S3_ROOTDIRECTORY), e.g. "interop-1a2b3c". */
  rootdirectory: string;
  /** storage.redirect.disable (default false: blob GET/HEAD answer 307 to presigned S3 URLs). */
  redirectDisable?: boolean;
  /** Keep the content on the local filesystem (in its temp dir) instead of the S3 bucket: an unrelated upstream. */
  filesystem?: boolean;
  /** Contents of an htpasswd file (bcrypt entries): HTTP Basic auth on every request. */
  htpasswd?: string;
}

const BINARY = "docker-registry";
const LOG_LIMIT = 200 * 1024;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * The environment Distribution runs in: this process's, without AWS_CA_BUNDLE. With AWS_CA_BUNDLE set (the
 * test machines export it) the 2.8 S3 driver panics at start: "LoadCustomCABundleError … HTTPClient's
 * transport unsupported type".
 */
export function distributionEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.AWS_CA_BUNDLE;
  return env;
}

const live = new Map<ChildProcess, string>(); // child -> temp dir
process.once("exit", () => {
  for (const [child, tmp] of live) {
    child.kill("SIGKILL");
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // best effort while exiting
    }
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A YAML scalar: JSON strings are valid YAML, and quoting keeps "test:tester" and "/" literal. */
const q = (s: string) => JSON.stringify(s);

function configYaml(port: number, opts: DistributionOptions, tmp: string): string {
  const s3 = inject("s3");
  const storage = opts.filesystem
    ? ["  filesystem:", `    rootdirectory: ${q(path.join(tmp, "data"))}`]
    : [
        "  s3:",
        `    accesskey: ${q(s3.accessKey)}`,
        `    secretkey: ${q(s3.secretKey)}`,
        `    region: ${q(s3.region)}`,
        `    regionendpoint: ${q(s3.endpoint)}`,
        `    bucket: ${q(s3.bucket)}`,
        "    secure: false",
        "    v4auth: true",
        "    chunksize: 5242880",
        `    rootdirectory: ${q("/" + opts.rootdirectory.replace(/^\/+/, ""))}`,
      ];
  const auth = opts.htpasswd === undefined ? [] : ["auth:", "  htpasswd:", "    realm: upstream", `    path: ${q(path.join(tmp, "htpasswd"))}`];
  return [
    "version: 0.1",
    "log:",
    "  level: info",
    "  fields: {service: registry}",
    ...auth,
    "storage:",
    ...storage,
    "  redirect:",
    `    disable: ${opts.redirectDisable ? "true" : "false"}`,
    "  delete:",
    "    enabled: true",
    // No blob descriptor cache: Berth changes the bucket behind Distribution's back (e.g. deletes a
    // manifest), and an in-memory cache would keep answering from what it saw before.
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${q(randomBytes(16).toString("hex"))}`,
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
    "",
  ].join("\n");
}

/**
 * Starts `docker-registry serve CONFIG` and resolves once GET /v2/ answers 200 (bounded: 30 s); throws with
 * its logs otherwise. Retries with another port (3 tries) when the probed free port was taken meanwhile.
 */
export async function startDistribution(opts: DistributionOptions): Promise<Distribution> {
  const s3 = inject("s3");
  const secrets = [s3.secretKey].filter((s) => s.length >= 4);
  const tmp = await mkdtemp(path.join(os.tmpdir(), "berth-distribution-"));
  const configPath = path.join(tmp, "config.yml");
  let lastError = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    await writeFile(configPath, configYaml(port, opts, tmp));
    if (opts.htpasswd !== undefined) await writeFile(path.join(tmp, "htpasswd"), opts.htpasswd);
    try {
      return await launch(port, configPath, tmp, secrets, opts.htpasswd === undefined ? 200 : 401);
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      if (!/address already in use/i.test(lastError)) break;
    }
  }
  await rm(tmp, { recursive: true, force: true });
  throw new Error(lastError);
}

async function launch(port: number, configPath: string, tmp: string, secrets: string[], ready: number): Promise<Distribution> {
  const child = spawn(BINARY, ["serve", configPath], { env: distributionEnv(), stdio: ["ignore", "pipe", "pipe"] });
  live.set(child, tmp);
  const watch = watchChild(child, "docker-registry", secrets, LOG_LIMIT);
  const logs = watch.logs;
  const exitPromise = watch.exit;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (!watch.exited) child.kill("SIGTERM");
      await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS)]);
      if (!watch.exited && !watch.spawnError) {
        child.kill("SIGKILL");
        await Promise.race([exitPromise, sleep(2000)]);
      }
      live.delete(child);
      await rm(tmp, { recursive: true, force: true });
    })();
    return stopped;
  };

  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, { status: ready, timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, exited: () => watch.exited, what: "docker-registry serve" });
  } catch (e) {
    await stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}${watch.spawnError ? ` (${watch.spawnError})` : ""}\n${logs()}`);
  }

  const garbageCollect = (args: readonly string[], timeoutMs = 120_000) =>
    run(BINARY, ["garbage-collect", ...args, configPath], { timeoutMs, env: { AWS_CA_BUNDLE: undefined } });

  return { url, configPath, garbageCollect, logs, stop };
}

/** What `docker-registry garbage-collect` printed (2.8's registry/storage/garbagecollect.go lines). */
export interface GarbageCollectOutput {
  /** Repository -> digests marked under it ("<repo>: marking manifest|blob <digest>"). */
  marked: Map<string, Set<string>>;
  /** Every digest marked, in any repository. */
  allMarked: Set<string>;
  /** "blob eligible for deletion: <digest>". */
  eligibleBlobs: Set<string>;
  /** "manifest eligible for deletion: <digest>" (with --delete-untagged; 2.8 does not name the repository). */
  eligibleManifests: string[];
  /** "<n> blobs marked, <n> blobs and <n> manifests eligible for deletion", null when missing. */
  summary: { marked: number; blobs: number; manifests: number } | null;
}

export function parseGarbageCollect(out: string): GarbageCollectOutput {
  const marked = new Map<string, Set<string>>();
  const allMarked = new Set<string>();
  for (const m of out.matchAll(/^(\S+): marking (?:manifest|blob|configuration) (sha256:[0-9a-f]{64})\s*$/gm)) {
    if (!marked.has(m[1]!)) marked.set(m[1]!, new Set());
    marked.get(m[1]!)!.add(m[2]!);
    allMarked.add(m[2]!);
  }
  const eligibleBlobs = new Set([...out.matchAll(/^blob eligible for deletion: (sha256:[0-9a-f]{64})\s*$/gm)].map((m) => m[1]!));
  const eligibleManifests = [...out.matchAll(/^manifest eligible for deletion: (sha256:[0-9a-f]{64})\s*$/gm)].map((m) => m[1]!);
  const s = /^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion/m.exec(out);
  const summary = s ? { marked: Number(s[1]), blobs: Number(s[2]), manifests: Number(s[3]) } : null;
  return { marked, allMarked, eligibleBlobs, eligibleManifests, summary };
}
