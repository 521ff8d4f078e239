// Process plumbing for the benchmark: bounded child processes, free 127.0.0.1 ports, process-group kills,
// /proc readings (RSS of a process group) and one cleanup list that runs on normal exit, errors and Ctrl-C.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import net from "node:net";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  timeoutMs: number;
  /** Merged over process.env; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

const MAX_CAPTURE = 4 << 20;

/** Runs `cmd args` without a shell; resolves with exit code, output and wall time. Rejects on spawn error or timeout. */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, [...args], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const cap = (s: string) => (s.length > MAX_CAPTURE ? s.slice(s.length - MAX_CAPTURE) : s);
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout = cap(stdout + c)));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr = cap(stderr + c)));
    let timedOut = false;
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    }, opts.timeoutMs);
    const unregister = onCleanup(() => void child.kill("SIGKILL"));
    child.once("error", (e) => {
      clearTimeout(killer);
      unregister();
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(killer);
      unregister();
      const ms = performance.now() - t0;
      if (timedOut) reject(new Error(`${cmd} ${args.join(" ")}: timed out after ${opts.timeoutMs} ms\n${stderr.slice(-3000)}`));
      else resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms });
    });
  });
}

/** Like run(), but a non-zero exit code rejects with the tail of stderr. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}\n${(r.stderr + r.stdout).slice(-3000)}`);
  return r;
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Waits (bounded) until nothing listens on 127.0.0.1:port any more, e.g. before restarting a server on it. */
export async function waitPortFree(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isPortFree(port)) && Date.now() < deadline) await sleep(100);
}

/** First of `count` consecutive free ports in 20000-32000 (below the ephemeral range), random; bounded tries. */
export async function freePortBlock(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await isPortFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports on 127.0.0.1`);
}

// ---------------------------------------------------------------------------------------------------------
// /proc

interface ProcInfo {
  pid: number;
  comm: string;
  state: string;
  pgrp: number;
}

function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const [state, , pgrp] = stat.slice(close + 2).split(" ");
    return { pid, comm: stat.slice(open + 1, close), state: state ?? "?", pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) processes of process group `pgid`, optionally only those whose comm starts with `comm`. */
export function groupProcs(pgid: number, comm?: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  let entries: string[] = [];
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

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM, ...), 0 when the process is gone. */
export function statusBytes(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples VmRSS of the processes `pids()` returns every `intervalMs` until the returned stop() is called.
 * stop() gives the highest RSS seen of the first process (`peak`), the highest sum over all of them
 * (`peakSum`), the first process's highest RssAnon (heap, not file-backed pages), its VmHWM at the end,
 * and the sample count.
 */
export function sampleRss(pids: () => number[], intervalMs = 100): () => { peak: number; peakSum: number; peakAnon: number; hwm: number; samples: number } {
  let peak = 0;
  let peakSum = 0;
  let peakAnon = 0;
  let samples = 0;
  const tick = () => {
    const list = pids();
    const rss = list.map((p) => statusBytes(p, "VmRSS"));
    peak = Math.max(peak, rss[0] ?? 0);
    if (list[0]) peakAnon = Math.max(peakAnon, statusBytes(list[0], "RssAnon"));
    peakSum = Math.max(peakSum, rss.reduce((a, b) => a + b, 0));
    samples++;
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return () => {
    clearInterval(timer);
    tick();
    const first = pids()[0];
    return { peak, peakSum, peakAnon, hwm: first ? statusBytes(first, "VmHWM") : 0, samples };
  };
}

/** CPU seconds (user + system) used so far by the given processes (0 for gone ones). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // gone
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** Signals a whole process group (the child was spawned detached, so it leads its group). */
export function killGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Stops group `pgid`: SIGTERM, bounded wait, SIGKILL, bounded wait. */
export async function stopGroup(pgid: number | undefined, graceMs = 8000): Promise<void> {
  if (!pgid) return;
  killGroup(pgid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupProcs(pgid).length > 0 && Date.now() < deadline) await sleep(50);
  if (groupProcs(pgid).length > 0) {
    killGroup(pgid, "SIGKILL");
    const d2 = Date.now() + 3000;
    while (groupProcs(pgid).length > 0 && Date.now() < d2) await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup: everything the bench starts registers how to stop it; run in reverse order, once.

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | undefined;

/** Registers `fn`; returns a function that unregisters it (for things stopped normally). */
export function onCleanup(fn: Cleanup): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.lastIndexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Runs every registered cleanup (latest first), each bounded to 20 s; idempotent. */
export function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      try {
        await Promise.race([Promise.resolve().then(fn), sleep(20_000)]);
      } catch (e) {
        console.error(`[bench] cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  })();
  return cleaning;
}

let signalled = false;
/** Whether a stop signal arrived (errors that follow it are consequences, not findings). */
export const interrupted = (): boolean => signalled;

/** Ctrl-C / SIGTERM / SIGHUP: clean up, then exit 130 (a second signal exits at once). */
export function installSignalHandlers(): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (signalled) process.exit(130);
      signalled = true;
      console.error(`\n[bench] ${sig}: stopping everything…`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
}
