// `berth push`: pushes an image (OCI layout, `docker save` archive or skopeo `dir:`) to an OCI registry in
// chunks no larger than a limit, so layers of any size get through an edge that caps request bodies
// (Cloudflare: 100 MB on Free/Pro). Started by bin/berth.mjs; runs on Node >= 22.12 with type stripping.

import { parseArgs } from "node:util";
import { PushError } from "./lib/errors.ts";
import { formatSize, parseDestination, parseSize, parseSource } from "./lib/options.ts";
import { createOutput, interruptBar } from "./lib/progress.ts";
import { pushImage } from "./lib/push.ts";
import { Registry } from "./lib/registry.ts";
import { loadSource } from "./lib/sources.ts";

const DEFAULT_CHUNK = "64MiB";
const MIN_CHUNK = 1024;

const HELP = `Usage: berth push [options] SOURCE DESTINATION

Pushes an image to an OCI registry, sending every blob in chunks of at most --chunk-size
bytes (one PATCH each) and resuming an interrupted blob from the registry's upload Range.

SOURCE
  oci:DIR[:TAG]                 OCI image layout; TAG matches org.opencontainers.image.ref.name
                                (default: the first image in index.json). An index is pushed
                                with all its child manifests.
  docker-archive:FILE[:REF]     a \`docker save\` tar; REF is NAME:TAG or @INDEX when the
                                archive holds several images
  dir:DIR                       a directory written by \`skopeo copy ... dir:DIR\`

DESTINATION
  [http://|https://]HOST[:PORT]/NAME[:TAG|@DIGEST]
                                e.g. 127.0.0.1:5000/demo:1. Without a scheme: http for localhost
                                and 127.0.0.0/8 (or with --insecure), https otherwise. Without a
                                tag: the source's tag, else "latest".

Options
  --chunk-size SIZE   largest request body, e.g. 50MB, 64MiB, 1048576 (default ${DEFAULT_CHUNK};
                      Cloudflare refuses bodies over 100 MB on Free/Pro plans). A smaller
                      OCI-Chunk-Max-Length announced by the registry wins.
  --creds USER:PASS   credentials for Basic auth or the Bearer token flow
                      (default: the BERTH_CREDS environment variable)
  --insecure          plain http for any host; with https://, accept any certificate
  --retries N         attempts after a failure, per request or blob chunk (default 5)
  --timeout SECONDS   fail a request that makes no progress for this long (default 120)
  -q, --quiet         print only errors (and the pushed reference on stdout)
  -h, --help          show this help

Prints HOST/NAME[:TAG]@DIGEST on stdout when done. Progress goes to stderr (a bar per
blob on a terminal). Exit status: 0 pushed, 1 failed, 2 bad usage.
`;

function usage(message: string): PushError {
  return new PushError(`${message} (see berth push --help)`, 2);
}

function integer(text: string | undefined, what: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > max) throw usage(`${what} must be a whole number up to ${max}`);
  return Number(text);
}

async function push(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "chunk-size": { type: "string" },
        creds: { type: "string" },
        insecure: { type: "boolean" },
        retries: { type: "string" },
        timeout: { type: "string" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (positionals.length !== 2) throw usage(`expected SOURCE and DESTINATION, got ${positionals.length} argument(s)`);
  const chunkSize = parseSize(values["chunk-size"] ?? DEFAULT_CHUNK, "--chunk-size");
  if (chunkSize < MIN_CHUNK) throw usage(`--chunk-size must be at least ${MIN_CHUNK} bytes`);
  const retries = integer(values.retries, "--retries", 5, 100);
  const timeoutMs = integer(values.timeout, "--timeout", 120, 86400) * 1000;
  if (timeoutMs === 0) throw usage("--timeout must be at least 1");
  const creds = values.creds ?? (process.env.BERTH_CREDS || undefined);
  if (creds !== undefined && !creds.includes(":")) throw usage("--creds must be USER:PASSWORD");
  const insecure = values.insecure === true;
  const source = parseSource(positionals[0]!);
  const dest = parseDestination(positionals[1]!, insecure);

  const out = createOutput(process.stderr, values.quiet === true);
  const image = await loadSource(source);
  if (dest.digest && dest.digest !== image.root.digest) {
    throw new PushError(`destination names ${dest.digest}, but the source image is ${image.root.digest}`);
  }
  const tag = dest.digest ? undefined : dest.tag ?? image.tag ?? "latest";
  const reference = tag ?? image.root.digest;
  const target = `${dest.base.host}/${dest.name}${tag ? `:${tag}` : ""}`;

  const reg = new Registry({
    base: dest.base,
    repository: dest.name,
    creds,
    insecureTls: insecure,
    timeoutMs,
    retries,
    log: (line) => out.info(line),
  });
  try {
    out.info(`pushing ${positionals[0]} to ${dest.base.protocol}//${target} (chunks up to ${formatSize(chunkSize)})`);
    await reg.ping();
    const r = await pushImage(reg, image, reference, { chunkSize, out, notes: new Set() });
    out.info(`done: ${r.blobsPushed} blob(s) pushed, ${r.blobsSkipped} already present`);
    process.stdout.write(`${target}@${r.digest}\n`);
  } finally {
    reg.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command !== "push") throw usage(`unknown command ${JSON.stringify(command)}`);
    await push(rest);
    return 0;
  } catch (e) {
    interruptBar(); // a progress bar stays where it stopped
    if (e instanceof PushError) {
      process.stderr.write(`berth push: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    process.stderr.write(`berth push: unexpected error: ${err?.message ?? String(e)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
