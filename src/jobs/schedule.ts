// When scheduled jobs are due, decided without I/O beyond reading their last reports: a Cron Trigger fires at
// fixed times, so a run counts as due a little before a whole interval has passed since the last one
// started (the slack, at most half the interval). Used by the coordinator's tick and alarm.

import type { Upstream } from "../config/upstreams";
import type { JobReport } from "./protocol";

const SCHEDULE_SLACK_MS = 5 * 60_000;

/** Whether a run whose last one is `last` (null: never ran) is due again after `intervalMs`. */
export function isDue(last: JobReport | null, intervalMs: number, now: number): boolean {
  return !last || now - Date.parse(last.startedAt) >= intervalMs - Math.min(SCHEDULE_SLACK_MS, intervalMs / 2);
}

/**
 * The upstreams whose sync is due (pollInterval passed since their last run started, and none running),
 * and when the next one of the others falls due (null: none).
 */
export async function syncsDue(upstreams: readonly Upstream[], last: (name: string) => Promise<JobReport | null>, now: number): Promise<{ due: string[]; nextAt: number | null }> {
  const due: string[] = [];
  let nextAt = Infinity;
  for (const u of upstreams) {
    if (!u.sync) continue;
    const report = await last(u.name);
    if (report?.state !== "running" && isDue(report, u.sync.pollIntervalMs, now)) due.push(u.name);
    else if (report) nextAt = Math.min(nextAt, Date.parse(report.startedAt) + u.sync.pollIntervalMs);
  }
  return { due, nextAt: nextAt === Infinity ? null : nextAt };
}
