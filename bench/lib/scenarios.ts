// The benchmark's measurements: push/pull rounds with fresh random layers (skopeo), latency runs (hey), each
// wrapped so that the counting proxy's S3 traffic, the registry's and S3 server's CPU time and (for Berth) the
// workerd RSS are recorded around exactly that operation. Registries alternate order from round to round.
import { rm } from "node:fs/promises";
import path from "node:path";
import { hey, skopeoPull, skopeoPush, type HeyResult } from "./clients.ts";
import { makeImage } from "./oci.ts";
import { cpuSeconds, sampleRss, sleep, statusBytes } from "./proc.ts";
import { diffCounters, registryRequests, type Counters, type CountingProxy, type OpTimeline } from "./s3proxy.ts";

export type RegName = "berth" | "distribution";

export interface Reg {
  name: RegName;
  url: string;
  proxy: CountingProxy;
  /** Processes whose CPU time counts as the registry's (workerd + wrangler, or docker-registry). */
  cpuPids(): number[];
  /** Processes whose RSS is sampled during pushes, the registry's main process first (the Worker's workerd). */
  rssPids?: () => number[];
  /** A fresh process on the same port and storage. */
  restart?: () => Promise<void>;
}

export interface OpResult {
  ms: number;
  s3: Counters;
  /** Per S3 operation: first start and last end (s after the client started) and peak concurrency. */
  timeline: Record<string, OpTimeline>;
  /** S3 requests signed by the registry itself (excludes presigned client downloads). */
  registryRequests: number;
  registryCpuSec: number;
  s3CpuSec: number;
  /**
   * Bytes. baseline/peakRss/hwm: the main process (Berth: the workerd running the Worker and its Durable
   * Objects; Distribution: docker-registry); peakSum: all sampled processes (Berth: + wrangler's proxy workerd).
   */
  rss?: { baseline: number; peakRss: number; peakAnon: number; peakSum: number; hwm: number; samples: number };
}

export interface Ctx {
  workDir: string;
  /** Measured rounds (one extra warm-up round runs first). */
  rounds: number;
  s3Pids(): number[];
  log(msg: string): void;
}

/** Waits until the proxy has nothing in flight and no new request for 250 ms (bounded: `maxMs`). */
export async function settle(p: CountingProxy, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = p.snapshot().total;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await sleep(50);
    const now = p.snapshot().total;
    if (now !== last || p.inFlight() > 0) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= 250) return;
  }
}

/** Runs `fn` (which returns its own wall time, ms) and records what it cost. */
export async function measured(reg: Reg, ctx: Ctx, fn: () => Promise<number>, rss = false): Promise<OpResult> {
  await settle(reg.proxy);
  const before = reg.proxy.snapshot();
  const cpu0 = cpuSeconds(reg.cpuPids());
  const s3cpu0 = cpuSeconds(ctx.s3Pids());
  const rssPids = rss ? reg.rssPids : undefined;
  const main = rssPids?.()[0];
  const baseline = main ? statusBytes(main, "VmRSS") : 0;
  const stopRss = rssPids ? sampleRss(rssPids, 100) : undefined;
  reg.proxy.startTrace();
  let ms: number;
  let r: ReturnType<NonNullable<typeof stopRss>> | undefined;
  try {
    ms = await fn();
  } finally {
    r = stopRss?.();
  }
  const cpu1 = cpuSeconds(reg.cpuPids());
  await settle(reg.proxy);
  const timeline = reg.proxy.stopTrace();
  const s3 = diffCounters(reg.proxy.snapshot(), before);
  return {
    ms,
    s3,
    timeline,
    registryRequests: registryRequests(s3),
    registryCpuSec: +(cpu1 - cpu0).toFixed(2),
    s3CpuSec: +(cpuSeconds(ctx.s3Pids()) - s3cpu0).toFixed(2),
    ...(r ? { rss: { baseline, peakRss: r.peak, peakAnon: r.peakAnon, peakSum: r.peakSum, hwm: r.hwm, samples: r.samples } } : {}),
  };
}

export interface PushPull {
  name: string;
  layerSizes: number[];
  imageBytes: number[];
  /** Manifest digest of each measured round's image (same order as the push/pull arrays). */
  manifests: string[];
  push: Record<RegName, OpResult[]>;
  pull: Record<RegName, OpResult[]>;
}

export interface Variant {
  /** Label, e.g. "256 MiB". */
  name: string;
  repo: string;
  layerSizes: number[];
  /** Sample RSS during its pushes. */
  rss: boolean;
  /**
   * Restart each registry right before pushing it, so the RSS peak is this push's own: workerd keeps the memory
   * a push grew it to, and would otherwise carry a 1 GiB push's peak into the next 256 MiB one.
   */
  fresh: boolean;
}

/**
 * Warm-up + `ctx.rounds` rounds. In each round, for each variant (their order alternates between rounds, so no
 * variant always runs on a process that the other just grew): build a fresh image (new random layers), push it
 * to each registry, pull it back from each, delete it. Registry order alternates too. Round 0 is not recorded.
 */
export async function pushPull(variants: Variant[], regs: Reg[], ctx: Ctx, o: { timeoutMs: number }): Promise<PushPull[]> {
  const res: PushPull[] = variants.map((v) => ({
    name: v.name,
    layerSizes: v.layerSizes,
    imageBytes: [],
    manifests: [],
    push: { berth: [], distribution: [] },
    pull: { berth: [], distribution: [] },
  }));
  for (let round = 0; round <= ctx.rounds; round++) {
    const warm = round === 0;
    const label = warm ? "warm-up" : `round ${round}`;
    const vorder = variants.map((_, i) => i);
    if (round % 2 === 0) vorder.reverse();
    const order = round % 2 === 1 ? regs : [...regs].reverse();
    for (const vi of vorder) {
      const v = variants[vi]!;
      const r = res[vi]!;
      const dir = path.join(ctx.workDir, `${v.repo.replace(/\W/g, "_")}-${round}`);
      try {
        const img = await makeImage(dir, `r${round}`, v.layerSizes);
        if (!warm) {
          r.imageBytes.push(img.totalBytes);
          r.manifests.push(img.manifestDigest);
        }
        for (const reg of order) {
          if (v.fresh) await reg.restart?.();
          const m = await measured(reg, ctx, () => skopeoPush(dir, img.tag, reg.url, v.repo, o.timeoutMs), v.rss);
          ctx.log(`${v.name} ${label}: ${reg.name} push ${(m.ms / 1000).toFixed(2)} s, ${m.registryRequests} S3 requests` +
            (m.rss ? `, RSS ${(m.rss.baseline / 1048576).toFixed(0)} → peak ${(m.rss.peakRss / 1048576).toFixed(0)} MiB` : ""));
          if (!warm) r.push[reg.name].push(m);
        }
        for (const reg of order) {
          const out = path.join(ctx.workDir, `pull-${reg.name}-${round}`);
          const m = await measured(reg, ctx, () => skopeoPull(reg.url, v.repo, img.tag, out, o.timeoutMs));
          ctx.log(`${v.name} ${label}: ${reg.name} pull ${(m.ms / 1000).toFixed(2)} s, ${m.registryRequests} S3 requests`);
          if (!warm) r.pull[reg.name].push(m);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  return res;
}

export interface LatencyRun {
  hey: HeyResult;
  op: OpResult;
  /** Registry-signed S3 requests per HTTP request. */
  s3PerRequest: number;
  /** Presigned S3 requests (client side, after a 307) per HTTP request. */
  presignedPerRequest: number;
}

export interface LatencyTarget {
  name: string;
  /** Path under the registry, e.g. /v2/bench/hot/manifests/latest. */
  path: (reg: RegName) => string;
  method?: string;
  headers?: string[];
}

/** For each concurrency: a warm-up hey run per registry, then `ctx.rounds` measured runs, registries alternating. */
export async function latency(
  target: LatencyTarget,
  levels: { c: number; n: number }[],
  regs: Reg[],
  ctx: Ctx,
): Promise<Record<string, Record<RegName, LatencyRun[]>>> {
  const out: Record<string, Record<RegName, LatencyRun[]>> = {};
  for (const { c, n } of levels) {
    const runs: Record<RegName, LatencyRun[]> = { berth: [], distribution: [] };
    for (let round = 0; round <= ctx.rounds; round++) {
      const order = round % 2 === 1 ? regs : [...regs].reverse();
      for (const reg of order) {
        // hey gives each of its c workers n/c requests (rounded down): keep n a multiple of c.
        const want = round === 0 ? Math.max(c, Math.ceil(n / 4)) : n;
        const nn = Math.ceil(want / c) * c;
        let h: HeyResult | undefined;
        const op = await measured(reg, ctx, async () => {
          h = await hey(reg.url + target.path(reg.name), { n: nn, c, method: target.method, headers: target.headers, timeoutMs: 300_000 });
          return h.totalSec * 1000;
        });
        const presigned = Object.entries(op.s3.ops).filter(([k]) => k.endsWith("(presigned)")).reduce((a, [, s]) => a + s.count, 0);
        const run: LatencyRun = { hey: h!, op, s3PerRequest: op.registryRequests / nn, presignedPerRequest: presigned / nn };
        ctx.log(`${target.name} c=${c} ${round === 0 ? "warm-up" : `round ${round}`}: ${reg.name} p50 ${h!.pct["50"]?.toFixed(1) ?? "–"} ms, ` +
          `p99 ${h!.pct["99"]?.toFixed(1) ?? "–"} ms, ${h!.rps.toFixed(0)} req/s, ${run.s3PerRequest.toFixed(2)} S3 req/request`);
        if (round > 0) runs[reg.name].push(run);
      }
    }
    out[`c${c}`] = runs;
  }
  return out;
}
