// The data center's cache (issue 10 §4): S3 requests per manifest GET by digest and per blob HEAD answered by a
// fresh isolate whose data center already holds them. wrangler dev reloads the Worker before each round, so
// nothing is in the isolate's memory; workerd's Cache API (one per process, as one per data center deployed)
// outlives the reload. Distribution, which has no such cache, answers the same requests on the same image.
// Counted at each registry's own S3 proxy (registry-signed requests only).
import path from "node:path";
import { skopeoPush } from "./clients.ts";
import { makeImage } from "./oci.ts";
import { diffCounters, registryRequests } from "./s3proxy.ts";
import { settle, type Ctx, type Reg, type RegName } from "./scenarios.ts";

export interface EdgeResult {
  layers: number;
  /** Per round: S3 requests of the one manifest GET by digest. */
  manifest: Record<RegName, number[]>;
  /** Per round: S3 requests per blob HEAD (all layers and the config, once each, ÷ their number). */
  blobHead: Record<RegName, number[]>;
  /** Status codes seen, so a round of errors cannot pass as a round of cheap answers. */
  statuses: Record<RegName, number[]>;
}

const REPO = "bench/edge";
const MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json";

export async function edgeScenario(
  regs: Reg[],
  /** Gives Berth a fresh isolate (wrangler dev reloading the Worker). */
  reloadBerth: () => Promise<void>,
  ctx: Ctx,
  o: { layers: number; timeoutMs: number },
): Promise<EdgeResult> {
  const image = await makeImage(path.join(ctx.workDir, "edge"), "edge", Array.from({ length: o.layers }, () => 64 * 1024));
  for (const reg of regs) await skopeoPush(image.dir, "edge", reg.url, REPO, o.timeoutMs);
  const blobs = [...image.layers.map((l) => l.digest), image.configDigest];
  const out: EdgeResult = { layers: o.layers, manifest: { berth: [], distribution: [] }, blobHead: { berth: [], distribution: [] }, statuses: { berth: [], distribution: [] } };

  const ask = async (reg: Reg, p: string, init: RequestInit) => {
    const r = await fetch(`${reg.url}${p}`, { ...init, redirect: "manual", signal: AbortSignal.timeout(30_000) });
    await r.arrayBuffer();
    out.statuses[reg.name].push(r.status);
  };
  const getManifest = (reg: Reg) => ask(reg, `/v2/${REPO}/manifests/${image.manifestDigest}`, { headers: { Accept: MANIFEST_ACCEPT } });
  const headBlobs = async (reg: Reg) => {
    for (const d of blobs) await ask(reg, `/v2/${REPO}/blobs/${d}`, { method: "HEAD" });
  };
  /** Registry-signed S3 requests while `fn` runs (and until the proxy is quiet after it). */
  const cost = async (reg: Reg, fn: () => Promise<void>) => {
    await settle(reg.proxy);
    const before = reg.proxy.snapshot();
    await fn();
    await settle(reg.proxy);
    return registryRequests(diffCounters(reg.proxy.snapshot(), before));
  };

  for (const reg of regs) {
    // Warm-up: the first fresh isolate reads the bucket and fills the data center's cache behind its answers.
    if (reg.name === "berth") await reloadBerth();
    await getManifest(reg);
    await headBlobs(reg);
    for (let round = 0; round < ctx.rounds; round++) {
      if (reg.name === "berth") await reloadBerth();
      out.manifest[reg.name].push(await cost(reg, () => getManifest(reg)));
      out.blobHead[reg.name].push((await cost(reg, () => headBlobs(reg))) / blobs.length);
    }
    ctx.log(`edge cache, ${reg.name}: manifest GET by digest ${out.manifest[reg.name].join(",")}; per blob HEAD ${out.blobHead[reg.name].map((x) => x.toFixed(2)).join(",")}`);
  }
  return out;
}
