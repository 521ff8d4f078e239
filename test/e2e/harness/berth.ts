// Starts the Berth Worker under `wrangler dev` for one e2e test file, wired to the run's Swift bucket, on free
// 127.0.0.1 ports with its own Durable Object storage, from a snapshot of src/ (edits made while tests run
// cannot reload it), and stops it again (whole process group). The launching is scripts/lib/stack.mjs's
// startWrangler(), shared with `npm start` and the benchmark.
import { inject } from "vitest";
import { killAllSync, startWrangler } from "../../../scripts/lib/stack.mjs";
import type {} from "./global-setup.js"; // brings the ProvidedContext["s3"] declaration into scope

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

// wrangler runs in its own process group (so stop() can kill workerd too), which also means a Ctrl-C or a
// dying test worker doesn't reach it. The shared module kills what is still live when this process exits;
// a stop signal does the same, then dies by that signal unless someone else (e.g. vitest) handles it.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    killAllSync();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

/**
 * Starts `wrangler dev` for this project. Storage settings come from inject("s3") as REGISTRY_STORAGE_S3_*
 * vars plus REGISTRY_AUTH=none; `vars` are applied last and override them. Resolves once GET /v2/ gets any
 * HTTP answer; throws (with the logs) if that takes more than 60 s or wrangler exits. `extraArgs` go to
 * `wrangler dev` (e.g. --test-scheduled, which serves GET /__scheduled to fire the Cron Triggers).
 */
export async function startBerth(vars: Record<string, string> = {}, opts: { extraArgs?: string[] } = {}): Promise<Berth> {
  const s3 = inject("s3");
  const w = await startWrangler({
    extraArgs: opts.extraArgs,
    vars: {
      REGISTRY_STORAGE_S3_BUCKET: s3.bucket,
      REGISTRY_STORAGE_S3_REGION: s3.region,
      REGISTRY_STORAGE_S3_REGIONENDPOINT: s3.endpoint,
      REGISTRY_STORAGE_S3_ACCESSKEY: s3.accessKey,
      REGISTRY_STORAGE_S3_SECRETKEY: s3.secretKey,
      REGISTRY_AUTH: "none",
      ...vars,
    },
  });
  return { url: w.url, stop: w.stop, logs: w.logs, reload: w.reload, stateDir: w.stateDir };
}
