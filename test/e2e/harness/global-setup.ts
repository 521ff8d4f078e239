// Vitest global setup of the e2e project: starts ONE OpenStack Swift (S3 via s3api) for the whole run on
// free 127.0.0.1 ports, creates the test bucket and hands its settings to tests via provide("s3").
// Starting Swift takes 5-8 s, so tests share it; each test isolates itself by repository name / key prefix.
import { mkdtemp, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { freePortBlock } from "./ports.js";
import { PROJECT_ROOT, run, runOk } from "./tools.js";

export interface S3Settings {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Settings;
  }
}

// Fixed by scripts/swift-up.sh (tempauth user); not secrets, but still never printed.
const ACCESS_KEY = "test:tester";
const SECRET_KEY = "testing";
const REGION = "us-east-1";
const BUCKET = "berth-test";

/** Whether `dir` accepts user xattrs, which Swift's object server needs (tmpfs without user_xattr does not). */
async function supportsUserXattr(dir: string): Promise<boolean> {
  const probe =
    "import os,sys,tempfile\nfd,p=tempfile.mkstemp(dir=sys.argv[1])\n" +
    "try:\n  os.setxattr(p,'user.berth.probe',b'1')\nfinally:\n  os.close(fd); os.unlink(p)\n";
  const r = await run("python3", ["-c", probe, dir], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** A fresh temp dir on a filesystem with xattrs: the system temp dir, else .berth/tmp in the project. */
async function makeStateDir(): Promise<string> {
  const candidates = [os.tmpdir(), path.join(PROJECT_ROOT, ".berth", "tmp")];
  for (const parent of candidates) {
    await mkdir(parent, { recursive: true });
    const dir = await mkdtemp(path.join(parent, "berth-swift-"));
    if (await supportsUserXattr(dir)) return dir;
    console.warn(`[e2e] ${parent} has no user xattr support; Swift cannot store objects there, trying next`);
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error(`no directory with user xattr support among: ${candidates.join(", ")}`);
}

/**
 * Last resort if vitest dies without running teardown: SIGTERM the servers listed in the PID files,
 * synchronously (this runs in an 'exit' handler). Checks the command line so a reused PID is left alone.
 */
function killFromPidFiles(stateDir: string): void {
  const runDir = path.join(stateDir, "run");
  let files: string[] = [];
  try {
    files = readdirSync(runDir).filter((f) => f.endsWith(".pid"));
  } catch {
    return;
  }
  for (const f of files) {
    try {
      const pid = Number(readFileSync(path.join(runDir, f), "utf8").trim());
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes(stateDir)) process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

async function swiftLogs(stateDir: string): Promise<string> {
  const logDir = path.join(stateDir, "log");
  const parts: string[] = [];
  for (const f of await readdir(logDir).catch(() => [] as string[])) {
    const text = await readFile(path.join(logDir, f), "utf8").catch(() => "");
    parts.push(`--- ${f}\n${text.slice(-2000)}`);
  }
  return parts.join("\n");
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  await runOk("bash", [path.join(PROJECT_ROOT, "scripts/install-deps.sh"), "swift"], { timeoutMs: 600_000 });
  const stateDir = await makeStateDir();
  const onExit = () => {
    killFromPidFiles(stateDir);
    try {
      rmSync(stateDir, { recursive: true, force: true });
    } catch {
      // best effort while exiting
    }
  };
  process.once("exit", onExit);

  const swiftDown = async () => {
    await run("bash", [path.join(PROJECT_ROOT, "scripts/swift-down.sh"), stateDir], { timeoutMs: 30_000 }).catch(
      (e: unknown) => console.warn(`[e2e] swift-down: ${String(e)}`),
    );
  };
  const cleanup = async () => {
    await swiftDown();
    process.removeListener("exit", onExit);
    await rm(stateDir, { recursive: true, force: true });
  };

  // Free ports are probed, then bound by Swift a moment later; another process may win that race,
  // in which case swift-up.sh refuses the busy port and we retry with new ones (bounded: 3 tries).
  let endpoint = "";
  let lastError = "";
  for (let attempt = 1; attempt <= 3 && !endpoint; attempt++) {
    const proxyPort = await freePortBlock(1);
    let objPort = await freePortBlock(3);
    while (objPort <= proxyPort && proxyPort <= objPort + 2) objPort = await freePortBlock(3);
    const r = await run("bash", [path.join(PROJECT_ROOT, "scripts/swift-up.sh"), stateDir], {
      timeoutMs: 120_000,
      env: { PROXY_PORT: String(proxyPort), OBJ_PORT: String(objPort), S3_REGION: REGION },
    }).catch((e: unknown) => ({ code: -1, stdout: "", stderr: String(e) }));
    if (r.code === 0) {
      endpoint = `http://127.0.0.1:${proxyPort}`;
    } else {
      lastError = `${r.stderr}${r.stdout}`.slice(-4000);
      await swiftDown();
      if (!/already in use/.test(lastError)) break;
    }
  }
  if (!endpoint) {
    const logs = await swiftLogs(stateDir);
    await cleanup();
    throw new Error(`[e2e] could not start Swift:\n${lastError}\n${logs}`);
  }

  try {
    await runOk(
      process.execPath,
      [path.join(PROJECT_ROOT, "scripts/create-bucket.mjs"), endpoint, BUCKET, REGION, ACCESS_KEY, SECRET_KEY],
      { timeoutMs: 30_000, cwd: PROJECT_ROOT },
    );
  } catch (e) {
    await cleanup();
    throw e;
  }

  project.provide("s3", { endpoint, region: REGION, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, bucket: BUCKET });
  console.log(`[e2e] Swift S3 on ${endpoint}, bucket ${BUCKET} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);

  return cleanup;
}
