// What one isolate counted since its last flush: counters and histogram observations held as increments of
// Prometheus series ("name{label=\"value\",…}" → amount), so a batch from any isolate or Durable Object adds
// into the aggregate key by key. Labels follow the catalog's order; values are escaped as the text format wants.

import { DURATION_BUCKETS, definition, type CounterName, type HistogramName, type LabelsOf } from "./catalog";

/** Series key → increment. Plain data: it crosses RPC to the metrics object. */
export type MetricsBatch = Record<string, number>;

function escapeValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The series key of `name` with `labels` in the catalog's label order (then `extra`, e.g. le). */
export function seriesKey(name: string, labels: Record<string, string>, extra: [string, string][] = []): string {
  const order = definition(name.replace(/_(bucket|sum|count)$/, ""))?.labels ?? definition(name)?.labels ?? Object.keys(labels);
  const pairs: [string, string][] = [...order.filter((l) => labels[l] !== undefined).map((l): [string, string] => [l, labels[l]!]), ...extra];
  return pairs.length === 0 ? name : `${name}{${pairs.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(",")}}`;
}

export class Tally {
  private pending = new Map<string, number>();

  add<N extends CounterName>(name: N, labels: LabelsOf<N>, n = 1): void {
    if (n === 0) return;
    this.bump(seriesKey(name, labels), n);
  }

  /** One observation of a histogram, in its unit (seconds): every bucket at or above it, the sum and the count. */
  observe<N extends HistogramName>(name: N, labels: LabelsOf<N>, value: number): void {
    for (const le of DURATION_BUCKETS) if (value <= le) this.bump(seriesKey(`${name}_bucket`, labels, [["le", String(le)]]), 1);
    this.bump(seriesKey(`${name}_bucket`, labels, [["le", "+Inf"]]), 1);
    this.bump(seriesKey(`${name}_sum`, labels), value);
    this.bump(seriesKey(`${name}_count`, labels), 1);
  }

  /** Everything held, which is then forgotten; null when nothing is. */
  take(): MetricsBatch | null {
    if (this.pending.size === 0) return null;
    const batch = Object.fromEntries(this.pending);
    this.pending = new Map();
    return batch;
  }

  /** Puts a batch back (its flush failed), to go with the next one. */
  merge(batch: MetricsBatch): void {
    for (const [k, v] of Object.entries(batch)) this.bump(k, v);
  }

  private bump(key: string, n: number): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + n);
  }
}

/** Adds a batch into an aggregate (the metrics object does the same in SQL). */
export function addInto(aggregate: Map<string, number>, batch: MetricsBatch): void {
  for (const [k, v] of Object.entries(batch)) aggregate.set(k, (aggregate.get(k) ?? 0) + v);
}
