// Turns the raw measurements (every round, every S3 operation) into the result table's rows — medians per
// registry — and evaluates the goals of issue 4. Also defines the shape of the JSON written to bench/results/.
import { MiB, median, ratioGoal, type Goal, type Row } from "./report.ts";
import type { NotifyResults } from "./notify.ts";
import type { GcResult, GcRun } from "./gc.ts";
import { mirrorSummary, type MirrorResult } from "./mirror.ts";
import type { EdgeResult } from "./edge.ts";
import type { Counters } from "./s3proxy.ts";
import type { LatencyRun, OpResult, PushPull, RegName } from "./scenarios.ts";

export interface Results {
  meta: {
    startedAt: string;
    durationSec: number;
    git: { commit: string; dirtySrc: boolean };
    machine: { cpus: number; memGiB: number; loadavgStart: number[]; loadavgEnd: number[] };
    versions: Record<string, string>;
    options: Record<string, unknown>;
  };
  pushPull: { big?: PushPull; huge?: PushPull; many?: PushPull };
  latency: { manifest?: Record<string, Record<RegName, LatencyRun[]>>; blobHead?: Record<string, Record<RegName, LatencyRun[]>> };
  checks: Partial<Record<RegName, Record<string, unknown>>>;
  /** Berth with one notification endpoint vs without (same run). */
  notify?: NotifyResults;
  /** The data center's cache: S3 requests from a fresh isolate. */
  edge?: EdgeResult;
  /** Pull-through: Berth and Distribution caching the same upstream. */
  mirror?: MirrorResult;
  gc?: GcResult;
  rows?: Row[];
  goals?: Goal[];
  notes?: string[];
}

type Pair = Record<RegName, number | undefined>;

const med = (xs: OpResult[] | undefined, f: (o: OpResult) => number): number | undefined =>
  xs && xs.length > 0 ? median(xs.map(f)) : undefined;
const max = (xs: OpResult[] | undefined, f: (o: OpResult) => number): number | undefined =>
  xs && xs.length > 0 ? Math.max(...xs.map(f)) : undefined;
/** The median of `xs`; undefined when there is none. */
const medianOr = (xs: number[] | undefined): number | undefined => (xs && xs.length > 0 ? median(xs) : undefined);
const pair = (f: (r: RegName) => number | undefined): Pair => ({ berth: f("berth"), distribution: f("distribution") });
const row = (name: string, unit: string, p: Pair, ratio = true, digits = 2): Row => ({
  name,
  unit,
  berth: p.berth ?? null,
  distribution: p.distribution ?? null,
  ratio,
  digits,
});

export const presignedCount = (c: Counters) => Object.entries(c.ops).filter(([k]) => k.endsWith("(presigned)")).reduce((a, [, s]) => a + s.count, 0);
/** Blob bytes the client got from somewhere other than presigned S3 URLs, i.e. through the registry. */
/** Blob bytes (layers, config: not the manifest) the registry itself read from S3 during pull `i`. */
const registryBlobBytes = (pp: PushPull, o: OpResult, i: number) =>
  Object.entries(o.s3.registryBlobReads)
    .filter(([hex]) => `sha256:${hex}` !== pp.manifests[i])
    .reduce((a, [, n]) => a + n, 0);
const viaRegistry = (pp: PushPull, o: OpResult) =>
  Math.max(0, pp.layerSizes.reduce((a, b) => a + b, 0) - o.s3.presignedGetBytes);

/** The op breakdown of the round whose registry-signed request count is the median one. */
export function medianRoundOps(xs: OpResult[]): Record<string, number> {
  if (xs.length === 0) return {};
  const sorted = [...xs].sort((a, b) => a.registryRequests - b.registryRequests);
  const m = sorted[(sorted.length - 1) >> 1]!;
  return Object.fromEntries(Object.entries(m.s3.ops).sort((a, b) => b[1].count - a[1].count).map(([k, v]) => [k, v.count]));
}

function opsText(ops: Record<string, number>, per = 1): string {
  return Object.entries(ops)
    .filter(([k]) => !k.endsWith("(presigned)"))
    .map(([k, v]) => `${k} ${+(v / per).toFixed(2)}`)
    .join(", ");
}

/** "UploadPart 26 [3.5 s], HeadObject 9 (7 × 4xx), …" for one operation's S3 traffic, counts ÷ per. */
function opsDetail(o: OpResult | undefined, per = 1): string {
  if (!o) return "–";
  const f = (x: number) => String(+(x / per).toFixed(2));
  return Object.entries(o.s3.ops)
    .sort((a, b) => b[1].count - a[1].count)
    .map(([k, v]) => {
      const t = o.timeline[k];
      const when = t && per === 1 ? `; ${t.first}–${t.last} s, ≤ ${t.maxConcurrent} at once` : "";
      return `${k} ${f(v.count)}${v.errors ? ` (${f(v.errors)} × 4xx)` : ""}${v.ms >= 1000 * per ? ` [${(v.ms / 1000 / per).toFixed(1)} s${when}]` : ""}`;
    })
    .join(", ");
}

/** The round whose registry-signed request count is the median. */
function medianRound(xs: OpResult[]): OpResult | undefined {
  return [...xs].sort((a, b) => a.registryRequests - b.registryRequests)[(xs.length - 1) >> 1];
}

/** Per-operation S3 breakdowns (median round), for finding what dominates. */
export function notes(r: Results): string[] {
  const out: string[] = [];
  const both = (label: string, f: (g: RegName) => string) => out.push(`${label}: Berth: ${f("berth")} | Distribution: ${f("distribution")}`);
  const { big, huge, many } = r.pushPull;
  if (many) both(`${many.name} push, per layer`, (g) => opsDetail(medianRound(many.push[g]), many.layerSizes.length));
  for (const p of [big, huge]) if (p) both(`${p.name} push`, (g) => opsDetail(medianRound(p.push[g])));
  for (const p of [big, huge, many]) if (p) both(`${p.name} pull`, (g) => opsDetail(medianRound(p.pull[g])));
  for (const [key, label] of [["manifest", "manifest GET by tag"], ["blobHead", "blob HEAD"]] as const) {
    const c1 = r.latency[key]?.["c1"];
    if (c1) both(`${label} (c=1), per request`, (g) => opsDetail(medianRound(c1[g].map((x) => x.op)), c1[g][0]?.hey.requests ?? 1));
  }
  if (r.mirror) out.push(...mirrorSummary(r.mirror).notes);
  const gc = r.gc;
  if (gc) both(`garbage collection (real run), per 1,000 blobs walked`, (g) => opsDetail(medianRound(gc.runs[g]), gc.blobs / 1000));
  return out;
}

export function summarize(r: Results): { rows: Row[]; goals: Goal[] } {
  const rows: Row[] = [];
  const goals: Goal[] = [];
  const { big, huge, many } = r.pushPull;

  const pp = (p: PushPull | undefined, label: string) => {
    if (!p) return;
    rows.push(row(`push ${label}`, "s", pair((g) => med(p.push[g], (o) => o.ms / 1000))));
    rows.push(row(`pull ${label}`, "s", pair((g) => med(p.pull[g], (o) => o.ms / 1000))));
  };
  pp(big, `1 × ${big?.name}`);
  pp(huge, `1 × ${huge?.name}`);
  pp(many, many?.name ?? "");

  // S3 traffic
  if (many) {
    const n = many.layerSizes.length;
    rows.push(row(`S3 requests per blob pushed (${many.name} push ÷ ${n})`, "", pair((g) => med(many.push[g], (o) => o.registryRequests / n))));
  }
  for (const p of [big, huge]) {
    if (!p) continue;
    rows.push(row(`S3 requests per ${p.name} push`, "", pair((g) => med(p.push[g], (o) => o.registryRequests)), true, 0));
  }
  for (const p of [big, huge, many]) {
    if (!p) continue;
    rows.push(row(`S3 requests per ${p.name} pull: registry-signed`, "", pair((g) => med(p.pull[g], (o) => o.registryRequests)), true, 0));
    rows.push(row(`S3 requests per ${p.name} pull: presigned (client)`, "", pair((g) => med(p.pull[g], (o) => presignedCount(o.s3))), true, 0));
  }
  for (const p of [big, huge, many]) {
    if (!p) continue;
    // Both views: blob bytes the registry read from S3 itself, and layer bytes the client did not get from
    // presigned URLs (so must have come through the registry). Either would be a Worker-streamed pull.
    rows.push(row(`blob bytes through the registry per ${p.name} pull`, "MiB",
      pair((g) => (p.pull[g].length ? Math.max(...p.pull[g].map((o, i) => Math.max(registryBlobBytes(p, o, i), viaRegistry(p, o)) / MiB)) : undefined)), false));
  }

  // Latency
  const lat = (name: string, key: "manifest" | "blobHead") => {
    const L = r.latency[key];
    if (!L) return;
    for (const [lvl, runs] of Object.entries(L)) {
      const c = lvl.slice(1);
      const f = (g: RegName, k: (x: LatencyRun) => number) => (runs[g].length ? median(runs[g].map(k)) : undefined);
      rows.push(row(`${name} p50, c=${c}`, "ms", pair((g) => f(g, (x) => x.hey.pct["50"] ?? NaN))));
      rows.push(row(`${name} p99, c=${c}`, "ms", pair((g) => f(g, (x) => x.hey.pct["99"] ?? NaN))));
      rows.push(row(`${name} throughput, c=${c}`, "req/s", pair((g) => f(g, (x) => x.hey.rps)), true, 0));
    }
    const c1 = L["c1"];
    if (c1) {
      // Registry-signed + presigned (a redirected HEAD costs the client a presigned HEAD on S3).
      rows.push(row(`S3 requests per ${name}`, "", pair((g) => (c1[g].length ? median(c1[g].map((x) => x.s3PerRequest + x.presignedPerRequest)) : undefined))));
    }
  };
  lat("manifest GET by tag", "manifest");
  lat("blob HEAD", "blobHead");
  if (r.checks.berth) {
    rows.push(row("blob HEAD status (redirects not followed)", "", pair((g) => r.checks[g]?.blobHeadStatus as number | undefined), false, 0));
  }

  // The data center's cache, from a fresh isolate.
  const edge = r.edge;
  if (edge) {
    rows.push(row("S3 requests per manifest GET by digest, fresh isolate, warm data-center cache", "", pair((g) => medianOr(edge.manifest[g]))));
    rows.push(row("S3 requests per blob HEAD, fresh isolate, warm data-center cache", "", pair((g) => medianOr(edge.blobHead[g]))));
  }

  // Pull-through cache: both registries caching the same upstream.
  const mirror = r.mirror ? mirrorSummary(r.mirror) : undefined;
  if (mirror) rows.push(...mirror.rows);

  // Garbage collection: a real run on each registry's copy of the same layout.
  const gc = r.gc;
  if (gc) {
    const label = `${gc.blobs} blobs, ${gc.repositories} repositories, ${gc.garbage} swept`;
    const perK = (g: RegName, f: (o: GcRun) => number) => (gc.runs[g].length ? median(gc.runs[g].map((o) => f(o) / (o.blobsWalked / 1000))) : undefined);
    rows.push(row(`GC wall time per 1,000 blobs walked (${label})`, "s", pair((g) => perK(g, (o) => o.ms / 1000))));
    rows.push(row("GC S3 requests per 1,000 blobs walked", "", pair((g) => perK(g, (o) => o.registryRequests)), true, 0));
    rows.push(row("GC S3 server CPU per 1,000 blobs walked", "s", pair((g) => perK(g, (o) => o.s3CpuSec))));
  }

  // Memory and CPU
  for (const p of [big, huge]) {
    if (!p) continue;
    rows.push(row(`peak RSS during ${p.name} push (Worker's workerd / docker-registry)`, "MiB", pair((g) => max(p.push[g], (o) => (o.rss?.peakRss ?? NaN) / MiB)), false, 0));
    rows.push(row(`peak RSS during ${p.name} push, + wrangler's proxy workerd`, "MiB", { berth: max(p.push.berth, (o) => (o.rss?.peakSum ?? NaN) / MiB), distribution: undefined }, false, 0));
  }
  for (const p of [big, huge, many]) {
    if (!p) continue;
    rows.push(row(`registry CPU per ${p.name} push`, "s", pair((g) => med(p.push[g], (o) => o.registryCpuSec))));
    rows.push(row(`S3 server CPU per ${p.name} push`, "s", pair((g) => med(p.push[g], (o) => o.s3CpuSec))));
  }

  // Notifications: both numbers are Berth's (the second column stays empty).
  const nt = r.notify;
  if (nt) {
    for (const k of ["off", "on"] as const) {
      rows.push(row(`Berth push ${nt.layers}×1 MiB, notifications ${k}`, "s", { berth: (medianOr(nt.push[k]) ?? NaN) / 1000, distribution: undefined }, false));
      rows.push(row(`Berth manifest PUT p50 (of ${nt.puts}), notifications ${k}`, "ms", { berth: medianOr(nt.manifestPut[k]), distribution: undefined }, false));
    }
  }

  // Goals
  const m = (p: PushPull | undefined, k: "push" | "pull", g: RegName) => (p ? med(p[k][g], (o) => o.ms / 1000) : undefined);
  for (const p of [big, huge]) {
    if (p) goals.push(ratioGoal(`${p.name} push ≤ 0.5× Distribution`, m(p, "push", "berth"), m(p, "push", "distribution"), 0.5, "s"));
  }
  if (many) goals.push(ratioGoal(`${many.name} push ≤ 0.5× Distribution`, m(many, "push", "berth"), m(many, "push", "distribution"), 0.5, "s"));
  for (const p of [big, huge, many]) {
    if (p) goals.push(ratioGoal(`${p.name} pull ≤ 1.0× Distribution`, m(p, "pull", "berth"), m(p, "pull", "distribution"), 1.0, "s"));
  }
  const pulls = [big, huge, many].filter((p): p is PushPull => !!p && p.pull.berth.length > 0);
  if (pulls.length) {
    const worst = Math.max(...pulls.flatMap((p) => p.pull.berth.map((o, i) => Math.max(registryBlobBytes(p, o, i), viaRegistry(p, o)))));
    const pres = pulls.map((p) => `${p.name}: ${(Math.min(...p.pull.berth.map((o) => o.s3.presignedGetBytes)) / MiB).toFixed(1)} MiB presigned`).join("; ");
    goals.push({ goal: "0 blob bytes through the Worker on pulls", measured: `${worst} bytes (${pres})`, pass: worst === 0 });
  }
  if (many) {
    const n = many.layerSizes.length;
    const b = med(many.push.berth, (o) => o.registryRequests / n);
    const d = med(many.push.distribution, (o) => o.registryRequests / n);
    goals.push({
      goal: "≤ 8 S3 requests per blob pushed",
      measured: `${b?.toFixed(2)} (Distribution ${d?.toFixed(2)}); Berth: ${opsText(medianRoundOps(many.push.berth), n)}`,
      pass: b === undefined ? null : b <= 8,
    });
  }
  const mc1 = r.latency.manifest?.["c1"];
  if (mc1?.berth.length) {
    const b = median(mc1.berth.map((x) => x.s3PerRequest));
    const d = median(mc1.distribution.map((x) => x.s3PerRequest));
    goals.push({ goal: "≤ 2 S3 requests per manifest GET by tag", measured: `${b.toFixed(2)} (Distribution ${d.toFixed(2)}); Berth: ${opsText(medianRoundOps(mc1.berth.map((x) => x.op)), mc1.berth[0]!.hey.requests)}`, pass: b <= 2 });
  }
  const hs = r.checks.berth?.blobHeadStatus as number | undefined;
  if (hs !== undefined) {
    goals.push({ goal: "blob HEAD answered without a redirect", measured: `Berth ${hs}, Distribution ${r.checks.distribution?.blobHeadStatus}`, pass: hs === 200 });
  }
  for (const c of ["1", "32"]) {
    const L = r.latency.manifest?.[`c${c}`];
    if (!L) continue;
    goals.push(ratioGoal(`manifest GET p50 ≤ 1.0× at c=${c}`, median(L.berth.map((x) => x.hey.pct["50"] ?? NaN)), median(L.distribution.map((x) => x.hey.pct["50"] ?? NaN)), 1.0, "ms"));
  }
  const peak = (p: PushPull | undefined) => max(p?.push.berth, (o) => o.rss?.peakRss ?? NaN);
  const anon = (p: PushPull | undefined) => max(p?.push.berth, (o) => o.rss?.peakAnon ?? NaN) ?? NaN;
  const p256 = peak(big);
  const p1g = peak(huge);
  goals.push(
    p256 !== undefined && p1g !== undefined
      ? {
          goal: `Worker peak RSS flat in layer size (${huge!.name} ≤ ${big!.name} + 32 MiB)`,
          measured: `${(p1g / MiB).toFixed(0)} MiB vs ${(p256 / MiB).toFixed(0)} MiB (anonymous memory ${(anon(huge) / MiB).toFixed(0)} vs ${(anon(big) / MiB).toFixed(0)} MiB; fresh workerd per push)`,
          pass: p1g <= p256 + 32 * MiB,
        }
      : { goal: "Worker peak RSS flat in layer size", measured: "needs the big-layer and --big runs", pass: null },
  );
  if (nt) {
    goals.push(ratioGoal("manifest PUT with notifications (1 endpoint) ≤ 1.1× without", medianOr(nt.manifestPut.on), medianOr(nt.manifestPut.off), 1.1, "ms"));
    goals.push(ratioGoal("push with notifications (1 endpoint) ≤ 1.1× without", medianOr(nt.push.on), medianOr(nt.push.off), 1.1, "ms"));
  }
  if (edge) {
    const bad = edge.statuses.berth.filter((s) => s !== 200);
    for (const [k, label] of [["manifest", "manifest GET by digest"], ["blobHead", "blob HEAD"]] as const) {
      const b = medianOr(edge[k].berth);
      goals.push({
        goal: `0 S3 requests per ${label} from a fresh isolate (warm data-center cache)`,
        measured: `${b?.toFixed(2)} (Distribution ${medianOr(edge[k].distribution)?.toFixed(2)}; rounds: ${edge[k].berth.map((x) => +x.toFixed(2)).join(", ")})${bad.length ? `; ${bad.length} answers not 200: ${[...new Set(bad)].join(",")}` : ""}`,
        pass: b === undefined || bad.length > 0 ? null : b === 0,
      });
    }
  }
  if (mirror) goals.push(...mirror.goals);
  return { rows, goals };
}
