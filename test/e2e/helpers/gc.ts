// Berth's garbage collector through its admin API (README "Garbage collection"), for the e2e tests that run
// it: start a run (waiting out one that is on) and wait until it has ended. Free of assertions: a run that
// failed throws, with the Worker's log tail, so that callers never read a half-done report.
import { pollUntil, req } from "./registry.js";

export const GC_API = "/v2/_berth/ext/gc";

export interface GcReport {
  id: string;
  state: string;
  error: string | null;
  result: {
    blobs: string[];
    blobsSwept: number;
    blobsWalked: number;
    manifestsRemoved: number;
    manifestsRemovedList: string[];
    dryRun: boolean;
    deleteUntagged: boolean;
  };
}

/**
 * POSTs a run (`query`, e.g. "?dryRun=true") against `base`, retrying while another run is on, and resolves
 * with its report once it is done. Throws if it failed or did not end within `timeoutMs`.
 */
export async function collectGarbage(base: string, query = "", logs: () => string = () => "", timeoutMs = 60_000): Promise<GcReport> {
  const started = await pollUntil(
    "a gc run starts",
    async () => {
      const res = await req(base, `${GC_API}${query}`, { method: "POST" });
      const body = (await res.json()) as GcReport;
      return res.status === 202 ? body : undefined;
    },
    timeoutMs,
  );
  const report = await pollUntil(
    `gc run ${started.id} ends`,
    async () => {
      const r = (await (await req(base, GC_API)).json()) as GcReport;
      return r.id === started.id && r.state !== "running" ? r : undefined;
    },
    timeoutMs,
  );
  if (report.error !== null || report.state !== "done") {
    throw new Error(`gc run ${report.id}: state ${report.state}, error ${report.error}\n${logs().slice(-3000)}`);
  }
  return report;
}
