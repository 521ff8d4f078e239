// Berth's garbage collector through its admin API (README "Garbage collection"), for the e2e tests that run
// it: start a run (waiting out one that is on) and wait until it has ended — free of assertions, a run that
// failed throws with the Worker's log tail, so that callers never read a half-done report — and pull an
// image back as a client does, checking every byte against its digest.
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { Berth } from "../harness/berth.js";
import { pollUntil, req } from "./registry.js";

export const GC_API = "/v2/_berth/ext/gc";

export interface GcReport {
  id: string;
  state: string;
  error: string | null;
  result: Record<string, unknown> & {
    blobs: string[];
    blobsSwept: number;
    blobsWalked: number;
    manifestsRemoved: number;
    manifestsRemovedList: string[];
    dryRun: boolean;
    deleteUntagged: boolean;
    tagsRemovedList: { repository: string; tag: string; digest: string; reason: string }[];
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

/** collectGarbage on a Berth of the harness, with its logs. */
export function collect(berth: Berth, query = ""): Promise<GcReport> {
  return collectGarbage(berth.url, query, () => berth.logs());
}

/** Pulls the image by tag as a client does and checks every byte against its digest. */
export async function pullsWhole(berth: Berth, repo: string, tag: string): Promise<void> {
  const res = await req(berth.url, `/v2/${repo}/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
  expect(res.status, `${repo}:${tag}`).toBe(200);
  const doc = JSON.parse(await res.text()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [doc.config.digest, ...doc.layers.map((l) => l.digest)]) {
    const redirect = await req(berth.url, `/v2/${repo}/blobs/${d}`, { redirect: "manual" });
    expect(redirect.status, `${repo}:${tag} blob ${d}`).toBe(307);
    await redirect.body?.cancel();
    const blob = await fetch(redirect.headers.get("Location")!);
    expect(blob.status, `${repo}:${tag} blob ${d} from the bucket`).toBe(200);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(d);
  }
}
