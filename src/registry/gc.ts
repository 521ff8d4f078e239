// The garbage collector's admin API: `POST /v2/_berth/ext/gc` (optional `?dryRun=true`, `?deleteUntagged=true`)
// starts a run and answers 202 with its report (200 with the running one's if a run is on already);
// `GET /v2/_berth/ext/gc` shows the current or last run's report: `state` running/done/failed, the counts,
// and the digests swept (or that a dry run would sweep). The run itself is a job of the coordinator.

import { jobStatus, startJob } from "./jobs";
import type { RegistryContext } from "./context";

export function startGc(ctx: RegistryContext): Promise<Response> {
  return startJob(ctx, "gc");
}

export function gcStatus(ctx: RegistryContext): Promise<Response> {
  return jobStatus(ctx, "gc");
}
