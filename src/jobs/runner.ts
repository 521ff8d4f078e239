// The job runner inside the coordinator: starts runs, advances every running one by one step per alarm,
// saves each run's checkpoint after its step, retries a failing step with backoff, and answers for progress.
// Storage and the alarm come in through RunnerStorage, so unit tests run it over memory; coordinator.ts
// hosts it in a Durable Object, whose storage makes a run survive eviction and restarts.

import type { Job, JobEnvironment } from "./job";
import type { JobCoordinatorRpc, JobReport } from "./protocol";

/** Consecutive failures of one step before the run is given up as failed. */
export const MAX_STEP_FAILURES = 5;
const RETRY_BASE_MS = 2_000;

export interface RunnerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  /** Keys with the prefix and their values. */
  list<T>(prefix: string): Promise<Map<string, T>>;
  setAlarm(at: number): Promise<void>;
}

interface StoredRun {
  report: JobReport;
  state: unknown;
  failures: number;
  /** Not before this time (ms): a failed step waits out its backoff. */
  notBefore: number;
}

/** One run at a time per kind, or per kind and instance (sync: one per upstream). */
const runKey = (kind: string, instance?: string) => (instance === undefined ? `run:${kind}` : `run:${kind}/${instance}`);

export class JobRunner implements Pick<JobCoordinatorRpc, "start" | "status"> {
  constructor(
    private readonly storage: RunnerStorage,
    private readonly jobs: ReadonlyMap<string, Job<unknown>>,
    private readonly env: JobEnvironment,
  ) {}

  async start(kind: string, params: Record<string, unknown>): Promise<{ started: boolean; report: JobReport } | { error: string }> {
    const job = this.jobs.get(kind);
    if (!job) return { error: `unknown job ${JSON.stringify(kind.slice(0, 64))}; known: ${[...this.jobs.keys()].join(", ")}` };
    let key: string;
    try {
      key = runKey(kind, job.instance?.(params));
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
    const current = await this.storage.get<StoredRun>(key);
    if (current?.report.state === "running") return { started: false, report: current.report };
    let state: unknown;
    try {
      state = job.start(params, this.env);
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
    const now = new Date(this.env.now()).toISOString();
    const run: StoredRun = {
      report: { id: crypto.randomUUID(), kind, state: "running", startedAt: now, updatedAt: now, finishedAt: null, steps: 0, result: job.result(state), error: null },
      state,
      failures: 0,
      notBefore: 0,
    };
    await this.storage.put(key, run);
    await this.storage.setAlarm(this.env.now());
    return { started: true, report: run.report };
  }

  async status(kind: string, instance?: string): Promise<JobReport | null> {
    return (await this.storage.get<StoredRun>(runKey(kind, instance)))?.report ?? null;
  }

  /** One step of every running run whose backoff is over; sets the next alarm while any run is left. */
  async alarm(): Promise<void> {
    const runs = await this.storage.list<StoredRun>("run:");
    let next = Infinity;
    for (const [key, run] of runs) {
      if (run.report.state !== "running") continue;
      if (run.notBefore <= this.env.now()) await this.advance(key, run);
      if (run.report.state === "running") next = Math.min(next, Math.max(run.notBefore, this.env.now()));
    }
    if (next !== Infinity) await this.storage.setAlarm(next);
  }

  private async advance(key: string, run: StoredRun): Promise<void> {
    const job = this.jobs.get(run.report.kind);
    const now = () => new Date(this.env.now()).toISOString();
    if (!job) {
      Object.assign(run.report, { state: "failed", error: "this version of Berth no longer has the job", finishedAt: now(), updatedAt: now() });
    } else {
      try {
        const { state, done, wakeAt } = await job.step(run.state, this.env);
        run.state = state;
        run.failures = 0;
        run.notBefore = wakeAt ?? 0;
        run.report.steps++;
        run.report.result = job.result(state);
        run.report.error = null;
        if (done) Object.assign(run.report, { state: "done", finishedAt: now() });
      } catch (e) {
        const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        run.failures++;
        run.report.error = message.slice(0, 500);
        if (run.failures >= MAX_STEP_FAILURES) Object.assign(run.report, { state: "failed", finishedAt: now() });
        else run.notBefore = this.env.now() + RETRY_BASE_MS * 2 ** (run.failures - 1);
      }
      run.report.updatedAt = now();
    }
    await this.storage.put(key, run);
  }
}
