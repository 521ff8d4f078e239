// Starts Berth under `wrangler dev` for the benchmark: a snapshot of src/ + wrangler.toml copied to a temp dir
// (so edits made to the working tree during a run cannot hot-reload the Worker mid-measurement), on a free
// 127.0.0.1 port, with its S3 endpoint = the counting proxy's port, its own rootdirectory and DO storage.
// restart() gives a fresh process on the same port and storage (for RSS measurements that must not inherit
// a previous push's memory). The launching is scripts/lib/stack.mjs's startWrangler(), shared with
// `npm start` and the e2e harness.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT, startWrangler } from "../../scripts/lib/stack.mjs";
import { groupProcs, onCleanup } from "./proc.ts";

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
  /**
   * Makes wrangler reload the Worker: a fresh isolate, same process (so the same Cache API) and storage. Needs
   * logLevel "log" (it waits for wrangler's "updated and ready").
   */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export interface BerthOptions {
  projectRoot: string;
  s3: { endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
  rootdirectory: string;
  vars?: Record<string, string>;
  /** wrangler's log level (default "warn"); reload() needs "log", where wrangler says it reloaded. */
  logLevel?: "warn" | "log";
}

export async function startBerth(o: BerthOptions): Promise<Berth> {
  if (path.resolve(o.projectRoot) !== PROJECT_ROOT) throw new Error(`startBerth: ${o.projectRoot} is not ${PROJECT_ROOT}`);
  const w = await startWrangler({
    vars: {
      REGISTRY_STORAGE_S3_BUCKET: o.s3.bucket,
      REGISTRY_STORAGE_S3_REGION: o.s3.region,
      REGISTRY_STORAGE_S3_REGIONENDPOINT: o.s3.endpoint,
      REGISTRY_STORAGE_S3_ACCESSKEY: o.s3.accessKey,
      REGISTRY_STORAGE_S3_SECRETKEY: o.s3.secretKey,
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: o.rootdirectory,
      REGISTRY_AUTH: "none",
      ...o.vars,
    },
    // No per-request log lines: printing them costs wrangler CPU that a deployed Worker never pays
    // (Distribution's access log is off too).
    logLevel: o.logLevel ?? "warn",
    readyStatus: 200,
    readyTimeoutMs: 90_000,
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      unregister();
      await w.stop();
    })());
  const unregister = onCleanup(stop);

  let cached: number[] = [];
  let cachedFor = 0;
  return {
    url: w.url,
    wranglerPid: () => w.pgid(),
    workerdPids: () => {
      // Cached: scanning /proc on every 100 ms RSS sample would cost CPU; rescan when one has gone.
      const pgid = w.pgid();
      if (cachedFor === pgid && cached.length > 0 && cached.every((p) => existsSync(`/proc/${p}`))) return cached;
      const pids = groupProcs(pgid, "workerd").map((p) => p.pid);
      const isWorker = (pid: number) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--inspector-addr");
        } catch {
          return false;
        }
      };
      cached = [...pids.filter(isWorker), ...pids.filter((p) => !isWorker(p))];
      cachedFor = pgid;
      return cached;
    },
    logs: () => w.logs(),
    restart: () => w.restart(),
    reload: () => w.reload(),
    stop,
  };
}
