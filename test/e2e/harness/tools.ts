// Helpers for e2e tests that drive real command-line tools (skopeo, python3 mkoci.py, ...):
// bounded child processes without a shell (run/runOk, shared with `npm start` and the benchmark through
// scripts/lib/stack.mjs), hand-made OCI layouts, file digests.
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT, logBuffer, runOk, run, type RunOptions, type RunResult } from "../../../scripts/lib/stack.mjs";

export { PROJECT_ROOT, run, runOk } from "../../../scripts/lib/stack.mjs";
export type { RunOptions, RunResult } from "../../../scripts/lib/stack.mjs";

/** Installs a group of scripts/install-deps.sh when any of its commands is missing (bounded: 10 min). */
export async function ensureTools(group: string, cmds: string[]): Promise<void> {
  const which = async (c: string) => (await run("sh", ["-c", `command -v ${c}`], { timeoutMs: 10_000 })).code === 0;
  const missing: string[] = [];
  for (const c of cmds) if (!(await which(c))) missing.push(c);
  if (missing.length === 0) return;
  const r = await run("bash", [path.join(PROJECT_ROOT, "scripts/install-deps.sh"), group], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`missing ${missing.join(", ")}; scripts/install-deps.sh ${group} failed:\n${r.stderr.slice(-4000)}`);
}

export interface OciRef {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/**
 * Writes an OCI image layout to `dir` with test/fixtures/mkoci.py: tags `v1` (small amd64 image),
 * `multi` (index amd64+arm64) and, with bigMiB, `big` (one random layer of that size; plain tar unless gzip).
 * Resolves with index.json's manifest descriptors.
 */
export async function makeOciLayout(dir: string, opts: { bigMiB?: number; gzip?: boolean } = {}): Promise<OciRef[]> {
  const args = [path.join(PROJECT_ROOT, "test/fixtures/mkoci.py"), dir];
  if (opts.bigMiB) args.push("--big", String(opts.bigMiB));
  if (opts.gzip) args.push("--gzip");
  // ~1.2 s for 200 MiB plain, ~5.5 s gzipped on the reference machine; allow a slow CI box 10x that.
  const timeoutMs = 30_000 + (opts.bigMiB ?? 0) * (opts.gzip ? 300 : 100);
  const r = await runOk("python3", args, { timeoutMs });
  return JSON.parse(r.stdout) as OciRef[];
}

/** Runs skopeo with exactly `args` (no implicit flags: tests spell out --dest-tls-verify=false etc.). */
export function skopeo(args: readonly string[], opts: Partial<RunOptions> = {}): Promise<RunResult> {
  return run("skopeo", args, { timeoutMs: 180_000, ...opts });
}

/** Hex SHA-256 of a file, streamed (layers can be hundreds of MiB). Prefix "sha256:" for an OCI digest. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("error", reject)
      .on("data", (c) => h.update(c))
      .on("end", () => resolve(h.digest("hex")));
  });
}

export interface WatchedChild {
  /** The last `limit` characters of the child's stdout and stderr, secrets masked. */
  logs(): string;
  readonly exited: boolean;
  /** Why the child could not be started, if it could not. */
  readonly spawnError: string | undefined;
  /** Settles when the child has exited (or could not start). */
  exit: Promise<void>;
}

/** Collects a long-running child's output (bounded, secrets masked) and tracks its exit. */
export function watchChild(child: ChildProcess, name: string, secrets: readonly string[], limit = 200_000): WatchedChild {
  const log = logBuffer(secrets, limit);
  let exited = false;
  let spawnError: string | undefined;
  child.stdout?.setEncoding("utf8").on("data", (c: string) => log.append(c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => log.append(c));
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = true;
      log.append(`\n[harness] ${name} exited (code ${code}, signal ${signal})\n`);
      resolve();
    });
    child.once("error", (e) => {
      spawnError = e.message;
      exited = true;
      log.append(`\n[harness] ${name}: spawn error: ${e.message}\n`);
      resolve();
    });
  });
  return {
    logs: () => log.text(),
    get exited() {
      return exited;
    },
    get spawnError() {
      return spawnError;
    },
    exit,
  };
}
