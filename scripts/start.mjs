// `npm start`: a local Berth registry in one command. Starts OpenStack Swift (S3) with state in .berth/swift,
// creates bucket "registry", then runs `wrangler dev` on 127.0.0.1:5000 wired to it. If the developer's
// .dev.vars names their own bucket, Swift is skipped and wrangler reads .dev.vars itself.
// Ctrl-C (SIGINT) or SIGTERM stops wrangler and the Swift this script started.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createBucket } from "./create-bucket.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SWIFT_STATE = path.join(ROOT, ".berth", "swift");
const BUCKET = "registry";
const REGION = "us-east-1";
const ACCESS_KEY = "test:tester"; // swift-up.sh's tempauth user: local-only test credentials
const SECRET_KEY = "testing";
const READY_TIMEOUT_MS = 60_000;

const log = (msg) => console.log(`[berth] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** True when nothing listens on 127.0.0.1:port. */
function isPortFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** `preferred` if it and the next count-1 ports are free, else a random free block (bounded search). */
async function pickPorts(preferred, count, avoid = []) {
  const blockFree = async (base) => {
    for (let i = 0; i < count; i++) {
      if (avoid.includes(base + i) || !(await isPortFree(base + i))) return false;
    }
    return true;
  };
  if (await blockFree(preferred)) return preferred;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 12000); // below the ephemeral range
    if (await blockFree(base)) return base;
  }
  throw new Error(`no ${count} free consecutive ports on 127.0.0.1`);
}

/** Minimal .dev.vars reader (KEY=VALUE lines), only to decide whether the user brought their own bucket. */
function devVarsKeys() {
  const file = path.join(ROOT, ".dev.vars");
  if (!existsSync(file)) return new Set();
  const keys = new Set();
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m && m[2].trim() !== "" && m[2].trim() !== '""' && m[2].trim() !== "''") keys.add(m[1]);
  }
  return keys;
}

let wrangler; // ChildProcess
let helper; // the install/swift-up child currently running, killed if we are stopped meanwhile
let swiftStarted = false;
let stopping = false;

/** Runs a helper script with inherited output; resolves with its exit code (killed after timeoutMs). */
function runScript(args, { timeoutMs, env = process.env }) {
  return new Promise((resolve) => {
    const child = spawn("bash", args, { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
    helper = child;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", () => resolve(127));
    child.once("exit", (code) => {
      clearTimeout(timer);
      helper = undefined;
      resolve(code ?? 1);
    });
  });
}

async function stopSwift() {
  if (!swiftStarted) return;
  swiftStarted = false;
  await runScript([path.join(ROOT, "scripts/swift-down.sh"), SWIFT_STATE], { timeoutMs: 30_000 });
}

/**
 * Whether a non-zombie process of group `pgid` remains (Linux /proc). Zombies don't count: killed workerd
 * processes are reaped by PID 1, which in some containers takes seconds, and they hold no ports.
 */
function groupAlive(pgid) {
  let entries;
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
    let stat;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

/** Stops wrangler's whole process group (wrangler + workerd), bounded, then Swift; exits with `code`. */
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  if (helper) {
    helper.kill("SIGTERM");
    const deadline = Date.now() + 5_000;
    while (helper && Date.now() < deadline) await sleep(50);
  }
  if (wrangler?.pid !== undefined && groupAlive(wrangler.pid)) {
    log("stopping wrangler dev");
    try { process.kill(-wrangler.pid, "SIGTERM"); } catch { /* gone */ }
    const deadline = Date.now() + 10_000;
    while (groupAlive(wrangler.pid) && Date.now() < deadline) await sleep(100);
    if (groupAlive(wrangler.pid)) {
      try { process.kill(-wrangler.pid, "SIGKILL"); } catch { /* gone */ }
    }
  }
  await stopSwift();
  process.exit(code);
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => void shutdown(0));

async function startSwift() {
  const dep = await runScript([path.join(ROOT, "scripts/install-deps.sh"), "swift"], { timeoutMs: 600_000 });
  if (stopping) return undefined;
  if (dep !== 0) throw new Error("Swift is not installed (see the message above)");

  const proxyPort = await pickPorts(8080, 1);
  if (proxyPort !== 8080) log(`127.0.0.1:8080 is busy; Swift's S3 endpoint uses port ${proxyPort} instead`);
  const objPort = await pickPorts(6200, 3, [proxyPort]);
  if (objPort !== 6200) log(`ports 6200-6202 are busy; Swift's storage servers use ${objPort}-${objPort + 2} instead`);

  mkdirSync(SWIFT_STATE, { recursive: true });
  swiftStarted = true; // from here on, shutdown() must run swift-down.sh even if swift-up.sh fails half-way
  const up = await runScript([path.join(ROOT, "scripts/swift-up.sh"), SWIFT_STATE], {
    timeoutMs: 120_000,
    env: { ...process.env, PROXY_PORT: String(proxyPort), OBJ_PORT: String(objPort), S3_REGION: REGION },
  });
  if (stopping) return undefined;
  if (up !== 0) throw new Error(`Swift did not start (logs in ${path.relative(ROOT, SWIFT_STATE)}/log)`);
  const endpoint = `http://127.0.0.1:${proxyPort}`;
  const result = await createBucket({ endpoint, bucket: BUCKET, region: REGION, accessKey: ACCESS_KEY, secretKey: SECRET_KEY });
  log(`bucket ${BUCKET} ${result === "created" ? "created" : "already exists"} on Swift ${endpoint}`);
  return endpoint;
}

async function main() {
  const userKeys = devVarsKeys();
  const ownBucket = userKeys.has("REGISTRY_STORAGE_S3_REGIONENDPOINT") || userKeys.has("REGISTRY_STORAGE_S3_BUCKET");

  const vars = [];
  let storageNote;
  if (ownBucket) {
    // --var would override .dev.vars (measured), so pass nothing and let wrangler load the user's file.
    storageNote = "storage from .dev.vars";
    log(".dev.vars sets the S3 bucket/endpoint: not starting Swift, using your settings");
  } else {
    const endpoint = await startSwift();
    if (endpoint === undefined) return; // stopped by a signal meanwhile
    storageNote = `S3 on Swift ${endpoint}, bucket ${BUCKET}`;
    const settings = {
      REGISTRY_STORAGE_S3_BUCKET: BUCKET,
      REGISTRY_STORAGE_S3_REGION: REGION,
      REGISTRY_STORAGE_S3_REGIONENDPOINT: endpoint,
      REGISTRY_STORAGE_S3_ACCESSKEY: ACCESS_KEY,
      REGISTRY_STORAGE_S3_SECRETKEY: SECRET_KEY,
      REGISTRY_AUTH: "none",
    };
    for (const [k, v] of Object.entries(settings)) vars.push("--var", `${k}:${v}`);
  }
  if (stopping) return;

  const port = await pickPorts(5000, 1);
  if (port !== 5000) log(`127.0.0.1:5000 is busy; the registry uses port ${port} instead`);
  const inspectorPort = await pickPorts(9229, 1, [port]);

  const args = [
    path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-ip", "127.0.0.1",
    "--inspector-port", String(inspectorPort),
    "--show-interactive-dev-session=false",
    "--persist-to", path.join(ROOT, ".berth", "wrangler"),
    ...vars,
  ];
  // detached: wrangler and workerd get their own process group, which shutdown() signals as a whole;
  // stdin ignored so the background group never touches the terminal.
  wrangler = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
    },
  });
  wrangler.once("exit", (code, signal) => {
    if (stopping) return;
    log(`wrangler dev exited (${signal ?? `code ${code}`})`);
    void shutdown(code ?? 1);
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stopping) {
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`wrangler dev did not answer on ${url} within 60 s`);
      await sleep(250);
    }
  }
  if (stopping) return;
  log(`registry listening on ${url} (${storageNote}); try: skopeo copy --dest-tls-verify=false oci:img docker://127.0.0.1:${port}/demo:1   (Ctrl-C stops)`);
}

main().catch((e) => {
  console.error(`[berth] ${e instanceof Error ? e.message : String(e)}`);
  void shutdown(1);
});
