// Every kind of background job the coordinator can run, by name.

import { gc } from "./gc/job";
import type { Job } from "./job";
import { referrersBackfill } from "./referrers-backfill";
import { storageStats } from "./storage-stats";
import { sync } from "./sync/job";

export const JOBS: ReadonlyMap<string, Job<unknown>> = new Map([
  [storageStats.kind, storageStats as Job<unknown>],
  [gc.kind, gc as Job<unknown>],
  [referrersBackfill.kind, referrersBackfill as Job<unknown>],
  [sync.kind, sync as Job<unknown>],
]);
