// Process plumbing for the benchmark: bounded child processes, free 127.0.0.1 ports, process-group kills,
// /proc readings (RSS of a process group) and one cleanup list that runs on normal exit, errors and Ctrl-C.
import { readFileSync } from "node:fs";
import { run as runShared, sleep, type RunOptions as SharedRunOptions, type RunResult } from "../../scripts/lib/stack.mjs";

// Shared with `npm start` and the e2e harness (scripts/lib/stack.mjs): free ports, process groups, /proc.
export {
  freePortBlock,
  groupProcs,
  isPortFree,
  killGroup,
  procInfo,
  sleep,
  stopGroup,
  waitPortFree,
  type ProcInfo,
  type RunResult,
} from "../../scripts/lib/stack.mjs";

export interface RunOptions {
  timeoutMs: number;
  /** Merged over process.env; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/**
 * Runs `cmd args` without a shell; resolves with exit code, output and wall time. Rejects on spawn error or
 * timeout. Killed by runCleanups() (Ctrl-C) while it runs.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const o: SharedRunOptions = { ...opts, register: (kill) => onCleanup(kill) };
  return runShared(cmd, args, o);
}

/** Like run(), but a non-zero exit code rejects with the tail of stderr. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}\n${(r.stderr + r.stdout).slice(-3000)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// /proc

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
