// A background job as the coordinator runs it: a plain-data state, advanced by bounded steps. Each step does
// at most a fixed amount of work (a Durable Object alarm has a subrequest limit and 15 minutes of wall time),
// returns the new state — the checkpoint the coordinator saves before the next alarm — and says whether the
// job is done. A step must be safe to run again from the last saved state (the object may die mid-step).

import type { Storage } from "../storage";

export interface JobEnvironment {
  storage: Storage;
  now(): number;
}

export interface Job<S> {
  /** The kind's name: the admin API's path segment and the key of its runs. */
  readonly kind: string;
  /** The state a new run starts from; throws Error for bad parameters. */
  start(params: Record<string, unknown>, env: JobEnvironment): S;
  /** One bounded step from a saved state. */
  step(state: S, env: JobEnvironment): Promise<{ state: S; done: boolean }>;
  /** What the report shows of the state (counts, findings). */
  result(state: S): Record<string, unknown>;
}
