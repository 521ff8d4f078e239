// `npm start`: a local Berth registry in one command. Starts OpenStack Swift (S3) with state in .berth/swift,
// creates bucket "registry", then runs `wrangler dev` on 127.0.0.1:5000 wired to it (from the project itself,
// so edits to src/ reload the Worker). If the developer's .dev.vars names their own bucket, Swift is skipped
// and wrangler reads .dev.vars itself. The stack is started by scripts/lib/stack.mjs, as for the tests and the
// benchmark. Ctrl-C (SIGINT), SIGTERM or SIGHUP (to this script or to npm) stops wrangler and the Swift this
// script started; a second signal kills them at once.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT, killAllSync, startSwift, startWrangler } from "./lib/stack.mjs";

const ROOT = PROJECT_ROOT;
const BUCKET = "registry";
const REGION = "us-east-1";

const log = (msg) => console.log(`[berth] ${msg}`);

/** Minimal .dev.vars reader (KEY=VALUE lines), only to decide whether the user brought their own bucket. */
function devVarsKeys() {
  const file = path.join(ROOT, ".dev.vars");
  if (!existsSync(file)) return new Set();
  const keys = new Set();
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m && m[2].trim() !== "" && m[2].trim() !== '""' && m[2].trim() !== "''") keys.add(m[1]);
  }
  return keys;
}

const stopper = new AbortController();
let signals = 0;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    if (++signals > 1) {
      killAllSync();
      process.exit(130);
    }
    stopper.abort();
  });
}
// `kill -TERM <npm's pid>` reaches npm and the `sh -c` it runs this script with, but sh dies without passing it
// on: this script would live on, reparented, with wrangler and Swift. So a change of parent means stop too.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stopper.abort();
}, 500).unref();
const stopped = new Promise((resolve) => stopper.signal.addEventListener("abort", () => resolve(undefined), { once: true }));
const isAbort = (e) => stopper.signal.aborted || (e instanceof Error && e.name === "AbortError");

async function main() {
  const signal = stopper.signal;
  const userKeys = devVarsKeys();
  const ownBucket = userKeys.has("REGISTRY_STORAGE_S3_REGIONENDPOINT") || userKeys.has("REGISTRY_STORAGE_S3_BUCKET");
  let swift;
  let wrangler;
  try {
    let vars = {};
    let storageNote;
    if (ownBucket) {
      // --var would override .dev.vars (measured), so pass nothing and let wrangler load the user's file.
      storageNote = "storage from .dev.vars";
      log(".dev.vars sets the S3 bucket/endpoint: not starting Swift, using your settings");
    } else {
      swift = await startSwift({
        stateDir: path.join(ROOT, ".berth", "swift"),
        region: REGION,
        bucket: BUCKET,
        preferredPorts: { proxy: 8080, object: 6200 },
        stdio: "inherit",
        signal,
        log,
      });
      log(`bucket ${BUCKET} ready on Swift ${swift.endpoint}`);
      storageNote = `S3 on Swift ${swift.endpoint}, bucket ${BUCKET}`;
      vars = {
        REGISTRY_STORAGE_S3_BUCKET: BUCKET,
        REGISTRY_STORAGE_S3_REGION: REGION,
        REGISTRY_STORAGE_S3_REGIONENDPOINT: swift.endpoint,
        REGISTRY_STORAGE_S3_ACCESSKEY: swift.accessKey,
        REGISTRY_STORAGE_S3_SECRETKEY: swift.secretKey,
        REGISTRY_AUTH: "none",
      };
    }
    // With cron triggers in wrangler.toml, wrangler warns that they do not fire locally; --test-scheduled lets
    // them be fired by hand instead (GET /__scheduled), which the ready line below says.
    const crons = /^\s*crons\s*=\s*\[\s*"/m.test(readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"));
    wrangler = await startWrangler({
      vars,
      extraArgs: crons ? ["--test-scheduled"] : [],
      snapshot: false,
      envFile: null, // wrangler reads the project's .dev.vars (if any); --var settings override it
      preferredPort: 5000,
      preferredInspectorPort: 9229,
      persistTo: path.join(ROOT, ".berth", "wrangler"),
      stdio: "inherit",
      ci: false,
      signal,
    });
    if (wrangler.port !== 5000) log(`127.0.0.1:5000 is busy; the registry uses port ${wrangler.port} instead`);
    log(
      `registry listening on ${wrangler.url} (${storageNote}); try: skopeo copy --dest-tls-verify=false oci:img ` +
        `docker://127.0.0.1:${wrangler.port}/demo:1   (Ctrl-C stops)`,
    );
    if (crons) log(`scheduled jobs (wrangler.toml [triggers]) run only when asked locally: curl ${wrangler.url}/__scheduled`);
    await Promise.race([wrangler.exited(), stopped]);
    if (stopper.signal.aborted) return 0;
    const info = wrangler.exitInfo();
    log(`wrangler dev exited (${info?.signal ?? `code ${info?.code}`})`);
    return info?.code || 1;
  } catch (e) {
    if (isAbort(e)) return 0;
    console.error(`[berth] ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    if (wrangler && !wrangler.hasExited()) log("stopping wrangler dev");
    await wrangler?.stop();
    await swift?.stop();
  }
}

process.exit(await main());
