// The cost of notifications, measured in the same run: a second Berth with one endpoint configured
// (REGISTRY_NOTIFICATIONS, Distribution format) pointing at a receiver on 127.0.0.1 that answers 204, against
// the run's Berth without notifications. Skopeo push time of a small image (fresh random layers per round)
// and the latency of manifest PUTs by tag, sequential, from Node's fetch. Rounds alternate which registry
// goes first. The receiver's event count is checked, so a run that measured nothing fails loudly.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { skopeoPush } from "./clients.ts";
import { makeImage } from "./oci.ts";
import { MiB, median } from "./report.ts";

export interface NotifyResults {
  /** Push wall time (ms) per measured round. */
  push: { off: number[]; on: number[] };
  /** Median manifest PUT latency (ms) per measured round. */
  manifestPut: { off: number[]; on: number[] };
  /** Events the receiver got. */
  received: number;
  layers: number;
  puts: number;
}

export interface NotifyOptions {
  workDir: string;
  rounds: number;
  puts: number;
  layers: number;
  timeoutMs: number;
  log: (m: string) => void;
  /** Starts Berth with these extra vars (the run's storage settings, its own rootdirectory). */
  start: (vars: Record<string, string>) => Promise<{ url: string; stop(): Promise<void> }>;
  off: string;
}

async function putLatencies(base: string, repo: string, manifest: Uint8Array, mediaType: string, n: number, round: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/v2/${repo}/manifests/r${round}-${i}`, { method: "PUT", headers: { "Content-Type": mediaType }, body: manifest, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`manifest PUT to ${base}: HTTP ${res.status}`);
    ms.push(performance.now() - t);
  }
  return median(ms);
}

export async function notifyOverhead(o: NotifyOptions): Promise<NotifyResults> {
  let received = 0;
  const server = createServer((rq, rs) => {
    const chunks: Buffer[] = [];
    rq.on("data", (c: Buffer) => chunks.push(c));
    rq.on("end", () => {
      try {
        received += (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: unknown[] }).events.length;
      } catch {
        // counted as nothing
      }
      rs.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  const on = await o.start({ REGISTRY_NOTIFICATIONS: JSON.stringify({ endpoints: [{ name: "bench", url, timeout: "5s" }] }) });
  try {
    const out: NotifyResults = { push: { off: [], on: [] }, manifestPut: { off: [], on: [] }, received: 0, layers: o.layers, puts: o.puts };
    const regs = [
      { key: "off" as const, url: o.off },
      { key: "on" as const, url: on.url },
    ];
    for (let round = 0; round <= o.rounds; round++) {
      const img = await makeImage(path.join(o.workDir, `notify-${round}`), "v1", Array.from({ length: o.layers }, () => MiB));
      const manifest = new Uint8Array(await readFile(path.join(img.dir, "blobs", "sha256", img.manifestDigest.slice(7))));
      const order = round % 2 === 0 ? regs : [...regs].reverse();
      for (const reg of order) {
        const pushMs = await skopeoPush(img.dir, "v1", reg.url, `bench/notify-${round}`, o.timeoutMs);
        const putMs = await putLatencies(reg.url, `bench/notify-${round}`, manifest, "application/vnd.oci.image.manifest.v1+json", o.puts, round);
        if (round === 0) continue; // warm-up
        out.push[reg.key].push(pushMs);
        out.manifestPut[reg.key].push(putMs);
      }
      o.log(`notifications round ${round}${round === 0 ? " (warm-up)" : ""}: done`);
    }
    // Every push is 1 + layers + 1 events, every PUT one: wait (bounded) for the receiver to have them all.
    const want = (o.rounds + 1) * (o.layers + 2 + o.puts);
    for (let i = 0; i < 100 && received < want; i++) await new Promise((r) => setTimeout(r, 100));
    out.received = received;
    if (received < want) throw new Error(`notifications bench: the receiver got ${received} of ${want} events`);
    return out;
  } finally {
    await on.stop();
    await new Promise((resolve) => server.close(resolve));
  }
}
