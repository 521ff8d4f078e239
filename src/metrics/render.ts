// The Prometheus text exposition format (version 0.0.4) of the aggregate: for each metric of the catalog, in
// its order, `# HELP` and `# TYPE`, then its series sorted by labels (a histogram's buckets in increasing `le`,
// then `_sum` and `_count`). A counter without labels that nothing has counted yet shows 0, so a scraper sees
// every such series from the first scrape on.

import { METRICS, type GaugeName, type LabelsOf } from "./catalog";
import { seriesKey, type MetricsBatch } from "./tally";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A value as the text format writes it. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
}

/** Splits a series key into its metric name and label text ("" when none). */
function splitKey(key: string): { name: string; labels: string } {
  const i = key.indexOf("{");
  return i < 0 ? { name: key, labels: "" } : { name: key.slice(0, i), labels: key.slice(i) };
}

/** Sort order inside a family: labels without `le`, then the suffix (_bucket, _sum, _count), then `le`. */
function sortKey(key: string, family: string): [string, number, number] {
  const { name, labels } = splitKey(key);
  const le = /(?:^\{|,)le="([^"]*)"\}$/.exec(labels);
  const base = le ? labels.slice(0, le.index) + (le.index === 0 ? "" : "}") : labels;
  const suffix = name === `${family}_bucket` ? 0 : name === `${family}_sum` ? 1 : name === `${family}_count` ? 2 : 0;
  const bound = le ? (le[1] === "+Inf" ? Infinity : Number(le[1])) : 0;
  return [base, suffix, bound];
}

function compare(family: string) {
  return (a: string, b: string): number => {
    const [ab, as, al] = sortKey(a, family);
    const [bb, bs, bl] = sortKey(b, family);
    return ab < bb ? -1 : ab > bb ? 1 : as - bs || al - bl;
  };
}

/** A gauge's current value for the scrape (read from its owner at scrape time, not aggregated). */
export interface GaugeValue<N extends GaugeName = GaugeName> {
  name: N;
  labels: LabelsOf<N>;
  value: number;
}

export function gaugeSeries(values: readonly GaugeValue[]): MetricsBatch {
  const out: MetricsBatch = {};
  for (const g of values) out[seriesKey(g.name, g.labels)] = g.value;
  return out;
}

/** The whole exposition: every series of `series` that belongs to a metric of the catalog. */
export function renderPrometheus(series: MetricsBatch): string {
  const byFamily = new Map<string, string[]>();
  for (const key of Object.keys(series)) {
    const { name } = splitKey(key);
    const family = METRICS.find((m) => m.name === name || (m.type === "histogram" && /^(.*)_(bucket|sum|count)$/.exec(name)?.[1] === m.name));
    if (!family) continue;
    byFamily.set(family.name, [...(byFamily.get(family.name) ?? []), key]);
  }
  const lines: string[] = [];
  for (const m of METRICS) {
    lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    const keys = byFamily.get(m.name) ?? [];
    if (keys.length === 0 && m.type === "counter" && m.labels.length === 0) lines.push(`${m.name} 0`);
    for (const key of keys.sort(compare(m.name))) lines.push(`${key} ${formatValue(series[key]!)}`);
  }
  return `${lines.join("\n")}\n`;
}
