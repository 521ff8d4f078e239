// What isolates and Durable Objects say to the metrics object over RPC: add a batch of increments, read the
// aggregate. One object (named "metrics") holds the registry's counts; the binding is METRICS.

import type { MetricsBatch } from "./tally";

export interface MetricsRpc {
  /** Adds the increments in one transaction. */
  add(batch: MetricsBatch): Promise<void>;
  /** Every series and its value. */
  read(): Promise<MetricsBatch>;
}

export const METRICS_OBJECT_NAME = "metrics";

/** The part of a Durable Object namespace binding used here (typed locally: unit tests run without Workers types). */
interface Namespace {
  idFromName(name: string): unknown;
  get(id: unknown): unknown;
}

/** The metrics object of `env` (its METRICS binding), or null when the binding is missing. */
export function metricsObject(env: Record<string, unknown>): MetricsRpc | null {
  const ns = env.METRICS as Namespace | undefined;
  if (ns === undefined || ns === null || typeof ns.idFromName !== "function") return null;
  return ns.get(ns.idFromName(METRICS_OBJECT_NAME)) as unknown as MetricsRpc;
}
