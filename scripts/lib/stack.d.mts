// Types of scripts/lib/stack.mjs (the local stack shared by `npm start`, the e2e harness and the benchmark).
/// <reference types="node" />

export declare const PROJECT_ROOT: string;
export declare const SWIFT_ACCESS_KEY: string;
export declare const SWIFT_SECRET_KEY: string;

export declare function sleep(ms: number): Promise<void>;

// ---- ports
export declare function isPortFree(port: number): Promise<boolean>;
export declare function freePortBlock(count?: number, avoid?: readonly number[]): Promise<number>;
export declare function freePort(avoid?: readonly number[]): Promise<number>;
export declare function pickPorts(preferred: number, count?: number, avoid?: readonly number[]): Promise<number>;
export declare function waitPortFree(port: number, timeoutMs?: number): Promise<void>;

// ---- child processes
export interface RunOptions {
  /** Hard limit: the process is killed (SIGTERM, SIGKILL after 5 s) and run() rejects. */
  timeoutMs: number;
  /** Merged over process.env; a key set to undefined is removed (e.g. `{ AWS_CA_BUNDLE: undefined }`). */
  env?: Record<string, string | undefined>;
  /** Written to stdin, then stdin is closed. Without it stdin is /dev/null. */
  input?: string | Uint8Array;
  cwd?: string;
  /** "inherit": output goes to this process's stdout/stderr (and is not captured). Default "pipe". */
  stdio?: "pipe" | "inherit";
  /** Kills the process and rejects when aborted. */
  signal?: AbortSignal;
  /** Called with a function that kills the process; returns a function that unregisters it (bench cleanup). */
  register?: (kill: () => void) => () => void;
}
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time in milliseconds. */
  ms: number;
}
export declare function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult>;
export declare function runOk(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult>;

// ---- /proc and process groups
export interface ProcInfo {
  pid: number;
  comm: string;
  state: string;
  pgrp: number;
}
export declare function procInfo(pid: number): ProcInfo | undefined;
export declare function groupProcs(pgid: number, comm?: string): ProcInfo[];
export declare function groupAlive(pgid: number | undefined): boolean;
export declare function killGroup(pgid: number | undefined, signal: NodeJS.Signals): void;
export declare function stopGroup(pgid: number | undefined, graceMs?: number, killMs?: number): Promise<void>;
export declare function killAllSync(): void;

// ---- HTTP readiness, logs
export interface WaitForHttpOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** The status that means ready; default: any HTTP answer. */
  status?: number;
  /** Checked on every poll: true = the server died, stop waiting. */
  exited?: () => boolean;
  /** The server's name in error messages. */
  what?: string;
  signal?: AbortSignal;
}
export declare function waitForHttp(url: string, opts?: WaitForHttpOptions): Promise<void>;
export declare function redactor(secrets: readonly string[]): (text: string) => string;
export interface LogBuffer {
  append(chunk: string): void;
  text(): string;
}
export declare function logBuffer(secrets: readonly string[], limit?: number): LogBuffer;

// ---- system packages
export declare function installDeps(
  groups: readonly string[],
  opts?: { stdio?: "pipe" | "inherit"; timeoutMs?: number; signal?: AbortSignal },
): Promise<void>;

// ---- Swift
export declare function supportsUserXattr(dir: string): Promise<boolean>;
export declare function makeXattrTempDir(prefix: string): Promise<string>;
export interface CreateBucketOptions {
  endpoint: string;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  timeoutMs?: number;
}
export declare function createBucket(o: CreateBucketOptions): Promise<"created" | "exists">;

export interface SwiftOptions {
  /** Signing region clients must use (s3api `location`). Default us-east-1. */
  region?: string;
  /** Created (or found) once Swift is up. */
  bucket?: string;
  /** Kept between runs (npm start); default: a fresh temp dir with user xattrs, removed by stop(). */
  stateDir?: string;
  /** Try these first (proxy port; first of three object/container/account ports); default random free ports. */
  preferredPorts?: { proxy: number; object: number };
  /** Run scripts/install-deps.sh swift first (default true). */
  install?: boolean;
  /** "inherit": the helper scripts' output is shown (npm start). Default "pipe" (captured, in errors). */
  stdio?: "pipe" | "inherit";
  signal?: AbortSignal;
  /** Notes such as "port 8080 is busy, using …". */
  log?: (msg: string) => void;
}
export interface Swift {
  /** http://127.0.0.1:PORT of the proxy server (S3 API, path-style). */
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  bucket: string | undefined;
  stateDir: string;
  /** The proxy server's PID. */
  proxyPid: number;
  /** PIDs of the proxy, object, container and account servers. */
  pids(): Promise<number[]>;
  /** The last 2 KB of each server's log. */
  logs(): Promise<string>;
  /** Stops every server (by PID file), removes a temp state dir. Idempotent. */
  stop(): Promise<void>;
}
export declare function startSwift(opts?: SwiftOptions): Promise<Swift>;

// ---- wrangler dev
export declare function wranglerEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;

export interface WranglerOptions {
  /** Worker settings, passed as `--var KEY:VALUE` (values of secret-looking names are masked in logs()). */
  vars?: Record<string, string>;
  /** More values to mask in logs(). */
  secrets?: readonly string[];
  /** Run from a copy of src/, wrangler.toml, package.json, tsconfig.json in a temp dir (default true). */
  snapshot?: boolean;
  /** A fixed port (no retry); else preferredPort if free, else a random free port. */
  port?: number;
  preferredPort?: number;
  inspectorPort?: number;
  preferredInspectorPort?: number;
  /** --persist-to (Durable Object storage); default: a dir in the temp dir. */
  persistTo?: string;
  /** --env-file; default: an empty file (wrangler then skips .dev.vars and .env); null: no flag. */
  envFile?: string | null;
  /** --log-level. */
  logLevel?: string;
  extraArgs?: readonly string[];
  /** Extra environment for wrangler (see wranglerEnv()). */
  env?: Record<string, string | undefined>;
  /** Set CI=true (default true: no interactive prompts). */
  ci?: boolean;
  /** "inherit": wrangler writes to this terminal (npm start); default "pipe" (kept for logs()). */
  stdio?: "pipe" | "inherit";
  /** Status of GET /v2/ that means ready; default any. */
  readyStatus?: number;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
  logLimit?: number;
  signal?: AbortSignal;
}
export interface WranglerDev {
  /** http://127.0.0.1:PORT (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly inspectorPort: number;
  /** Where wrangler runs: the snapshot dir, or the project. */
  appDir: string;
  /** --persist-to (Durable Object storage lives under v3/do/). */
  stateDir: string;
  /** wrangler's PID, which leads the process group workerd runs in (changes on restart()). */
  pgid(): number;
  /** The last ~200 KB of wrangler's output, secrets masked ("pipe" only). */
  logs(): string;
  hasExited(): boolean;
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null; error?: string } | undefined;
  /** Settles when the current wrangler process has exited. */
  exited(): Promise<void>;
  /** Touches the snapshot's entry so wrangler reloads the Worker; resolves once the new one is ready. */
  reload(): Promise<void>;
  /** Stops wrangler and starts it again on the same ports with the same state. */
  restart(): Promise<void>;
  /** Stops the whole process group (SIGTERM, SIGKILL when slow), removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}
export declare function startWrangler(opts?: WranglerOptions): Promise<WranglerDev>;
