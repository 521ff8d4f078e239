// Every kind of background job the coordinator can run, by name, and which of them a Cron Trigger starts.

import type { Job } from "./job";
import { storageStats } from "./storage-stats";

export const JOBS: ReadonlyMap<string, Job<unknown>> = new Map([[storageStats.kind, storageStats as Job<unknown>]]);

/** Started by every Cron Trigger of wrangler.toml (the coordinator ignores a start while a run is on). */
export const SCHEDULED_JOBS: readonly string[] = [storageStats.kind];
