// Starts Berth under `wrangler dev` for the benchmark: a snapshot of src/ + wrangler.toml copied to a temp dir
// (so edits made to the working tree during a run cannot hot-reload the Worker mid-measurement), on a free
// 127.0.0.1 port, with its S3 endpoint = the counting proxy's port, its own rootdirectory and DO storage.
// restart() gives a fresh process on the same port and storage (for RSS measurements that must not inherit
// a previous push's memory).
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePortBlock, groupProcs, onCleanup, sleep, stopGroup, waitPortFree } from "./proc.ts";

export interface Berth {
  url: string;
  /** wrangler's PID, which leads the process group that workerd runs in (changes on restart). */
  wranglerPid(): number;
  /**
   * PIDs of wrangler's workerd processes, the one running the Worker and its Durable Objects first. wrangler 4
   * runs two: that one (started with --inspector-addr) and a proxy instance that owns the public port and
   * forwards every request to it.
   */
  workerdPids(): number[];
  logs(): string;
  /** Stops wrangler and starts it again on the same port with the same state. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface BerthOptions {
  projectRoot: string;
  s3: { endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
  rootdirectory: string;
  vars?: Record<string, string>;
}

const LOG_LIMIT = 200 * 1024;

export async function startBerth(o: BerthOptions): Promise<Berth> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "berth-bench-wrangler-"));
  const app = path.join(tmp, "app");
  for (const f of ["src", "wrangler.toml", "package.json", "tsconfig.json"]) {
    await cp(path.join(o.projectRoot, f), path.join(app, f), { recursive: true });
  }
  await symlink(path.join(o.projectRoot, "node_modules"), path.join(app, "node_modules"));
  const emptyEnv = path.join(tmp, "empty.env"); // explicit --env-file: wrangler skips .dev.vars / .env
  await writeFile(emptyEnv, "");

  const vars: Record<string, string> = {
    REGISTRY_STORAGE_S3_BUCKET: o.s3.bucket,
    REGISTRY_STORAGE_S3_REGION: o.s3.region,
    REGISTRY_STORAGE_S3_REGIONENDPOINT: o.s3.endpoint,
    REGISTRY_STORAGE_S3_ACCESSKEY: o.s3.accessKey,
    REGISTRY_STORAGE_S3_SECRETKEY: o.s3.secretKey,
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: o.rootdirectory,
    REGISTRY_AUTH: "none",
    ...o.vars,
  };
  const port = await freePortBlock(1);
  let inspector = await freePortBlock(1);
  while (inspector === port) inspector = await freePortBlock(1);
  const args = [
    path.join(o.projectRoot, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--config", path.join(app, "wrangler.toml"),
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-ip", "127.0.0.1",
    "--inspector-port", String(inspector),
    "--persist-to", path.join(tmp, "state"),
    "--show-interactive-dev-session=false",
    // No per-request log lines: printing them costs wrangler CPU that a deployed Worker never pays
    // (Distribution's access log is off too).
    "--log-level", "warn",
    "--env-file", emptyEnv,
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CI: "true",
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
  };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;

  const url = `http://127.0.0.1:${port}`;
  let log = "";
  const append = (c: string) => {
    log = (log + c.split(o.s3.secretKey).join("***")).slice(-LOG_LIMIT);
  };
  let pgid = 0;
  let cached: number[] = [];

  const launch = async () => {
    const child = spawn(process.execPath, args, { cwd: app, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    pgid = child.pid ?? 0;
    cached = [];
    let exited = false;
    child.stdout.setEncoding("utf8").on("data", append);
    child.stderr.setEncoding("utf8").on("data", append);
    child.once("exit", (code, sig) => {
      exited = true;
      append(`\n[bench] wrangler exited (code ${code}, signal ${sig})\n`);
    });
    child.once("error", (e) => append(`\n[bench] spawn error: ${e.message}\n`));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exited) throw new Error(`wrangler dev exited before answering /v2/\n${log.slice(-5000)}`);
      try {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`wrangler dev did not answer /v2/ within 90 s\n${log.slice(-5000)}`);
      await sleep(200);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      unregister();
      await stopGroup(pgid);
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
    wranglerPid: () => pgid,
    workerdPids: () => {
      // Cached: scanning /proc on every 100 ms RSS sample would cost CPU; rescan when one has gone.
      if (cached.length > 0 && cached.every((p) => existsSync(`/proc/${p}`))) return cached;
      const pids = groupProcs(pgid, "workerd").map((p) => p.pid);
      const isWorker = (pid: number) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--inspector-addr");
        } catch {
          return false;
        }
      };
      cached = [...pids.filter(isWorker), ...pids.filter((p) => !isWorker(p))];
      return cached;
    },
    logs: () => log,
    restart: async () => {
      await stopGroup(pgid);
      await waitPortFree(port);
      await launch();
    },
    stop,
  };
}
