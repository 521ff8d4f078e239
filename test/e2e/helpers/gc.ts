// What the garbage-collection e2e tests share: starting a run through the admin API and waiting for its
// report, and pulling an image back as a client does, checking every byte against its digest.
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { Berth } from "../harness/berth.js";
import { pollUntil, req } from "./registry.js";

const GC = "/v2/_berth/ext/gc";

export interface GcReport {
  id: string;
  state: string;
  error: string | null;
  result: Record<string, unknown> & {
    blobs: string[];
    blobsSwept: number;
    manifestsRemoved: number;
    manifestsRemovedList: string[];
    dryRun: boolean;
    tagsRemovedList: { repository: string; tag: string; digest: string; reason: string }[];
  };
}

/** Starts a run (waiting out one that is on) and returns its report once it is done. */
export async function collect(berth: Berth, query = ""): Promise<GcReport> {
  const started = await pollUntil(
    "a gc run starts",
    async () => {
      const res = await req(berth.url, `${GC}${query}`, { method: "POST" });
      const body = (await res.json()) as GcReport;
      return res.status === 202 ? body : undefined;
    },
    60_000,
  );
  const report = await pollUntil(
    `gc run ${started.id} ends`,
    async () => {
      const r = (await (await req(berth.url, GC)).json()) as GcReport;
      return r.id === started.id && r.state !== "running" ? r : undefined;
    },
    60_000,
  );
  expect(report.error, berth.logs().slice(-3000)).toBeNull();
  expect(report.state).toBe("done");
  return report;
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
