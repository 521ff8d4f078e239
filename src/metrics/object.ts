// The metrics Durable Object: one per registry (named "metrics"), holding the sum of every batch the Worker's
// isolates and the other Durable Objects flushed (flush.ts) in one SQLite table of series → value, so counts
// are the registry's, not one isolate's, and survive restarts and deploys. At most one write per isolate per
// FLUSH_MS. Sits in src/metrics with the counting code (it imports nothing above it).

import { DurableObject } from "cloudflare:workers";
import type { MetricsRpc } from "./protocol";
import { MetricsTable, type Sql } from "./table";
import type { MetricsBatch } from "./tally";

export class MetricsObject extends DurableObject implements MetricsRpc {
  private table: MetricsTable | null = null;

  private series(): MetricsTable {
    this.table ??= new MetricsTable(this.ctx.storage.sql as unknown as Sql);
    return this.table;
  }

  add(batch: MetricsBatch): Promise<void> {
    return this.series().add(batch);
  }

  read(): Promise<MetricsBatch> {
    return this.series().read();
  }
}
