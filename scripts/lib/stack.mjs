// The local stack, started one way for everyone: `npm start` (scripts/start.mjs), the e2e harness
// (test/e2e/harness/) and the benchmark (bench/lib/). OpenStack Swift with s3api (scripts/swift-up.sh) on
// 127.0.0.1, a bucket on it, and `wrangler dev` wired to it, plus the plumbing they share: free 127.0.0.1
// ports, bounded child processes, process-group kills, /proc readings, HTTP ready polling.
//
// Plain JavaScript (Node >= 22) so that a script, vitest and Node's type stripping can all import it; the
// types are in stack.d.mts. Everything listens on 127.0.0.1 only, every wait is bounded, every process we
// start is stopped by its process group (wrangler + workerd) or its PID file (Swift), and values of secrets
// never reach a log this module keeps.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AwsClient } from "aws4fetch";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** scripts/swift-up.sh's tempauth user: local test credentials, not secrets (still never printed). */
export const SWIFT_ACCESS_KEY = "test:tester";
export const SWIFT_SECRET_KEY = "testing";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// Ports

/** True when nothing listens on 127.0.0.1:port (we could bind it ourselves just now). */
export function isPortFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// Below Linux's default ephemeral range (32768-60999), so outgoing connections of other processes are
// unlikely to grab a port between our probe and the server's bind.
const PORT_LOW = 20000;
const PORT_HIGH = 32000;

/**
 * The first of `count` consecutive free ports, chosen at random in 20000-32000 (random, so parallel runs
 * don't race for the same numbers), none of them in `avoid`. Bounded: gives up after 200 attempts.
 */
export async function freePortBlock(count = 1, avoid = []) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = !avoid.includes(base + i) && (await isPortFree(base + i));
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found on 127.0.0.1 in ${PORT_LOW}-${PORT_HIGH}`);
}

/** One free port (not in `avoid`). */
export function freePort(avoid = []) {
  return freePortBlock(1, avoid);
}

/** `preferred` if it and the next count-1 ports are free (and not in `avoid`), else a random free block. */
export async function pickPorts(preferred, count = 1, avoid = []) {
  let ok = true;
  for (let i = 0; i < count && ok; i++) ok = !avoid.includes(preferred + i) && (await isPortFree(preferred + i));
  return ok ? preferred : freePortBlock(count, avoid);
}

/** Waits (bounded) until nothing listens on 127.0.0.1:port any more, e.g. before restarting a server on it. */
export async function waitPortFree(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await isPortFree(port)) && Date.now() < deadline) await sleep(100);
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

const MAX_CAPTURE = 8 << 20; // a tool gone wild must not eat our memory: keep at most this of each stream
const SIGNO = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** process.env merged with `extra`; a key set to undefined is removed. */
function mergeEnv(extra = {}) {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs `cmd args` (never through a shell) and resolves with its exit code, output and wall time; a signal
 * death resolves with 128+signo like a shell. Rejects only on spawn failure, timeout or abort.
 */
export function run(cmd, args, opts) {
  const env = mergeEnv(opts.env);
  const inherit = opts.stdio === "inherit";
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env,
      stdio: inherit ? ["ignore", "inherit", "inherit"] : [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const cap = (s) => (s.length > MAX_CAPTURE ? s.slice(s.length - MAX_CAPTURE) : s);
    child.stdout?.setEncoding("utf8").on("data", (c) => (stdout = cap(stdout + c)));
    child.stderr?.setEncoding("utf8").on("data", (c) => (stderr = cap(stderr + c)));
    let why; // "timeout" | "abort"
    const kill = () => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    };
    const killer = setTimeout(() => {
      why = "timeout";
      kill();
    }, opts.timeoutMs);
    const onAbort = () => {
      why ??= "abort";
      kill();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const unregister = opts.register?.(() => void child.kill("SIGKILL"));
    const done = () => {
      clearTimeout(killer);
      opts.signal?.removeEventListener("abort", onAbort);
      unregister?.();
    };
    child.once("error", (e) => {
      done();
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      done();
      const ms = performance.now() - t0;
      if (why === "timeout") reject(new Error(`${cmd} ${args.join(" ")}: timed out after ${opts.timeoutMs} ms\n${stderr.slice(-4000)}`));
      else if (why === "abort") reject(abortError(opts.signal));
      else resolve({ code: code ?? 128 + (SIGNO[signal ?? ""] ?? 1), stdout, stderr, ms });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // EPIPE when the tool exits without reading: its exit code tells
      child.stdin.end(opts.input);
    }
  });
}

/** Like run(), but rejects (with the tail of its output) when the exit code is not 0. */
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr + r.stdout).slice(-4000)}`);
  }
  return r;
}

function abortError(signal) {
  const reason = signal?.reason;
  if (reason instanceof Error) return reason;
  const e = new Error("stopped");
  e.name = "AbortError";
  return e;
}

function throwIfAborted(signal) {
  if (signal?.aborted) throw abortError(signal);
}

// ---------------------------------------------------------------------------------------------------------
// /proc and process groups

/** `pid`'s comm, state and process group from /proc/<pid>/stat, or undefined when it is gone. */
export function procInfo(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses: split after the last ")".
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const [state, , pgrp] = stat.slice(close + 2).split(" ");
    return { pid, comm: stat.slice(open + 1, close), state: state ?? "?", pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/**
 * Live processes of group `pgid` (optionally only those whose comm starts with `comm`). Zombies don't count:
 * killed workerd processes are reaped by PID 1, which in some containers takes seconds, and hold no ports.
 */
export function groupProcs(pgid, comm) {
  const out = [];
  let entries = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const p = procInfo(Number(e));
    if (!p || p.pgrp !== pgid || p.state === "Z" || p.state === "X") continue;
    if (comm && !p.comm.startsWith(comm)) continue;
    out.push(p);
  }
  return out;
}

/** Whether a live (non-zombie) process of group `pgid` remains; without /proc, asks kill(-pgid, 0). */
export function groupAlive(pgid) {
  if (!pgid) return false;
  if (!existsSync("/proc/self/stat")) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return groupProcs(pgid).length > 0;
}

/** Signals a whole process group (a child spawned detached leads its own group). */
export function killGroup(pgid, signal) {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Stops group `pgid`: SIGTERM, up to `graceMs` for it to go, then SIGKILL and up to `killMs` more. */
export async function stopGroup(pgid, graceMs = 10_000, killMs = 3_000) {
  if (!pgid) return;
  killGroup(pgid, "SIGTERM");
  let deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (!groupAlive(pgid)) return;
  killGroup(pgid, "SIGKILL");
  deadline = Date.now() + killMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
}

// What this process started and has not stopped yet: killed (synchronously) when it exits, however it exits.
const liveGroups = new Set(); // pgids of wrangler dev
const liveSwifts = new Map(); // Swift state dir -> whether it is a temp dir (removed too)
const liveDirs = new Set(); // other temp dirs

/** Kills every process group (SIGKILL) and Swift (SIGTERM) this module started that still runs; removes their temp dirs. */
export function killAllSync() {
  for (const pgid of liveGroups) killGroup(pgid, "SIGKILL");
  liveGroups.clear();
  for (const [stateDir, temp] of liveSwifts) {
    killFromPidFiles(stateDir, "SIGTERM"); // Swift's servers exit on TERM; there is no time to wait here
    if (temp) rmQuiet(stateDir);
  }
  liveSwifts.clear();
  for (const dir of liveDirs) rmQuiet(dir);
  liveDirs.clear();
}
process.once("exit", killAllSync);

function rmQuiet(dir) {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort while exiting
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP readiness

/**
 * Polls GET `url` until it answers (with `status` if given, else any HTTP status), bounded by `timeoutMs`.
 * Throws early when `exited()` says the server died, and on abort. `what` names the server in errors.
 */
export async function waitForHttp(url, opts = {}) {
  const { timeoutMs = 60_000, intervalMs = 200, status, exited, what = url, signal } = opts;
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    throwIfAborted(signal);
    if (exited?.()) throw new Error(`${what} exited before GET ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000), redirect: "manual" });
      await res.body?.cancel();
      if (status === undefined || res.status === status) return;
      last = `HTTP ${res.status}`;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not answer GET ${url}${status === undefined ? "" : ` with ${status}`} within ${timeoutMs / 1000} s (${last})`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Logs

/** A function that masks each of `secrets` (values of at least 4 characters) in a string. */
export function redactor(secrets) {
  const list = [...new Set(secrets.filter((s) => typeof s === "string" && s.length >= 4))].sort((a, b) => b.length - a.length);
  return (text) => {
    for (const s of list) text = text.split(s).join("***");
    return text;
  };
}

/** A bounded in-memory log: the last `limit` characters appended, secrets masked as they arrive. */
export function logBuffer(secrets, limit = 200 * 1024) {
  const mask = redactor(secrets);
  let log = "";
  return {
    append(chunk) {
      log += mask(chunk);
      if (log.length > limit * 1.5) log = log.slice(log.length - limit);
    },
    text: () => (log.length > limit ? log.slice(log.length - limit) : log),
  };
}

/** Names of Worker settings whose values are secrets (masked in the logs wrangler writes to us). */
const SECRET_NAME = /SECRET|PASSWORD|HTPASSWD|TOKEN_KEY|PRIVATE/i;

// ---------------------------------------------------------------------------------------------------------
// System packages

/** scripts/install-deps.sh GROUP...: installs what is missing (apt, as root); throws with its message. */
export async function installDeps(groups, opts = {}) {
  const { stdio = "pipe", timeoutMs = 900_000, signal } = opts;
  const r = await run("bash", [path.join(PROJECT_ROOT, "scripts/install-deps.sh"), ...groups], { timeoutMs, stdio, signal });
  if (r.code !== 0) {
    throw new Error(`scripts/install-deps.sh ${groups.join(" ")} failed (exit ${r.code})${stdio === "inherit" ? " (see above)" : `:\n${(r.stderr + r.stdout).slice(-4000)}`}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Swift (S3)

/** Whether `dir` accepts user xattrs, which Swift's object server needs (tmpfs without user_xattr does not). */
export async function supportsUserXattr(dir) {
  const probe =
    "import os,sys,tempfile\nfd,p=tempfile.mkstemp(dir=sys.argv[1])\n" +
    "try:\n  os.setxattr(p,'user.berth.probe',b'1')\nfinally:\n  os.close(fd); os.unlink(p)\n";
  const r = await run("python3", ["-c", probe, dir], { timeoutMs: 10_000 }).catch(() => ({ code: 1 }));
  return r.code === 0;
}

/** A fresh temp dir named `prefix…` on a filesystem with user xattrs: the system temp dir, else .berth/tmp. */
export async function makeXattrTempDir(prefix) {
  const candidates = [os.tmpdir(), path.join(PROJECT_ROOT, ".berth", "tmp")];
  for (const parent of candidates) {
    await mkdir(parent, { recursive: true });
    const dir = await mkdtemp(path.join(parent, prefix));
    if (await supportsUserXattr(dir)) return dir;
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error(`no directory with user xattr support (Swift needs them) among: ${candidates.join(", ")}`);
}

/**
 * Synchronous last resort (an 'exit' handler): signals the servers named by `stateDir`'s PID files, but
 * only processes whose command line names that state dir (a PID file can outlive its process).
 */
function killFromPidFiles(stateDir, signal) {
  const runDir = path.join(stateDir, "run");
  let files = [];
  try {
    files = readdirSync(runDir).filter((f) => f.endsWith(".pid"));
  } catch {
    return;
  }
  for (const f of files) {
    try {
      const pid = Number(readFileSync(path.join(runDir, f), "utf8").trim());
      if (pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(stateDir)) process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The last 2 KB of each Swift server log, for error messages. */
async function swiftLogs(stateDir) {
  const logDir = path.join(stateDir, "log");
  const parts = [];
  for (const f of await readdir(logDir).catch(() => [])) {
    const text = await readFile(path.join(logDir, f), "utf8").catch(() => "");
    parts.push(`--- ${f}\n${text.slice(-2000)}`);
  }
  return parts.join("\n");
}

async function pidOf(stateDir, name) {
  return Number((await readFile(path.join(stateDir, "run", `${name}.pid`), "utf8").catch(() => "0")).trim()) || 0;
}

/**
 * Creates an S3 bucket with a SigV4-signed `PUT /<bucket>` (path-style). An existing bucket of ours counts
 * as success, so it can run on every start.
 */
export async function createBucket({ endpoint, bucket, region, accessKey, secretKey, timeoutMs = 15_000 }) {
  // service "s3" + explicit region: aws4fetch cannot guess them for 127.0.0.1. retries 0: a failure should
  // surface now, not after aws4fetch's ten silent retries.
  const client = new AwsClient({ accessKeyId: accessKey, secretAccessKey: secretKey, service: "s3", region, retries: 0 });
  const url = `${endpoint.replace(/\/+$/, "")}/${encodeURIComponent(bucket)}`;
  const res = await client.fetch(url, { method: "PUT", signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  if (res.status === 200) return "created";
  if (res.status === 409 && /BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(body)) return "exists";
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? "";
  throw new Error(`create bucket ${bucket} at ${endpoint}: HTTP ${res.status} ${code}`.trim());
}

/**
 * Starts Swift + s3api with scripts/swift-up.sh on 127.0.0.1 and, with `bucket`, creates that bucket.
 * Ports: `preferredPorts` if free (npm start: 8080 and 6200-6202), else random free ones; a port taken
 * between the probe and the bind is retried with new ones (3 attempts). State: `stateDir` (kept), or a
 * fresh temp dir with user xattrs (removed by stop()). On failure, nothing is left running.
 */
export async function startSwift(opts = {}) {
  const { region = "us-east-1", bucket, preferredPorts, install = true, stdio = "pipe", signal, log = () => {} } = opts;
  if (install) await installDeps(["swift"], { stdio, signal });
  throwIfAborted(signal);
  const temp = opts.stateDir === undefined;
  const stateDir = temp ? await makeXattrTempDir("berth-swift-") : path.resolve(opts.stateDir);
  await mkdir(stateDir, { recursive: true });
  liveSwifts.set(stateDir, temp);

  const script = (name) => path.join(PROJECT_ROOT, "scripts", name);
  const down = async () => {
    await run("bash", [script("swift-down.sh"), stateDir], { timeoutMs: 30_000, stdio }).catch(() => undefined);
  };
  let stopped;
  const stop = () =>
    (stopped ??= (async () => {
      await down();
      liveSwifts.delete(stateDir);
      if (temp) await rm(stateDir, { recursive: true, force: true });
    })());

  let endpoint = "";
  let lastError = "";
  try {
    for (let attempt = 1; attempt <= 3 && !endpoint; attempt++) {
      throwIfAborted(signal);
      let proxyPort;
      let objPort;
      if (preferredPorts && attempt === 1) {
        proxyPort = await pickPorts(preferredPorts.proxy, 1);
        if (proxyPort !== preferredPorts.proxy) log(`127.0.0.1:${preferredPorts.proxy} is busy; Swift's S3 endpoint uses port ${proxyPort} instead`);
        objPort = await pickPorts(preferredPorts.object, 3, [proxyPort]);
        if (objPort !== preferredPorts.object) {
          log(`ports ${preferredPorts.object}-${preferredPorts.object + 2} are busy; Swift's storage servers use ${objPort}-${objPort + 2} instead`);
        }
      } else {
        proxyPort = await freePort();
        objPort = await freePortBlock(3, [proxyPort]);
      }
      // Captured even for `stdio: "inherit"` (then echoed), so a busy port is recognised and retried.
      const r = await run("bash", [script("swift-up.sh"), stateDir], {
        timeoutMs: 120_000,
        env: { PROXY_PORT: String(proxyPort), OBJ_PORT: String(objPort), S3_REGION: region },
        signal,
      });
      if (stdio === "inherit") {
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
      }
      if (r.code === 0) {
        endpoint = `http://127.0.0.1:${proxyPort}`;
      } else {
        lastError = `${r.stderr}${r.stdout}`.slice(-4000);
        await down();
        if (!/already in use/.test(lastError)) break;
      }
    }
    if (!endpoint) throw new Error(`could not start Swift:\n${lastError}\n${await swiftLogs(stateDir)}`);
    if (bucket !== undefined) {
      await createBucket({ endpoint, bucket, region, accessKey: SWIFT_ACCESS_KEY, secretKey: SWIFT_SECRET_KEY });
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    endpoint,
    region,
    accessKey: SWIFT_ACCESS_KEY,
    secretKey: SWIFT_SECRET_KEY,
    bucket,
    stateDir,
    proxyPid: await pidOf(stateDir, "proxy"),
    pids: async () => (await Promise.all(["proxy", "object", "container", "account"].map((n) => pidOf(stateDir, n)))).filter((p) => p > 0),
    logs: () => swiftLogs(stateDir),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------------------
// wrangler dev

/**
 * The environment wrangler runs in: this process's, plus
 * - WRANGLER_SEND_METRICS=false: no telemetry;
 * - CLOUDFLARE_CF_FETCH_ENABLED=false: miniflare would fetch https://workers.cloudflare.com/cf.json for the
 *   `Request.cf` placeholder on every start and print a warning with a stack trace (twice) when offline;
 *   Berth does not read `request.cf`, so the built-in placeholder is enough (a value set by the caller wins);
 * - Node 22 (this process's) first on PATH for anything wrangler spawns;
 * without CLOUDFLARE_INCLUDE_PROCESS_ENV, which would copy this environment into the Worker's env.
 */
export function wranglerEnv(extra = {}) {
  const env = mergeEnv({
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
    CLOUDFLARE_INCLUDE_PROCESS_ENV: undefined,
    ...extra,
  });
  return env;
}

/** wrangler prints one "Ready on …" at start and one "updated and ready" line per reload. */
function countReady(log) {
  return (log.match(/Ready on |updated and ready/g) ?? []).length;
}

/**
 * Starts `wrangler dev` on 127.0.0.1 (port, inspector and wrangler's helper ports) with `vars` as --var
 * settings. By default it runs from a snapshot of src/ + wrangler.toml in a temp dir (edits to the working
 * tree can't reload it mid-run), with an empty --env-file (so a developer's .dev.vars never leaks in) and its
 * own --persist-to; `snapshot: false` runs in the project itself, `envFile: null` lets wrangler read
 * .dev.vars. Resolves once GET /v2/ answers (any status, or `readyStatus`); on failure nothing is left running.
 */
export async function startWrangler(opts = {}) {
  const {
    vars = {},
    snapshot = true,
    stdio = "pipe",
    readyStatus,
    readyTimeoutMs = 60_000,
    stopTimeoutMs = 10_000,
    logLimit = 200 * 1024,
    logLevel,
    ci = true,
    signal,
  } = opts;
  const secrets = [...(opts.secrets ?? []), ...Object.entries(vars).filter(([k]) => SECRET_NAME.test(k)).map(([, v]) => v)];
  const tmp = await mkdtemp(path.join(os.tmpdir(), "berth-wrangler-"));
  liveDirs.add(tmp);
  let appDir = PROJECT_ROOT;
  try {
    if (snapshot) {
      appDir = path.join(tmp, "app");
      await mkdir(appDir);
      for (const f of ["src", "ui", "wrangler.toml", "package.json", "tsconfig.json"]) {
        if (existsSync(path.join(PROJECT_ROOT, f))) await cp(path.join(PROJECT_ROOT, f), path.join(appDir, f), { recursive: true });
      }
      await symlink(path.join(PROJECT_ROOT, "node_modules"), path.join(appDir, "node_modules"));
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    liveDirs.delete(tmp);
    throw e;
  }
  let envFile = opts.envFile;
  if (envFile === undefined) {
    // An explicit --env-file makes wrangler skip the project's .dev.vars and .env (wrangler 4.164).
    envFile = path.join(tmp, "empty.env");
    await writeFile(envFile, "");
  }
  const persistTo = opts.persistTo ?? path.join(tmp, "state");
  const fixedPort = typeof opts.port === "number";
  let port = 0;
  let inspectorPort = 0;
  const choosePorts = async (first) => {
    if (typeof opts.port === "number") port = opts.port;
    else if (first && opts.preferredPort !== undefined) port = await pickPorts(opts.preferredPort, 1);
    else port = await freePort();
    if (typeof opts.inspectorPort === "number") inspectorPort = opts.inspectorPort;
    else if (first && opts.preferredInspectorPort !== undefined) inspectorPort = await pickPorts(opts.preferredInspectorPort, 1, [port]);
    else inspectorPort = await freePort([port]);
  };
  await choosePorts(true);

  const buf = logBuffer(secrets, logLimit);
  const env = wranglerEnv(ci ? { CI: "true", ...opts.env } : opts.env);
  let child;
  let exited = false;
  let exitInfo;
  let exitPromise = Promise.resolve();

  const args = () => {
    const a = [
      path.join(PROJECT_ROOT, "node_modules/wrangler/bin/wrangler.js"),
      "dev",
      ...(snapshot ? ["--config", path.join(appDir, "wrangler.toml")] : []),
      "--ip", "127.0.0.1",
      "--port", String(port),
      "--inspector-ip", "127.0.0.1",
      "--inspector-port", String(inspectorPort),
      "--persist-to", persistTo,
      "--show-interactive-dev-session=false",
      ...(logLevel ? ["--log-level", logLevel] : []),
      ...(envFile ? ["--env-file", envFile] : []),
      ...(opts.extraArgs ?? []),
    ];
    for (const [k, v] of Object.entries(vars)) a.push("--var", `${k}:${v}`);
    return a;
  };

  const launch = () => {
    exited = false;
    exitInfo = undefined;
    // process.execPath + wrangler.js rather than the .bin shim: Node 22 whatever PATH says. detached: wrangler
    // and workerd get their own process group, stopped as a whole; stdin ignored so it never reads the terminal.
    child = spawn(process.execPath, args(), {
      cwd: appDir,
      env,
      detached: true,
      stdio: stdio === "inherit" ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
    });
    if (child.pid !== undefined) liveGroups.add(child.pid);
    child.stdout?.setEncoding("utf8").on("data", (c) => buf.append(c));
    child.stderr?.setEncoding("utf8").on("data", (c) => buf.append(c));
    exitPromise = new Promise((resolve) => {
      child.once("exit", (code, sig) => {
        exited = true;
        exitInfo = { code, signal: sig };
        buf.append(`\n[stack] wrangler exited (code ${code}, signal ${sig})\n`);
        resolve();
      });
      child.once("error", (e) => {
        exited = true;
        exitInfo = { code: null, signal: null, error: e.message };
        buf.append(`\n[stack] wrangler: spawn error: ${e.message}\n`);
        resolve();
      });
    });
  };

  const stopProcess = async () => {
    const pgid = child?.pid;
    if (pgid === undefined) return;
    if (!exited) killGroup(pgid, "SIGTERM");
    // Wait for wrangler and every process of its group (workerd holds the port), SIGKILL when slow.
    let deadline = Date.now() + stopTimeoutMs;
    while ((!exited || groupAlive(pgid)) && Date.now() < deadline) await sleep(50);
    if (!exited || groupAlive(pgid)) {
      killGroup(pgid, "SIGKILL");
      await Promise.race([exitPromise, sleep(2000)]);
      deadline = Date.now() + 3000;
      while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
    }
    liveGroups.delete(pgid);
  };

  let stopped;
  const stop = () =>
    (stopped ??= (async () => {
      await stopProcess();
      await rm(tmp, { recursive: true, force: true });
      liveDirs.delete(tmp);
    })());

  const url = () => `http://127.0.0.1:${port}`;
  const waitReady = () =>
    waitForHttp(`${url()}/v2/`, { timeoutMs: readyTimeoutMs, status: readyStatus, exited: () => exited, what: "wrangler dev", signal });

  // A port probed free can be taken before wrangler binds it: retry with new ports (unless the caller fixed them).
  for (let attempt = 1; ; attempt++) {
    launch();
    try {
      await waitReady();
      break;
    } catch (e) {
      const inUse = exited && /EADDRINUSE|address already in use/i.test(buf.text());
      await stopProcess();
      if (inUse && !fixedPort && attempt < 3 && !signal?.aborted) {
        buf.append(`\n[stack] port ${port} or ${inspectorPort} was taken meanwhile; retrying with other ports\n`);
        await choosePorts(false);
        continue;
      }
      await stop();
      if (signal?.aborted) throw abortError(signal);
      throw new Error(`${e instanceof Error ? e.message : String(e)}${stdio === "pipe" ? `\n${buf.text()}` : ""}`);
    }
  }

  let reloads = 0;
  return {
    get url() {
      return url();
    },
    get port() {
      return port;
    },
    get inspectorPort() {
      return inspectorPort;
    },
    appDir,
    stateDir: persistTo,
    pgid: () => child?.pid ?? 0,
    logs: () => buf.text(),
    hasExited: () => exited,
    exitInfo: () => exitInfo,
    exited: () => exitPromise,
    reload: async () => {
      if (!snapshot) throw new Error("reload() needs a snapshot (wrangler already reloads on edits of the project)");
      const readyBefore = countReady(buf.text());
      const entry = path.join(appDir, "src", "index.ts");
      await writeFile(entry, `${readFileSync(entry, "utf8")}\n// reload ${++reloads}\n`);
      const until = Date.now() + readyTimeoutMs;
      while (countReady(buf.text()) <= readyBefore) {
        if (exited) throw new Error(`wrangler dev exited while reloading\n${buf.text()}`);
        if (Date.now() > until) throw new Error(`wrangler dev did not reload within ${readyTimeoutMs / 1000} s\n${buf.text()}`);
        await sleep(100);
      }
    },
    restart: async () => {
      await stopProcess();
      await waitPortFree(port);
      launch();
      try {
        await waitReady();
      } catch (e) {
        await stop();
        throw new Error(`${e instanceof Error ? e.message : String(e)}\n${buf.text()}`);
      }
    },
    stop,
  };
}
