// What the Worker and the job coordinator Durable Object say to each other over RPC, and the report of a job
// run as the admin API shows it. Plain data only (it crosses RPC and is stored in the object's storage).

import type { SweepFenceRpc } from "../storage/sweep-fence";

export type JobState = "running" | "done" | "failed";

export interface JobReport {
  /** Unique per run. */
  id: string;
  kind: string;
  state: JobState;
  /** ISO 8601 times. */
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** Steps (alarms) the run has taken so far. */
  steps: number;
  /** The job's own counts and findings: progress while running, the result once done. */
  result: Record<string, unknown>;
  /** Why the run failed (state "failed"), or the last error a retried step met. */
  error: string | null;
}

/** The coordinator also holds the garbage collector's fence (storage/sweep-fence.ts): writers vouch to it. */
export interface JobCoordinatorRpc extends SweepFenceRpc {
  /**
   * Starts a run of the job unless one of that kind is running (then that run's report comes back, with
   * `started: false`). Unknown kinds are refused with an error message.
   */
  start(kind: string, params: Record<string, unknown>): Promise<{ started: boolean; report: JobReport } | { error: string }>;
  /** The running or last finished run of the kind (of its instance: sync's upstream), or null when it never ran. */
  status(kind: string, instance?: string): Promise<JobReport | null>;
  /** A Cron Trigger fired: starts the scheduled jobs that are due (README "Background jobs"); returns their kinds. */
  tick(): Promise<string[]>;
}
