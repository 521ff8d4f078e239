// The benchmark's garbage-collection scenario: a registry of `repos` repositories (200 by default, 11 blobs
// each plus 20 shared base layers: 2,220 blobs) in Distribution's bucket layout, written straight to S3 (not
// through a registry, not counted) twice per round, once under Berth's rootdirectory and once under
// Distribution's, byte for byte the same: tagged manifests sharing base layers, manifests deleted (as
// Distribution's DELETE leaves them: revision link and tag gone, blobs still there) and uploads never used.
// Then each collector makes a real run on its copy through its counting proxy: Berth's through the admin API
// (POST /v2/_berth/ext/gc, polled until done), Distribution's as `docker-registry garbage-collect`. Both must
// sweep exactly the blobs the layout makes garbage, or the round fails. A real run changes its copy, so each
// round writes both copies afresh (random bytes) and wipes them before the next: every run walks and deletes
// the same amount. Writing 2 × 5,520 small objects to Swift takes minutes on 2 cores, hence one round by default.
import { createHash, randomBytes } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { garbageCollect, type DistributionOptions } from "./distribution.ts";
import { sleep } from "./proc.ts";
import { measured, type Ctx, type OpResult, type Reg, type RegName } from "./scenarios.ts";

export interface GcRun extends OpResult {
  blobsWalked: number;
  blobsSwept: number;
  /** Berth: the steps (alarms) the run took; Distribution: 1. */
  steps: number;
}

export interface GcResult {
  repositories: number;
  blobs: number;
  manifests: number;
  /** Blobs each run must sweep. */
  garbage: number;
  /** Objects written per copy (blob data and links). */
  objects: number;
  runs: Record<RegName, GcRun[]>;
}

export interface GcSetup {
  /** Berth's instance for this scenario (BERTH_GC_DELAY=0) and its rootdirectory. */
  berth: Reg;
  berthRoot: string;
  /** Distribution's proxy and settings for `garbage-collect`; its rootdirectory is the other copy. */
  distribution: Reg;
  distOptions: DistributionOptions;
  /** Swift itself (populating and wiping bypass the counting proxies). */
  s3: { endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
}

const BASE_LAYERS = 20;
const TAGS = 3;
const LOOSE = 2;
const WRITE_CONCURRENCY = 32;
/** S3's LastModified may be whole seconds: the runs (BERTH_GC_DELAY=0) start this long after the last write. */
const SETTLE_MS = 2_000;

interface Layout {
  /** Key below the rootdirectory -> bytes. */
  objects: Map<string, Uint8Array>;
  blobs: number;
  manifests: number;
  garbage: number;
}

const hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const enc = (s: string) => new TextEncoder().encode(s);

/** A fresh registry in Distribution's layout: keys relative to the rootdirectory. */
function layout(repos: number): Layout {
  const objects = new Map<string, Uint8Array>();
  let blobs = 0;
  let garbage = 0;
  let manifests = 0;
  const v2 = "docker/registry/v2";
  const blob = (bytes: Uint8Array) => {
    const h = hex(bytes);
    if (!objects.has(`${v2}/blobs/sha256/${h.slice(0, 2)}/${h}/data`)) blobs++;
    objects.set(`${v2}/blobs/sha256/${h.slice(0, 2)}/${h}/data`, bytes);
    return h;
  };
  const link = (key: string, h: string) => objects.set(`${v2}/repositories/${key}`, enc(`sha256:${h}`));
  const base = Array.from({ length: BASE_LAYERS }, () => ({ h: blob(randomBytes(512)), size: 512 }));
  for (let r = 0; r < repos; r++) {
    const repo = `gc/r${String(r).padStart(3, "0")}`;
    const layer = (h: string) => link(`${repo}/_layers/sha256/${h}/link`, h);
    for (let t = 0; t < TAGS; t++) {
      const cfg = enc(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, n: randomBytes(8).toString("hex") }));
      const own = randomBytes(256);
      const parts = [{ h: blob(cfg), size: cfg.length }, base[r % BASE_LAYERS]!, { h: blob(own), size: own.length }];
      const m = enc(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${parts[0]!.h}`, size: parts[0]!.size },
          layers: parts.slice(1).map((p) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${p.h}`, size: p.size })),
        }),
      );
      const mh = blob(m);
      manifests++;
      for (const p of parts) layer(p.h);
      // In every other repository the first manifest was deleted: its blobs and layer links stay behind.
      if (t === 0 && r % 2 === 0) {
        garbage += 3; // the manifest, its config, its own layer
        continue;
      }
      link(`${repo}/_manifests/revisions/sha256/${mh}/link`, mh);
      link(`${repo}/_manifests/tags/t${t}/current/link`, mh);
      link(`${repo}/_manifests/tags/t${t}/index/sha256/${mh}/link`, mh);
    }
    for (let i = 0; i < LOOSE; i++) layer(blob(randomBytes(128))); // uploaded, never referenced
    garbage += LOOSE;
  }
  return { objects, blobs, manifests, garbage };
}

/** Straight S3 access to Swift for writing and wiping the copies (path-style, SigV4). */
function s3Client(s3: GcSetup["s3"]) {
  const client = new AwsClient({ accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey, service: "s3", region: s3.region, retries: 3 });
  const base = `${s3.endpoint.replace(/\/+$/, "")}/${s3.bucket}`;
  const ok = async (res: Response, what: string) => {
    const text = await res.text();
    if (!res.ok) throw new Error(`S3 ${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text;
  };
  return {
    put: async (key: string, body: Uint8Array) => ok(await client.fetch(`${base}/${key}`, { method: "PUT", body: new Uint8Array(body) }), `PUT ${key}`),
    /** DeleteObjects, 1,000 keys a request. */
    deleteAll: async (keys: string[]) => {
      for (let i = 0; i < keys.length; i += 1000) {
        const xml = `<Delete><Quiet>true</Quiet>${keys.slice(i, i + 1000).map((k) => `<Object><Key>${k}</Key></Object>`).join("")}</Delete>`;
        const md5 = createHash("md5").update(xml).digest("base64");
        await ok(await client.fetch(`${base}/?delete`, { method: "POST", body: xml, headers: { "Content-MD5": md5, "Content-Type": "application/xml" } }), "DeleteObjects");
      }
    },
    isEmpty: async (prefix: string) => !/<Key>/.test(await ok(await client.fetch(`${base}/?list-type=2&max-keys=1&prefix=${encodeURIComponent(prefix)}`), `ListObjectsV2 ${prefix}`)),
  };
}

async function eachLimit<T>(items: T[], limit: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!);
  }));
}

interface Outcome {
  ms: number;
  walked: number;
  swept: number;
  steps: number;
}

/** Berth's run through the admin API: POST, then poll the report every 100 ms (bounded); returns wall ms. */
async function berthRun(url: string, timeoutMs: number, query = ""): Promise<Outcome> {
  const t0 = performance.now();
  const post = await fetch(`${url}/v2/_berth/ext/gc${query}`, { method: "POST", signal: AbortSignal.timeout(30_000) });
  const started = (await post.json()) as { id: string };
  if (post.status !== 202) throw new Error(`POST /v2/_berth/ext/gc: HTTP ${post.status} ${JSON.stringify(started)}`);
  for (;;) {
    const r = (await (await fetch(`${url}/v2/_berth/ext/gc`, { signal: AbortSignal.timeout(30_000) })).json()) as {
      id: string;
      state: string;
      error: string | null;
      steps: number;
      result: { blobsWalked: number; blobsSwept: number };
    };
    if (r.id === started.id && r.state !== "running") {
      if (r.state !== "done") throw new Error(`Berth's gc run ${r.id}: ${r.state}: ${r.error}`);
      return { ms: performance.now() - t0, walked: r.result.blobsWalked, swept: r.result.blobsSwept, steps: r.steps };
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`Berth's gc run ${started.id} not done after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Distribution's real run; the blob count it walked is what it marked plus what it deleted. */
async function distributionRun(o: DistributionOptions, timeoutMs: number): Promise<Outcome> {
  const r = await garbageCollect(o, [], timeoutMs);
  const out = r.stdout + r.stderr;
  const s = /^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion/m.exec(out);
  if (r.code !== 0 || !s || /level=(error|fatal|panic)|panic:/.test(out)) throw new Error(`docker-registry garbage-collect: exit ${r.code}\n${out.slice(-3000)}`);
  return { ms: r.ms, walked: Number(s[1]) + Number(s[2]), swept: Number(s[2]), steps: 1 };
}

/**
 * Warm-up (a dry run on Berth's empty copy, so that its coordinator exists, as it would in production) and
 * `rounds` measured rounds, registries alternating order.
 */
export async function gcScenario(setup: GcSetup, o: { repos: number; rounds: number; timeoutMs: number }, ctx: Ctx): Promise<GcResult> {
  const { repos, rounds, timeoutMs } = o;
  const s3 = s3Client(setup.s3);
  await berthRun(setup.berth.url, timeoutMs, "?dryRun=true");
  const roots: Record<RegName, string> = { berth: setup.berthRoot, distribution: setup.distOptions.rootdirectory };
  const runs: Record<RegName, GcRun[]> = { berth: [], distribution: [] };
  let last: Layout | undefined;
  for (let round = 1; round <= rounds; round++) {
    const l = layout(repos);
    last = l;
    const t0 = Date.now();
    for (const root of Object.values(roots)) {
      await eachLimit([...l.objects], WRITE_CONCURRENCY, ([k, b]) => s3.put(`${root}/${k}`, b));
    }
    ctx.log(`gc round ${round}: wrote ${l.objects.size} objects (${l.blobs} blobs, ${l.garbage} garbage) twice in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(SETTLE_MS);
    const order: Reg[] = round % 2 === 1 ? [setup.berth, setup.distribution] : [setup.distribution, setup.berth];
    for (const reg of order) {
      let got: Outcome = { ms: 0, walked: 0, swept: 0, steps: 0 };
      const m = await measured(reg, ctx, async () => {
        got = reg.name === "berth" ? await berthRun(reg.url, timeoutMs) : await distributionRun(setup.distOptions, timeoutMs);
        return got.ms;
      });
      ctx.log(`gc round ${round}: ${reg.name} ${(m.ms / 1000).toFixed(2)} s, ${m.registryRequests} S3 requests, walked ${got.walked}, swept ${got.swept}, ${got.steps} steps`);
      if (got.walked !== l.blobs || got.swept !== l.garbage) {
        throw new Error(`gc round ${round}: ${reg.name} walked ${got.walked} blobs and swept ${got.swept}; the layout has ${l.blobs} and ${l.garbage}`);
      }
      runs[reg.name].push({ ...m, blobsWalked: got.walked, blobsSwept: got.swept, steps: got.steps });
    }
    // Swift deletes a multi-object delete's keys one by one (minutes for 11,000): the last round's copies stay
    // (the bench's Swift is thrown away at the end).
    if (round === rounds) break;
    for (const root of Object.values(roots)) {
      await s3.deleteAll([...l.objects.keys()].map((k) => `${root}/${k}`));
      if (!(await s3.isEmpty(`${root}/`))) throw new Error(`gc round ${round}: ${root}/ not empty after wiping`);
    }
  }
  return { repositories: repos, blobs: last?.blobs ?? 0, manifests: last?.manifests ?? 0, garbage: last?.garbage ?? 0, objects: last?.objects.size ?? 0, runs };
}
