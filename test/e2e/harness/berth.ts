// Starts the Berth Worker under `wrangler dev` for one e2e test file, wired to the run's Swift bucket,
// on free 127.0.0.1 ports with its own Durable Object storage, and stops it again (whole process group).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { cp, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inject } from "vitest";
import type {} from "./global-setup.js"; // brings the ProvidedContext["s3"] declaration into scope
import { freePort } from "./ports.js";
import { PROJECT_ROOT, watchChild } from "./tools.js";

export interface Berth {
  /** Base URL, e.g. http://127.0.0.1:23456 (no trailing slash). */
  url: string;
  /** Kills wrangler and its workerd children and waits until they are gone. Idempotent. */
  stop(): Promise<void>;
  /** The last ~200 KB of wrangler's stdout+stderr (secret key redacted), for failure messages. */
  logs(): string;
  /**
   * Makes wrangler reload the Worker (as after an edit): every Durable Object loses what it held in memory and
   * keeps its storage, as when Cloudflare evicts an idle object. Resolves once the new Worker answers.
   */
  reload(): Promise<void>;
  /** wrangler's --persist-to directory (Durable Object storage lives under v3/do/). */
  stateDir: string;
}

const LOG_LIMIT = 200 * 1024;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

// wrangler runs in its own process group (so stop() can kill workerd too), which also means a Ctrl-C
// or a dying test worker doesn't reach it. Anything still live is killed, and its temp dir removed, when
// this process exits or is told to stop by a signal.
const live = new Map<ChildProcess, string>(); // child -> temp dir
function killAllLive(): void {
  for (const [child, tmp] of live) {
    killGroup(child, "SIGKILL");
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // best effort while exiting
    }
  }
  live.clear();
}
process.once("exit", killAllLive);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    killAllLive();
    // Restore the default (die by this signal) unless someone else, e.g. vitest, handles it.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // detached => the child leads its own process group (wrangler + workerd)
  } catch {
    // group already gone
  }
}

/**
 * Whether any process of group `pgid` is still running. Zombies don't count: once wrangler exits, its
 * killed workerd children are reaped by PID 1, which in some containers happens seconds later, and
 * kill(-pgid, 0) would report them alive until then. Reads /proc (Linux); elsewhere falls back to kill 0.
 */
function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses, so split after the last ")".
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `wrangler dev` for this project. Storage settings come from inject("s3") as REGISTRY_STORAGE_S3_*
 * vars plus REGISTRY_AUTH=none; `vars` are applied last and override them. Resolves once GET /v2/ gets any
 * HTTP answer; throws (with the logs) if that takes more than 60 s or wrangler exits.
 */
export async function startBerth(vars: Record<string, string> = {}): Promise<Berth> {
  const s3 = inject("s3");
  const allVars: Record<string, string> = {
    REGISTRY_STORAGE_S3_BUCKET: s3.bucket,
    REGISTRY_STORAGE_S3_REGION: s3.region,
    REGISTRY_STORAGE_S3_REGIONENDPOINT: s3.endpoint,
    REGISTRY_STORAGE_S3_ACCESSKEY: s3.accessKey,
    REGISTRY_STORAGE_S3_SECRETKEY: s3.secretKey,
    REGISTRY_AUTH: "none",
    ...vars,
  };
  const secrets = [allVars.REGISTRY_STORAGE_S3_SECRETKEY].filter((s): s is string => !!s && s.length >= 4);

  const tmp = await mkdtemp(path.join(os.tmpdir(), "berth-wrangler-"));
  // An explicit --env-file makes wrangler skip the project's .dev.vars and .env (measured with 4.164.0),
  // so a developer's own bucket settings never leak into tests. The file itself is empty.
  const emptyEnv = path.join(tmp, "empty.env");
  await writeFile(emptyEnv, "");
  const port = await freePort();
  let inspectorPort = await freePort();
  while (inspectorPort === port) inspectorPort = await freePort();

  // wrangler dev watches its sources and restarts the Worker on every change, failing requests in flight;
  // running it from a snapshot of src/ keeps a test run immune to edits made while it runs.
  const app = path.join(tmp, "app");
  await cp(path.join(PROJECT_ROOT, "src"), path.join(app, "src"), { recursive: true });
  await cp(path.join(PROJECT_ROOT, "wrangler.toml"), path.join(app, "wrangler.toml"));
  await cp(path.join(PROJECT_ROOT, "package.json"), path.join(app, "package.json"));
  await symlink(path.join(PROJECT_ROOT, "node_modules"), path.join(app, "node_modules"));

  const args = [
    path.join(PROJECT_ROOT, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--config", path.join(app, "wrangler.toml"),
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-ip", "127.0.0.1",
    "--inspector-port", String(inspectorPort),
    "--persist-to", path.join(tmp, "state"),
    "--show-interactive-dev-session=false",
    "--env-file", emptyEnv,
  ];
  for (const [k, v] of Object.entries(allVars)) args.push("--var", `${k}:${v}`);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CI: "true",
    // Node 22 (this process: vitest requires it) first on PATH for anything wrangler spawns.
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
  };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV; // would copy this process's environment into the Worker's env

  // process.execPath + wrangler.js rather than the .bin shim: guarantees Node 22 whatever PATH says.
  const child = spawn(process.execPath, args, {
    cwd: app,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.set(child, tmp);

  const watch = watchChild(child, "wrangler", secrets, LOG_LIMIT);
  const logs = watch.logs;
  const exitPromise = watch.exit;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const pid = child.pid;
      if (!watch.exited) killGroup(child, "SIGTERM");
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      // Wait for wrangler and every process of its group (workerd holds the port), SIGKILL when slow.
      while (pid !== undefined && (!watch.exited || groupAlive(pid)) && Date.now() < deadline) await sleep(50);
      if (pid !== undefined && (!watch.exited || groupAlive(pid))) {
        killGroup(child, "SIGKILL");
        await Promise.race([exitPromise, sleep(2000)]);
        const killDeadline = Date.now() + 3000;
        while (groupAlive(pid) && Date.now() < killDeadline) await sleep(50);
      }
      live.delete(child);
      await rm(tmp, { recursive: true, force: true });
    })();
    return stopped;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (watch.exited) {
      await stop();
      throw new Error(`wrangler dev exited before answering GET /v2/\n${logs()}`);
    }
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      break; // any HTTP status: the Worker is up
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer GET /v2/ within ${READY_TIMEOUT_MS / 1000} s\n${logs()}`);
    }
    await sleep(200);
  }
  let reloads = 0;
  const reload = async (): Promise<void> => {
    const readyBefore = countReady(logs());
    const entry = path.join(app, "src", "index.ts");
    await writeFile(entry, `${readFileSync(entry, "utf8")}\n// reload ${++reloads}\n`);
    const until = Date.now() + READY_TIMEOUT_MS;
    while (countReady(logs()) <= readyBefore) {
      if (watch.exited) throw new Error(`wrangler dev exited while reloading\n${logs()}`);
      if (Date.now() > until) throw new Error(`wrangler dev did not reload within ${READY_TIMEOUT_MS / 1000} s\n${logs()}`);
      await sleep(100);
    }
  };
  return { url, stop, logs, reload, stateDir: path.join(tmp, "state") };
}

/** wrangler prints one "Ready on …" at start and one "updated and ready" line per reload. */
function countReady(log: string): number {
  return (log.match(/Ready on |updated and ready/g) ?? []).length;
}
