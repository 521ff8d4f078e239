// Statistics and presentation of the benchmark: medians/percentiles, the result table (aligned plain text for
// stdout, markdown for bench/results/latest.md) and the goals of issue 4 evaluated as PASS / MISS.

export const MiB = 1024 * 1024;

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One line of the table: a value for each registry and, when meaningful, their ratio. */
export interface Row {
  name: string;
  unit: string;
  berth: number | string | null;
  distribution: number | string | null;
  /** Show Berth/Distribution (for times, counts, latencies). */
  ratio?: boolean;
  digits?: number;
}

export interface Goal {
  goal: string;
  measured: string;
  /** null: not measured in this run (e.g. --no-big). */
  pass: boolean | null;
}

function fmtNum(v: number | string | null, digits = 2): string {
  if (v === null) return "–";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return "n/a";
  if (Number.isInteger(v) && digits <= 2 && Math.abs(v) >= 100) return String(v);
  return v.toFixed(digits);
}

export function ratioOf(r: Row): string {
  if (!r.ratio || typeof r.berth !== "number" || typeof r.distribution !== "number") return "";
  if (r.distribution === 0) return r.berth === 0 ? "1.00" : "∞";
  return (r.berth / r.distribution).toFixed(2);
}

function cells(rows: Row[]): string[][] {
  return rows.map((r) => [`${r.name}${r.unit ? ` (${r.unit})` : ""}`, fmtNum(r.berth, r.digits), fmtNum(r.distribution, r.digits), ratioOf(r)]);
}

const HEAD = ["Measurement", "Berth", "Distribution", "Berth/Dist"];

/** Aligned plain-text table: first column left-aligned, numbers right-aligned. */
export function renderPlain(rows: Row[], goals: Goal[], notes: string[] = []): string {
  const body = cells(rows);
  const all = [HEAD, ...body];
  const w = HEAD.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("   ").trimEnd();
  const out = [line(HEAD), w.map((n) => "-".repeat(n)).join("   "), ...body.map(line), "", "Goals (issue 4):"];
  const gw = Math.max(...goals.map((g) => [...g.goal].length));
  for (const g of goals) out.push(`  ${g.pass === null ? "SKIP" : g.pass ? "PASS" : "MISS"}  ${g.goal.padEnd(gw)}  ${g.measured}`);
  if (notes.length) out.push("", "S3 operations (median round; (n × 4xx) = error answers, [s] = summed request time; from–to s after the client started, peak concurrency):", ...notes.map((n) => `  ${n}`));
  return out.join("\n");
}

export function renderMarkdown(rows: Row[], goals: Goal[], preamble: string, notes: string[] = []): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const out = [preamble, "", `| ${HEAD.join(" | ")} |`, "|---|---:|---:|---:|"];
  for (const c of cells(rows)) out.push(`| ${c.map(esc).join(" | ")} |`);
  out.push("", "| Goal | Result | Measured |", "|---|---|---|");
  for (const g of goals) out.push(`| ${esc(g.goal)} | ${g.pass === null ? "SKIP" : g.pass ? "**PASS**" : "**MISS**"} | ${esc(g.measured)} |`);
  if (notes.length) {
    out.push("", "S3 operations (median round; (n × 4xx) = error answers, [s] = summed request time; from–to s after the client started, peak concurrency):", "");
    for (const n of notes) out.push(`- ${n}`);
  }
  return out.join("\n") + "\n";
}

const r2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");

/** Goal "Berth ≤ limit × Distribution" on a pair of medians. */
export function ratioGoal(goal: string, berth: number | undefined, dist: number | undefined, limit: number, unit: string): Goal {
  if (berth === undefined || dist === undefined) return { goal, measured: "not measured", pass: null };
  const ratio = berth / dist;
  return { goal, measured: `${r2(ratio)}× (${r2(berth)} vs ${r2(dist)} ${unit})`, pass: ratio <= limit };
}
