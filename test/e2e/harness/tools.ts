// Helpers for e2e tests that drive real command-line tools (skopeo, python3 mkoci.py, ...):
// bounded child processes without a shell, hand-made OCI layouts, file digests.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export interface RunOptions {
  /** Hard limit; the process (SIGTERM, then SIGKILL after 5 s) is killed and run() rejects. */
  timeoutMs: number;
  /** Merged over process.env; a key set to undefined is removed (e.g. `{ AWS_CA_BUNDLE: undefined }`). */
  env?: Record<string, string | undefined>;
  /** Written to stdin, then stdin is closed. Without it stdin is /dev/null, so nothing waits for input. */
  input?: string | Uint8Array;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// A tool gone wild must not eat the test process's memory: keep at most this much of each stream.
const MAX_CAPTURE = 8 << 20;

function appendCapped(buf: string, chunk: string): string {
  const s = buf + chunk;
  return s.length > MAX_CAPTURE ? s.slice(s.length - MAX_CAPTURE) : s;
}

/**
 * Runs `cmd args` (never through a shell, so arguments need no quoting) and resolves with its exit code and
 * output; a signal death resolves with code 128+signo like a shell would. Rejects only on spawn failure or timeout.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout = appendCapped(stdout, c)));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr = appendCapped(stderr, c)));
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    }, opts.timeoutMs);
    child.once("error", (e) => {
      clearTimeout(killer);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(killer);
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(" ")}: timed out after ${opts.timeoutMs} ms\n${stderr.slice(-4000)}`));
        return;
      }
      const signo = signal ? (({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }) as Record<string, number>)[signal] ?? 1 : 0;
      resolve({ code: code ?? 128 + signo, stdout, stderr });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // EPIPE when the tool exits without reading: its exit code tells.
      child.stdin.end(opts.input);
    }
  });
}

/** Like run(), but rejects (with the tail of stderr) when the exit code is not 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n${(r.stderr || r.stdout).slice(-4000)}`);
  }
  return r;
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
  let log = "";
  let exited = false;
  let spawnError: string | undefined;
  const append = (chunk: string) => {
    for (const s of secrets) chunk = chunk.split(s).join("***");
    log += chunk;
    if (log.length > limit * 1.5) log = log.slice(log.length - limit);
  };
  child.stdout?.setEncoding("utf8").on("data", append);
  child.stderr?.setEncoding("utf8").on("data", append);
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = true;
      append(`\n[harness] ${name} exited (code ${code}, signal ${signal})\n`);
      resolve();
    });
    child.once("error", (e) => {
      spawnError = e.message;
      exited = true;
      append(`\n[harness] ${name}: spawn error: ${e.message}\n`);
      resolve();
    });
  });
  return {
    logs: () => (log.length > limit ? log.slice(log.length - limit) : log),
    get exited() {
      return exited;
    },
    get spawnError() {
      return spawnError;
    },
    exit,
  };
}
