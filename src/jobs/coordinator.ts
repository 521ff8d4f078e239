// The job coordinator Durable Object: one per registry (named "coordinator"), hosting the JobRunner with the
// object's storage and alarm. Background work (counting the bucket today; garbage collection, retention,
// sync and delivery later) runs here as resumable steps, never inside a client's request. It parses only the
// storage settings.

import { DurableObject } from "cloudflare:workers";
import { parseS3 } from "../config/storage";
import { createStorage } from "../storage";
import { JOBS } from "./kinds";
import type { JobCoordinatorRpc, JobReport } from "./protocol";
import { JobRunner } from "./runner";

export class JobCoordinator extends DurableObject implements JobCoordinatorRpc {
  private instance: JobRunner | null = null;

  private runner(): JobRunner {
    if (!this.instance) {
      const storage = this.ctx.storage;
      this.instance = new JobRunner(
        {
          get: (key) => storage.get(key),
          put: (key, value) => storage.put(key, value),
          list: (prefix) => storage.list({ prefix }),
          setAlarm: (at) => storage.setAlarm(at),
        },
        JOBS,
        { storage: createStorage(parseS3(this.env as Record<string, unknown>)), now: Date.now },
      );
    }
    return this.instance;
  }

  start(kind: string, params: Record<string, unknown>): Promise<{ started: boolean; report: JobReport } | { error: string }> {
    return this.runner().start(kind, params);
  }

  status(kind: string): Promise<JobReport | null> {
    return this.runner().status(kind);
  }

  override alarm(): Promise<void> {
    return this.runner().alarm();
  }
}
