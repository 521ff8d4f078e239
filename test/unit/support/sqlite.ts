// The Durable Object SQLite API the collector's ledger uses (src/jobs/gc/ledger.ts's Sql), over Node's own
// SQLite (node:sqlite, in the pinned Node 22): the same SQL the coordinator runs, in memory, for unit tests.
import { createRequire } from "node:module";
import type { Sql, SqlValue } from "../../../src/jobs/gc/ledger";

interface Statement {
  all(...bindings: SqlValue[]): Record<string, SqlValue>[];
}
interface Database {
  prepare(query: string): Statement;
}

// Loaded with require: Vite's resolver does not know the builtin yet, and its types may be missing.
const { DatabaseSync } = createRequire(import.meta.url)("node:sqlite") as { DatabaseSync: new (path: string) => Database };

export function memorySql(): Sql {
  const db = new DatabaseSync(":memory:");
  return {
    exec(query, ...bindings) {
      const rows = db.prepare(query).all(...bindings);
      return { toArray: () => rows };
    },
  };
}
