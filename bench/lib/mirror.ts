// The benchmark's pull-through scenario: one upstream registry (Distribution 2.8 on filesystem storage, not
// measured) holding the big-layer image and the many-layer image, and two caches of it, measured in the same
// run: Berth with REGISTRY_PROXY_REMOTEURL (the whole registry a cache, as in Distribution) and Distribution
// 2.8 in proxy mode (`proxy.remoteurl`). Each cache reaches the upstream through a counting proxy of its own
// (upstream requests and bytes per pull), and its S3 bucket through another (S3 requests); clients reach each
// cache through a third (the bytes of the cache's own answers: a blob answered with a 307 to the bucket has
// none, so on a warm pull they are the blob bytes through the Worker). Every round pushes fresh random layers
// to new repository names upstream, so the cold pull finds nothing cached, neither the manifest nor a blob
// (Berth would link a blob it holds for another repository); each cache's warm pull repeats its cold one right
// after. Skopeo, as the other pull scenarios; registries and images alternate order from round to round; the
// warm-up round pulls a small image only.
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import type { Berth } from "./berth.ts";
import { skopeoPull, skopeoPush } from "./clients.ts";
import { startDistribution } from "./distribution.ts";
import { makeImage } from "./oci.ts";
import { median, MiB, type Goal, type Row } from "./report.ts";
import { cpuSeconds } from "./proc.ts";
import { diffCounters, registryRequests, startCountingProxy, type Counters, type CountingProxy } from "./s3proxy.ts";
import { settle, type Ctx, type Reg, type RegName } from "./scenarios.ts";

export type Phase = "cold" | "warm";

export interface MirrorPull {
  /** Wall time of the skopeo pull, ms. */
  ms: number;
  /** Requests the cache sent upstream, by operation ("GET blob", "HEAD manifest by tag", …). */
  upstreamOps: Record<string, number>;
  upstreamRequests: number;
  /** Response body bytes the upstream sent the cache. */
  upstreamBytes: number;
  /** Body bytes of the cache's own answers to the client's blob GETs (0 when every one was a redirect). */
  blobBytesThrough: number;
  /** The client's requests to the cache, by operation. */
  clientOps: Record<string, number>;
  /** The same: summed time of the cache's answers (first byte in to last byte out), ms; where a pull's time goes. */
  clientMs: Record<string, number>;
  /** S3 requests the cache signed itself (not the client's presigned downloads). */
  s3Requests: number;
  /** The same by S3 operation. */
  s3Ops: Record<string, number>;
  /** Bytes the client downloaded from presigned S3 URLs (after the cache's 307s). */
  presignedBytes: number;
  /** The cache's CPU time (its processes) from the client's start until the cache was done, s. */
  registryCpuSec: number;
}

export interface MirrorImage {
  key: "big" | "many";
  name: string;
  layerSizes: number[];
  pulls: Record<Phase, Record<RegName, MirrorPull[]>>;
}

export interface MirrorResult {
  /** How Berth is configured as the cache. */
  berthMode: string;
  images: MirrorImage[];
}

export interface MirrorSetup {
  images: { key: "big" | "many"; name: string; layerSizes: number[] }[];
  /** The S3 settings of the run, endpoint = Swift itself (each cache gets a counting proxy in front of it). */
  s3: { endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
  /** Suffix that makes this run's rootdirectories and repository names its own. */
  tag: string;
  startBerth(s3Endpoint: string, rootdirectory: string, vars: Record<string, string>): Promise<Berth>;
  /** Registers a log tail printed if the run fails. */
  diagnostics(name: string, logs: () => string): void;
  timeoutMs: number;
}

/** The operation of a registry API request, for the counting proxies between clients, caches and upstream. */
export function registryOp(method: string, url: URL): string {
  const p = url.pathname;
  if (p === "/v2/" || p === "/v2") return `${method} /v2/`;
  const m = /^\/v2\/.+\/(manifests|blobs)\/([^/]+)$/.exec(p);
  if (m) return m[1] === "blobs" ? `${method} blob` : `${method} manifest by ${/:|%3a/i.test(m[2]!) ? "digest" : "tag"}`;
  if (/^\/v2\/.+\/tags\/list$/.test(p)) return `${method} tags/list`;
  return `${method} other`;
}

interface Cache extends Reg {
  /** Counting proxy from the cache to the upstream. */
  upstream: CountingProxy;
  /** Counting proxy from the client to the cache. */
  front: CountingProxy;
}

const counts = (c: Counters) => Object.fromEntries(Object.entries(c.ops).sort((a, b) => b[1].count - a[1].count).map(([k, v]) => [k, v.count]));

/**
 * Until the cache is done with what came before: its client answers, its upstream fetches (Distribution fetches
 * a missed blob a second time in the background to store it, and that can outlast the client's pull by many
 * seconds under load), then its S3 writes.
 */
async function quiet(reg: Cache, timeoutMs: number): Promise<void> {
  await settle(reg.front);
  await settle(reg.upstream, timeoutMs);
  await settle(reg.proxy, 60_000);
}

async function pullOnce(reg: Cache, ctx: Ctx, repo: string, tag: string, timeoutMs: number): Promise<MirrorPull> {
  await quiet(reg, timeoutMs);
  const [s30, up0, fr0] = [reg.proxy.snapshot(), reg.upstream.snapshot(), reg.front.snapshot()];
  const cpu0 = cpuSeconds(reg.cpuPids());
  const ms = await skopeoPull(reg.url, repo, tag, path.join(ctx.workDir, `mirror-pull-${reg.name}`), timeoutMs);
  // What the cache does after the client has every byte (finishing its writes) belongs to this pull too.
  await quiet(reg, timeoutMs);
  const s3 = diffCounters(reg.proxy.snapshot(), s30);
  const up = diffCounters(reg.upstream.snapshot(), up0);
  const fr = diffCounters(reg.front.snapshot(), fr0);
  return {
    ms,
    upstreamOps: counts(up),
    upstreamRequests: up.total,
    upstreamBytes: Object.values(up.ops).reduce((a, s) => a + s.bytesDown, 0),
    blobBytesThrough: fr.ops["GET blob"]?.bytesDown ?? 0,
    clientOps: counts(fr),
    clientMs: Object.fromEntries(Object.entries(fr.ops).map(([k, v]) => [k, v.ms])),
    s3Requests: registryRequests(s3),
    s3Ops: counts({ ...s3, ops: Object.fromEntries(Object.entries(s3.ops).filter(([k]) => !k.endsWith("(presigned)"))) }),
    presignedBytes: s3.presignedGetBytes,
    registryCpuSec: +(cpuSeconds(reg.cpuPids()) - cpu0).toFixed(2),
  };
}

/** Warm-up + `ctx.rounds` rounds of: fresh images upstream; for each cache, a cold pull, then a warm pull. */
export async function mirrorScenario(setup: MirrorSetup, ctx: Ctx): Promise<MirrorResult> {
  const stops: (() => Promise<void>)[] = [];
  const fsDir = await mkdtemp(path.join(ctx.workDir, "mirror-upstream-"));
  try {
    const upstream = await startDistribution({ rootdirectory: "", filesystem: fsDir });
    stops.push(() => upstream.stop());
    setup.diagnostics("docker-registry (upstream)", upstream.logs);
    const proxy = async (target: string, registry: boolean) => {
      const p = await startCountingProxy(target, registry ? registryOp : undefined);
      stops.push(() => p.close());
      return p;
    };
    const s3B = await proxy(setup.s3.endpoint, false);
    const s3D = await proxy(setup.s3.endpoint, false);
    const upB = await proxy(upstream.url, true);
    const upD = await proxy(upstream.url, true);
    const at = (p: CountingProxy) => `http://127.0.0.1:${p.port}`;
    const berth = await setup.startBerth(at(s3B), `bench-mirror-berth-${setup.tag}`, { REGISTRY_PROXY_REMOTEURL: at(upB) });
    stops.push(() => berth.stop());
    setup.diagnostics("wrangler dev (pull-through)", berth.logs);
    const dist = await startDistribution({ s3: { ...setup.s3, endpoint: at(s3D) }, rootdirectory: `bench-mirror-distribution-${setup.tag}`, proxyRemoteUrl: at(upD) });
    stops.push(() => dist.stop());
    setup.diagnostics("docker-registry (proxy mode)", dist.logs);
    const frB = await proxy(berth.url, true);
    const frD = await proxy(dist.url, true);
    ctx.log(`pull-through: upstream ${upstream.url} (filesystem); Berth ${berth.url} via :${frB.port}, upstream via :${upB.port}; ` +
      `Distribution ${dist.url} via :${frD.port}, upstream via :${upD.port}`);
    const regs: Cache[] = [
      { name: "berth", url: at(frB), proxy: s3B, upstream: upB, front: frB, cpuPids: () => [berth.wranglerPid(), ...berth.workerdPids()] },
      { name: "distribution", url: at(frD), proxy: s3D, upstream: upD, front: frD, cpuPids: () => [dist.pid()] },
    ];

    const res: MirrorResult = {
      berthMode: "REGISTRY_PROXY_REMOTEURL (whole registry a cache; every pull by tag asks the upstream, as Distribution does)",
      images: setup.images.map((i) => ({ ...i, pulls: { cold: { berth: [], distribution: [] }, warm: { berth: [], distribution: [] } } })),
    };
    // The warm-up round (not recorded) pulls one small image of a multipart-sized layer and two 1 MiB ones: it
    // takes each cache's code paths through once (a fetch stored in parts, small fetches, redirects) at a
    // fraction of the time the full images take (the 50-layer cold pull alone is 30-45 s on a loaded machine).
    const biggest = Math.max(...setup.images.flatMap((i) => i.layerSizes));
    const warmUp = { key: "warmup", name: "warm-up image", layerSizes: [Math.min(biggest, 24 * MiB), MiB, MiB] };
    for (let round = 0; round <= ctx.rounds; round++) {
      const label = round === 0 ? "warm-up" : `round ${round}`;
      const batch: { key: string; name: string; layerSizes: number[]; record?: MirrorImage }[] =
        round === 0 ? [warmUp] : res.images.map((i) => ({ ...i, record: i }));
      if (round % 2 === 0) batch.reverse();
      const order = round % 2 === 1 ? regs : [...regs].reverse();
      for (const img of batch) {
        const dir = path.join(ctx.workDir, `mirror-${img.key}-${round}`);
        try {
          const built = await makeImage(dir, `r${round}`, img.layerSizes);
          // A new name each round: nothing of it is in either cache yet.
          const repo = `mirror/${img.key}-${setup.tag}-r${round}`;
          await skopeoPush(dir, built.tag, upstream.url, repo, setup.timeoutMs);
          // Each cache's warm pull right after its own cold one: the same short gap for both (Berth's in-memory
          // link cache holds a link for 60 s; past that a warm pull costs it a HEAD per blob).
          for (const reg of order) {
            for (const phase of ["cold", "warm"] as const) {
              const p = await pullOnce(reg, ctx, repo, built.tag, setup.timeoutMs);
              ctx.log(`pull-through ${img.name} ${label}: ${reg.name} ${phase} pull ${(p.ms / 1000).toFixed(2)} s, ${p.upstreamRequests} upstream requests ` +
                `(${(p.upstreamBytes / MiB).toFixed(1)} MiB), ${(p.blobBytesThrough / MiB).toFixed(1)} MiB of blobs through the registry, ${p.s3Requests} S3 requests`);
              img.record?.pulls[phase][reg.name].push(p);
            }
          }
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
    return res;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(fsDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Summary: the result table's rows, the goal, and per-operation notes.

const pair = (f: (g: RegName) => number | undefined) => ({ berth: f("berth") ?? null, distribution: f("distribution") ?? null });
const med = (xs: MirrorPull[], f: (p: MirrorPull) => number) => (xs.length ? median(xs.map(f)) : undefined);

/** The pull whose upstream request count is the median one (for the per-operation notes). */
const medianPull = (xs: MirrorPull[]) => [...xs].sort((a, b) => a.upstreamRequests - b.upstreamRequests)[(xs.length - 1) >> 1];
const mapOf = (p: MirrorPull | undefined, f: (p: MirrorPull) => Record<string, number>) => (p ? f(p) : undefined);
const opsText = (ops: Record<string, number> | undefined) => (ops ? Object.entries(ops).map(([k, v]) => `${k} ${v}`).join(", ") || "none" : "–");

export function mirrorSummary(m: MirrorResult): { rows: Row[]; goals: Goal[]; notes: string[] } {
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const img of m.images) {
    const P = img.pulls;
    for (const ph of ["cold", "warm"] as const) {
      rows.push({ name: `pull-through ${ph} pull ${img.name}`, unit: "s", ...pair((g) => med(P[ph][g], (p) => p.ms / 1000)), ratio: true, digits: 2 });
    }
    for (const ph of ["cold", "warm"] as const) {
      rows.push({ name: `upstream requests per ${ph} pull ${img.name}`, unit: "", ...pair((g) => med(P[ph][g], (p) => p.upstreamRequests)), ratio: true, digits: 0 });
    }
    rows.push({ name: `registry CPU per cold pull ${img.name}`, unit: "s", ...pair((g) => med(P.cold[g], (p) => p.registryCpuSec)), ratio: true, digits: 2 });
    rows.push({ name: `upstream bytes per cold pull ${img.name}`, unit: "MiB", ...pair((g) => med(P.cold[g], (p) => p.upstreamBytes / MiB)), ratio: true, digits: 1 });
    rows.push({
      name: `blob bytes through the registry per warm pull ${img.name}`,
      unit: "MiB",
      ...pair((g) => (P.warm[g].length ? Math.max(...P.warm[g].map((p) => p.blobBytesThrough)) / MiB : undefined)),
      ratio: false,
      digits: 2,
    });
    rows.push({ name: `S3 requests per warm pull ${img.name}: registry-signed`, unit: "", ...pair((g) => med(P.warm[g], (p) => p.s3Requests)), ratio: true, digits: 0 });
    for (const ph of ["cold", "warm"] as const) {
      const both = (f: (p: MirrorPull) => Record<string, number>) =>
        `Berth: ${opsText(mapOf(medianPull(P[ph].berth), f))} | Distribution: ${opsText(mapOf(medianPull(P[ph].distribution), f))}`;
      notes.push(`pull-through ${img.name} ${ph} pull, upstream requests: ${both((p) => p.upstreamOps)}`);
      notes.push(`pull-through ${img.name} ${ph} pull, registry-signed S3 requests: ${both((p) => p.s3Ops)}`);
      notes.push(`pull-through ${img.name} ${ph} pull, summed answer time per client request kind (ms): ${both((p) => p.clientMs)}`);
    }
  }
  const goals: Goal[] = [];
  const warm = m.images.filter((i) => i.pulls.warm.berth.length > 0);
  if (warm.length) {
    const worst = Math.max(...warm.flatMap((i) => i.pulls.warm.berth.map((p) => p.blobBytesThrough)));
    const via = warm.map((i) => `${i.name}: ${(Math.min(...i.pulls.warm.berth.map((p) => p.presignedBytes)) / MiB).toFixed(1)} MiB presigned`).join("; ");
    goals.push({ goal: "0 blob bytes through the Worker on warm pull-through pulls", measured: `${worst} bytes (${via})`, pass: worst === 0 });
  }
  return { rows, goals, notes };
}
