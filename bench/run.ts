// `npm run bench`: Berth (wrangler dev) against CNCF Distribution 2.8 on one Swift s3api server behind a counting
// proxy (one port per registry). Push/pull times (skopeo), manifest GET / blob HEAD latency (hey), S3 requests per
// operation, blob bytes through the registry on pulls, workerd peak RSS; Berth with one notification endpoint
// against Berth without (push time, manifest PUT latency); both as pull-through caches of one upstream (cold
// and warm pulls, upstream requests, blob bytes through the registry); and garbage collection of a 2,220-blob
// registry (S3 requests and wall time per 1,000 blobs walked). Prints a table, writes JSON + markdown to
// bench/results/. Options: node bench/run.ts --help.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startBerth } from "./lib/berth.ts";
import { startDistribution } from "./lib/distribution.ts";
import { gcScenario } from "./lib/gc.ts";
import { makeImage } from "./lib/oci.ts";
import { installSignalHandlers, interrupted, onCleanup, runCleanups, runOk } from "./lib/proc.ts";
import { MiB, renderMarkdown, renderPlain } from "./lib/report.ts";
import { startCountingProxy } from "./lib/s3proxy.ts";
import { latency, pushPull, type Ctx, type Reg, type Variant } from "./lib/scenarios.ts";
import { notes, summarize, type Results } from "./lib/summary.ts";
import { S3, startSwift } from "./lib/swift.ts";
import { skopeoPush } from "./lib/clients.ts";
import { notifyOverhead } from "./lib/notify.ts";
import { mirrorScenario } from "./lib/mirror.ts";
import { edgeScenario } from "./lib/edge.ts";

/** Log tails printed when the run fails. */
const diagnostics: [string, () => string][] = [];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const HELP = `usage: npm run bench -- [options]      (or: node bench/run.ts [options])
  --rounds N          measured rounds per measurement, after one warm-up (default 3; env BENCH_ROUNDS)
  --layer-mib N       the big-layer image's layer size (default 256)
  --big / --no-big    also push/pull a 1 GiB layer and compare workerd peak RSS (default on; env BENCH_BIG=0 turns it off)
  --big-mib N         size of that layer (default 1024)
  --layers N          layers of the many-layer image (default 50), each --small-mib MiB (default 1)
  --hey-n N           requests per hey run at concurrency 1 (default 200); --hey-n32 N at concurrency 32 (default 960)
  --gc-repos N        repositories of the garbage-collection registry, 11 blobs each + 20 shared (default 200)
  --gc-rounds N       garbage-collection rounds, each on two freshly written copies (default 1)
  --notify-puts N     manifest PUTs per round of the notifications comparison (default 50)
  --only LIST         comma list of: big,huge,many,latency,edge,notify,mirror,gc (default all); mirror uses
                      --layer-mib and --layers/--small-mib for its two images
  --quick             development sizes: 16 MiB / 64 MiB layers, 5 × 1 MiB, hey -n 100/320, 20 gc repositories, 1 round
  --out DIR           results directory (default bench/results)
  --help`;

interface Options {
  rounds: number;
  layerMiB: number;
  big: boolean;
  bigMiB: number;
  layers: number;
  smallMiB: number;
  heyN1: number;
  heyN32: number;
  gcRepos: number;
  gcRounds: number;
  only: Set<string>;
  notifyPuts: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    layerMiB: 256,
    big: !/^(0|false|no)$/i.test(process.env.BENCH_BIG ?? "1"),
    bigMiB: 1024,
    layers: 50,
    smallMiB: 1,
    heyN1: 200,
    heyN32: 960,
    only: new Set(["big", "huge", "many", "latency", "edge", "notify", "mirror", "gc"]),
    notifyPuts: 50,
    gcRepos: 200,
    gcRounds: 1,
    out: path.join(ROOT, "bench", "results"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = () => {
      const v = Number(val());
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    switch (a) {
      case "--rounds": o.rounds = int(); break;
      case "--layer-mib": o.layerMiB = int(); break;
      case "--big": o.big = true; break;
      case "--no-big": o.big = false; break;
      case "--big-mib": o.bigMiB = int(); break;
      case "--layers": o.layers = int(); break;
      case "--small-mib": o.smallMiB = int(); break;
      case "--hey-n": o.heyN1 = int(); break;
      case "--hey-n32": o.heyN32 = int(); break;
      case "--notify-puts": o.notifyPuts = int(); break;
      case "--gc-repos": o.gcRepos = int(); break;
      case "--gc-rounds": o.gcRounds = int(); break;
      case "--only": o.only = new Set(val().split(",").map((s) => s.trim())); break;
      case "--out": o.out = path.resolve(val()); break;
      case "--quick":
        Object.assign(o, { rounds: 1, layerMiB: 16, bigMiB: 64, layers: 5, smallMiB: 1, heyN1: 100, heyN32: 320, notifyPuts: 20, gcRepos: 20 });
        break;
      case "--help": case "-h": console.log(HELP); process.exit(0);
      default: throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error("--rounds must be >= 1");
  if (o.heyN32 < 32) o.heyN32 = 32;
  return o;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  installSignalHandlers();
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const log = (m: string) => console.error(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);

  await runOk("bash", [path.join(ROOT, "scripts/install-deps.sh"), "swift", "skopeo", "reference", "bench"], { timeoutMs: 900_000 });
  for (const t of ["openssl", "skopeo", "hey", "docker-registry"]) {
    if (sh("sh", ["-c", `command -v ${t}`]) === "unknown") throw new Error(`${t} not found on PATH`);
  }

  log("starting Swift s3api …");
  const swift = await startSwift(ROOT);
  const s3Pids = await swift.pids();
  const proxyA = await startCountingProxy(swift.endpoint);
  onCleanup(() => proxyA.close());
  const proxyB = await startCountingProxy(swift.endpoint);
  onCleanup(() => proxyB.close());
  const tag = Math.random().toString(16).slice(2, 8);
  const s3For = (port: number) => ({ ...S3, endpoint: `http://127.0.0.1:${port}` });

  log(`Swift on ${swift.endpoint}; counting proxies: Berth → :${proxyA.port}, Distribution → :${proxyB.port}; starting registries …`);
  const berth = await startBerth({ projectRoot: ROOT, s3: s3For(proxyA.port), rootdirectory: `bench-berth-${tag}` });
  diagnostics.push(["wrangler dev", berth.logs]);
  const dist = await startDistribution({ s3: s3For(proxyB.port), rootdirectory: `bench-distribution-${tag}` });
  diagnostics.push(["docker-registry", dist.logs]);
  log(`Berth (wrangler dev) on ${berth.url}, workerd PIDs ${berth.workerdPids().join(",") || "?"}; Distribution on ${dist.url}`);

  // The scenarios with a registry of their own (edge, gc) start from these two.
  const regB: Reg = {
    name: "berth",
    url: berth.url,
    proxy: proxyA,
    cpuPids: () => [berth.wranglerPid(), ...berth.workerdPids()],
    rssPids: () => berth.workerdPids(),
    restart: () => berth.restart(),
  };
  const regD: Reg = { name: "distribution", url: dist.url, proxy: proxyB, cpuPids: () => [dist.pid()], rssPids: () => [dist.pid()], restart: () => dist.restart() };
  const regs: Reg[] = [regB, regD];
  const workDir = await mkdtemp(path.join(os.tmpdir(), "berth-bench-work-"));
  onCleanup(() => rm(workDir, { recursive: true, force: true }));
  const ctx: Ctx = { workDir, rounds: opts.rounds, s3Pids: () => s3Pids, log };
  const timeoutMs = 900_000;

  const results: Results = {
    meta: {
      startedAt,
      durationSec: 0,
      git: { commit: sh("git", ["rev-parse", "HEAD"]), dirtySrc: sh("git", ["status", "--porcelain", "src", "wrangler.toml"]) !== "" },
      machine: { cpus: os.cpus().length, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavgStart: os.loadavg(), loadavgEnd: [] },
      versions: {
        node: process.version,
        wrangler: JSON.parse(await readFile(path.join(ROOT, "node_modules/wrangler/package.json"), "utf8")).version,
        skopeo: sh("skopeo", ["--version"]),
        distribution: sh("docker-registry", ["--version"]),
        swift: sh("sh", ["-c", "dpkg-query -W -f '${Version}' swift-proxy"]),
      },
      options: { ...opts, only: [...opts.only] },
    },
    pushPull: {},
    latency: {},
    gc: undefined,
    checks: {},
  };

  // The big-layer and 1 GiB images run in the same rounds (interleaved), so the Worker's RSS for both is
  // sampled on a process of the same age; the many-layer image runs on its own.
  const bigVariants: (Variant & { key: "big" | "huge" })[] = [
    ...(opts.only.has("big") ? [{ key: "big" as const, name: `${opts.layerMiB} MiB`, repo: "bench/big", layerSizes: [opts.layerMiB * MiB], rss: true, fresh: true }] : []),
    ...(opts.big && opts.only.has("huge") ? [{ key: "huge" as const, name: `${opts.bigMiB} MiB`, repo: "bench/huge", layerSizes: [opts.bigMiB * MiB], rss: true, fresh: true }] : []),
  ];
  if (bigVariants.length > 0) {
    const out = await pushPull(bigVariants, regs, ctx, { timeoutMs });
    bigVariants.forEach((v, i) => (results.pushPull[v.key] = out[i]));
  }
  if (opts.only.has("many")) {
    const sizes = Array.from({ length: opts.layers }, () => opts.smallMiB * MiB);
    [results.pushPull.many] = await pushPull([{ name: `${opts.layers}×${opts.smallMiB} MiB`, repo: "bench/many", layerSizes: sizes, rss: false, fresh: false }], regs, ctx, { timeoutMs });
  }

  if (opts.only.has("latency")) {
    // One small image, same repository and tag on both registries.
    const hot = await makeImage(path.join(workDir, "hot"), "latest", [MiB]);
    for (const reg of regs) await skopeoPush(hot.dir, "latest", reg.url, "bench/hot", timeoutMs);
    const layer = hot.layers[0]!.digest;
    for (const reg of regs) {
      const head = await fetch(`${reg.url}/v2/bench/hot/blobs/${layer}`, { method: "HEAD", redirect: "manual", signal: AbortSignal.timeout(30_000) });
      const man = await fetch(`${reg.url}/v2/bench/hot/manifests/latest`, {
        headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
        redirect: "manual",
        signal: AbortSignal.timeout(30_000),
      });
      await man.arrayBuffer();
      results.checks[reg.name] = {
        blobHeadStatus: head.status,
        blobHeadLocation: head.headers.get("location") ? "(presigned S3 URL)" : null,
        blobHeadContentLength: Number(head.headers.get("content-length")),
        manifestGetStatus: man.status,
        manifestDigestMatches: man.headers.get("docker-content-digest") === hot.manifestDigest,
      };
    }
    const levels = [
      { c: 1, n: opts.heyN1 },
      { c: 32, n: opts.heyN32 },
    ];
    results.latency.manifest = await latency(
      { name: "manifest GET by tag", path: () => "/v2/bench/hot/manifests/latest", headers: ["Accept: application/vnd.oci.image.manifest.v1+json"] },
      levels, regs, ctx,
    );
    results.latency.blobHead = await latency({ name: "blob HEAD", path: () => `/v2/bench/hot/blobs/${layer}`, method: "HEAD" }, levels, regs, ctx);
  }

  if (opts.only.has("edge")) {
    // The data center's cache from a fresh isolate: a Berth of its own on the same proxy, logging at "log" so
    // its reloads can be seen (and the request log costs nothing that is measured here), stopped after.
    log("edge cache from fresh isolates …");
    const edgeBerth = await startBerth({ projectRoot: ROOT, s3: s3For(proxyA.port), rootdirectory: `bench-berth-edge-${tag}`, logLevel: "log" });
    diagnostics.push(["wrangler dev (edge)", edgeBerth.logs]);
    results.edge = await edgeScenario([{ ...regB, url: edgeBerth.url }, regD], () => edgeBerth.reload(), ctx, { layers: 5, timeoutMs });
    await edgeBerth.stop();
  }

  if (opts.only.has("notify")) {
    // Berth with one notification endpoint against the Berth above without: the write path's added cost.
    log("notifications on vs off …");
    results.notify = await notifyOverhead({
      workDir,
      rounds: opts.rounds,
      puts: opts.notifyPuts,
      layers: 3,
      timeoutMs,
      log,
      off: berth.url,
      start: (vars) => startBerth({ projectRoot: ROOT, s3: s3For(proxyA.port), rootdirectory: `bench-berth-notify-${tag}`, vars }),
    });
  }

  if (opts.only.has("mirror")) {
    // Its own upstream, caches and counting proxies, all stopped when it ends (before gc starts its Berth).
    log("pull-through caches …");
    results.mirror = await mirrorScenario(
      {
        images: [
          { key: "big", name: `${opts.layerMiB} MiB`, layerSizes: [opts.layerMiB * MiB] },
          { key: "many", name: `${opts.layers}×${opts.smallMiB} MiB`, layerSizes: Array.from({ length: opts.layers }, () => opts.smallMiB * MiB) },
        ],
        s3: { ...S3, endpoint: swift.endpoint },
        tag,
        startBerth: (endpoint, rootdirectory, vars) => startBerth({ projectRoot: ROOT, s3: { ...S3, endpoint }, rootdirectory, vars }),
        diagnostics: (name, logs) => diagnostics.push([name, logs]),
        timeoutMs,
      },
      ctx,
    );
  }

  if (opts.only.has("gc")) {
    // Its own Berth, started last (so it adds no process to the other measurements), on a rootdirectory of its
    // own: blobs are old enough to sweep at once (BERTH_GC_DELAY=0), and a run waits at most 1 s for writers'
    // leases (BERTH_GC_FENCE_LEASE=1s; nothing writes, so it waits not at all once its coordinator exists).
    // Distribution's garbage-collect gets the other copy through the other proxy.
    const gcRoot = (who: string) => `bench-gc-${who}-${tag}`;
    const gcBerth = await startBerth({ projectRoot: ROOT, s3: s3For(proxyA.port), rootdirectory: gcRoot("berth"), vars: { BERTH_GC_DELAY: "0", BERTH_GC_FENCE_LEASE: "1s" } });
    diagnostics.push(["wrangler dev (gc)", gcBerth.logs]);
    results.gc = await gcScenario(
      {
        berth: { ...regB, url: gcBerth.url, cpuPids: () => [gcBerth.wranglerPid(), ...gcBerth.workerdPids()] },
        berthRoot: gcRoot("berth"),
        distribution: { ...regD, cpuPids: () => [] },
        distOptions: { s3: s3For(proxyB.port), rootdirectory: gcRoot("distribution") },
        s3: { ...S3, endpoint: swift.endpoint },
      },
      { repos: opts.gcRepos, rounds: opts.gcRounds, timeoutMs },
      ctx,
    );
    await gcBerth.stop();
  }

  results.meta.machine.loadavgEnd = os.loadavg();
  results.meta.durationSec = Math.round((Date.now() - t0) / 1000);
  const { rows, goals } = summarize(results);
  const breakdown = notes(results);
  results.rows = rows;
  results.goals = goals;
  results.notes = breakdown;

  log("stopping everything …");
  await runCleanups();

  const plain = renderPlain(rows, goals, breakdown);
  console.log(`\nBerth vs Distribution ${(results.meta.versions.distribution ?? "").replace(/^.*?(v?\d+\.\d+\.\d+).*$/, "$1")} on Swift s3api, ` +
    `${opts.rounds} rounds (median), ${results.meta.machine.cpus} cores, load ${results.meta.machine.loadavgStart.map((x) => x.toFixed(1)).join("/")}` +
    `, ${results.meta.durationSec} s\n`);
  console.log(plain);

  await mkdir(opts.out, { recursive: true });
  const stamp = startedAt.replace(/[:.]/g, "-");
  const json = JSON.stringify(results, null, 1);
  await writeFile(path.join(opts.out, `${stamp}.json`), json);
  await writeFile(path.join(opts.out, "latest.json"), json);
  const pre = [
    `Berth (\`wrangler dev\`, wrangler ${results.meta.versions.wrangler}) vs CNCF Distribution ${results.meta.versions.distribution} ` +
      `on one Swift s3api server (${results.meta.versions.swift}), measured by \`npm run bench\` on ${startedAt} ` +
      `(${results.meta.machine.cpus} cores, load average at start ${results.meta.machine.loadavgStart.map((x) => x.toFixed(1)).join(" / ")}, ` +
      `run took ${Math.round(results.meta.durationSec / 60)} min). Times are medians of ${opts.rounds} rounds after a warm-up, ` +
      `fresh random layers each round, registries alternating order; only the Berth/Distribution ratios carry over to other machines.`,
    "",
    "Set-up: both registries reach Swift through a counting proxy (one port each) that forwards requests unchanged; " +
      "Distribution has redirects on, chunksize 10 MiB, the in-memory blob descriptor cache, access log off; Berth runs " +
      "with its defaults (redirects on) and wrangler's request log off. Clients: skopeo (`copy --preserve-digests` from an " +
      "OCI layout; pulls to `dir:`), hey (follows redirects). Both registries are restarted before each big-layer push so the " +
      "peak RSS is that push's own. Under `wrangler dev` every request crosses two workerd processes (wrangler's proxy, then " +
      "the Worker), which a deployed Worker does not.",
    ...(results.mirror
      ? [
          "",
          "Pull-through: an upstream Distribution 2.8 on filesystem storage (127.0.0.1) holds each round's images under " +
            "new repository names (fresh random layers), and two caches of it reach it through a counting proxy each: " +
            `Berth with ${results.mirror.berthMode}, and Distribution 2.8 in proxy mode (\`proxy.remoteurl\`, S3 storage ` +
            "as above). Clients reach each cache through a counting proxy too, whose blob-answer bytes are the blob bytes " +
            "through the registry. Per round and cache: a cold pull (nothing cached), then right after a warm pull of the " +
            "same image (skopeo to `dir:`, as above); a pull's counts include what its cache does after the client is done. " +
            "The warm-up round pulls a small image instead (one layer of up to 24 MiB and two of 1 MiB).",
        ]
      : []),
    ...(results.gc
      ? [
          "",
          `Garbage collection: ${results.gc.blobs} blobs in ${results.gc.repositories} repositories (${results.gc.objects} objects in ` +
            `Distribution's layout, ${results.gc.garbage} blobs of them garbage) written straight to S3 twice, one copy per registry; ` +
            `each collector makes a real run on its copy (Berth: admin API, polled every 100 ms, BERTH_GC_DELAY=0; Distribution: ` +
            `\`docker-registry garbage-collect\`, process start-up included), ${opts.gcRounds} round(s), each on freshly written copies.`,
        ]
      : []),
  ].join("\n");
  await writeFile(path.join(opts.out, "latest.md"), renderMarkdown(rows, goals, pre, breakdown));
  log(`wrote ${path.relative(ROOT, path.join(opts.out, `${stamp}.json`))}, latest.json, latest.md`);
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    if (interrupted()) return; // the signal handler cleans up and exits
    console.error(`[bench] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    for (const [name, logs] of diagnostics) console.error(`--- last lines of ${name}'s log:\n${logs().slice(-3000)}`);
    await runCleanups();
    process.exit(1);
  },
);
