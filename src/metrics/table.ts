// The metrics object's table: series → value in one SQLite table, each batch added in one transaction. Apart
// from the Durable Object (object.ts) so unit tests run the same SQL over node:sqlite.

import type { MetricsRpc } from "./protocol";
import type { MetricsBatch } from "./tally";

/** The part of the Durable Object SQL API used here (node:sqlite stands in for it in unit tests). */
export interface Sql {
  exec(query: string, ...bindings: (string | number | null)[]): { toArray(): Record<string, unknown>[] };
}

/** The aggregate over SQL: separate from the object so unit tests run the same statements. */
export class MetricsTable implements MetricsRpc {
  constructor(private readonly sql: Sql) {
    sql.exec("CREATE TABLE IF NOT EXISTS series (key TEXT PRIMARY KEY, value REAL NOT NULL) WITHOUT ROWID");
  }

  async add(batch: MetricsBatch): Promise<void> {
    // Synchronous statements with no await between them: the object commits them as one transaction.
    for (const [key, value] of Object.entries(batch)) {
      if (!Number.isFinite(value)) continue;
      this.sql.exec("INSERT INTO series (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value", key, value);
    }
  }

  async read(): Promise<MetricsBatch> {
    const out: MetricsBatch = {};
    for (const row of this.sql.exec("SELECT key, value FROM series").toArray()) out[String(row.key)] = Number(row.value);
    return out;
  }
}
