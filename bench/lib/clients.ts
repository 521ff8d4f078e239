// The clients the benchmark drives, timed from outside: skopeo push (OCI layout → registry, digests preserved)
// and pull (registry → dir:), and `hey` (HTTP load generator, Debian package) with its summary parsed.
import { rm } from "node:fs/promises";
import { run } from "./proc.ts";

/** "127.0.0.1:PORT" of a base URL. */
const hostOf = (base: string) => new URL(base).host;

/** skopeo copy oci:DIR:TAG → docker://REGISTRY/REPO:TAG; returns wall time in ms. */
export async function skopeoPush(layoutDir: string, tag: string, registry: string, repo: string, timeoutMs: number): Promise<number> {
  const r = await run(
    "skopeo",
    ["copy", "--quiet", "--retry-times", "0", "--preserve-digests", "--dest-tls-verify=false", `oci:${layoutDir}:${tag}`, `docker://${hostOf(registry)}/${repo}:${tag}`],
    { timeoutMs },
  );
  if (r.code !== 0) throw new Error(`skopeo push to ${registry}/${repo}:${tag} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  return r.ms;
}

/** skopeo copy docker://REGISTRY/REPO:TAG → dir:OUT (verifies every digest); removes OUT; returns wall time in ms. */
export async function skopeoPull(registry: string, repo: string, tag: string, outDir: string, timeoutMs: number): Promise<number> {
  try {
    const r = await run(
      "skopeo",
      ["copy", "--quiet", "--retry-times", "0", "--src-tls-verify=false", `docker://${hostOf(registry)}/${repo}:${tag}`, `dir:${outDir}`],
      { timeoutMs },
    );
    if (r.code !== 0) throw new Error(`skopeo pull from ${registry}/${repo}:${tag} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
    return r.ms;
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

export interface HeyResult {
  requests: number;
  concurrency: number;
  totalSec: number;
  rps: number;
  /** Latencies in ms by percentile (10, 25, 50, 75, 90, 95, 99). */
  pct: Record<string, number>;
  avgMs: number;
  statuses: Record<string, number>;
  errors: string[];
}

/** Parses hey's default summary output. */
export function parseHey(out: string, requests: number, concurrency: number): HeyResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const pct: Record<string, number> = {};
  for (const m of out.matchAll(/^\s*(\d+)% in ([\d.]+) secs/gm)) pct[m[1]!] = Number(m[2]) * 1000;
  const statuses: Record<string, number> = {};
  const statusBlock = /Status code distribution:\n([\s\S]*?)(?:\n\n|$)/.exec(out)?.[1] ?? "";
  for (const m of statusBlock.matchAll(/\[(\d+)\]\s+(\d+) responses/g)) statuses[m[1]!] = Number(m[2]);
  const errBlock = /Error distribution:\n([\s\S]*?)(?:\n\n|$)/.exec(out)?.[1] ?? "";
  const errors = errBlock.split("\n").map((s) => s.trim()).filter(Boolean);
  return {
    requests,
    concurrency,
    totalSec: num(/Total:\s+([\d.]+) secs/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    avgMs: num(/Average:\s+([\d.]+) secs/) * 1000,
    pct,
    statuses,
    errors,
  };
}

/** Runs `hey -n N -c C [-m METHOD] [-H h]... URL` (redirects followed, like a client would) and parses it. */
export async function hey(url: string, o: { n: number; c: number; method?: string; headers?: string[]; timeoutMs: number }): Promise<HeyResult> {
  const args = ["-n", String(o.n), "-c", String(o.c), "-t", "30"];
  if (o.method) args.push("-m", o.method);
  for (const h of o.headers ?? []) args.push("-H", h);
  args.push(url);
  const r = await run("hey", args, { timeoutMs: o.timeoutMs });
  if (r.code !== 0) throw new Error(`hey ${args.join(" ")}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
  const res = parseHey(r.stdout, o.n, o.c);
  const ok = Object.entries(res.statuses).reduce((a, [s, n]) => a + (s === "200" ? n : 0), 0);
  if (ok !== o.n || res.errors.length > 0 || Number.isNaN(res.pct["50"])) {
    throw new Error(`hey ${url}: expected ${o.n} × 200, got ${JSON.stringify(res.statuses)} ${res.errors.slice(0, 3).join("; ")}\n${r.stdout.slice(-1500)}`);
  }
  return res;
}
