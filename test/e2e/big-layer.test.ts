// A 1 GiB layer, pushed by skopeo as one streamed PATCH and pulled back through the 307 to the bucket, must
// come back byte-identical: the spool, the multipart upload from it (about a hundred parts) and the presigned
// pull hold at any size. Memory is measured by the benchmark (npm run bench), not here.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { makeOciLayout, sha256File, skopeo } from "./harness/tools.js";

const ROOT = `t-big-${Math.random().toString(36).slice(2, 10)}`;
const SIZE_MIB = 1024;
const STEP_TIMEOUT_MS = 600_000;

let berth: Berth;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-big-"));
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT });
}, 120_000);

afterAll(async () => {
  await berth?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

it(`a ${SIZE_MIB} MiB layer pushes and pulls back byte-identical`, { timeout: 900_000 }, async () => {
  const src = path.join(tmp, "src");
  const refs = await makeOciLayout(src, { bigMiB: SIZE_MIB });
  const big = refs.find((r) => r.annotations?.["org.opencontainers.image.ref.name"] === "big");
  expect(big).toBeDefined();
  const host = new URL(berth.url).host;
  const opts = { timeoutMs: STEP_TIMEOUT_MS };
  const pushed = await skopeo(
    ["--insecure-policy", "copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${src}:big`, `docker://${host}/big/layer:1`],
    opts,
  );
  expect(pushed.code, `${pushed.stderr.slice(-2000)}\n${berth.logs().slice(-2000)}`).toBe(0);

  const out = path.join(tmp, "out");
  const pulled = await skopeo(["--insecure-policy", "copy", "--src-tls-verify=false", `docker://${host}/big/layer:1`, `dir:${out}`], opts);
  expect(pulled.code, pulled.stderr.slice(-2000)).toBe(0);

  // The layer is the largest blob of the source layout; dir: names blobs by their hex digest.
  const manifest = JSON.parse(await readFile(path.join(out, "manifest.json"), "utf8")) as {
    layers: { digest: string; size: number }[];
  };
  const layer = manifest.layers[0];
  expect(layer?.size).toBeGreaterThanOrEqual(SIZE_MIB * 1024 * 1024);
  const hex = (layer?.digest ?? "").replace(/^sha256:/, "");
  expect(await sha256File(path.join(out, hex))).toBe(hex);
  expect(await sha256File(path.join(src, "blobs", "sha256", hex))).toBe(hex);
  // The blob GET was a redirect: the layer's bytes did not pass through the Worker on the pull.
  expect(berth.logs()).toMatch(new RegExp(`GET /v2/big/layer/blobs/sha256:${hex} 307`));
});
