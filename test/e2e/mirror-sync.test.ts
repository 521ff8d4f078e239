// Periodic sync end to end, offline: the upstream is CNCF Distribution 2.8 on 127.0.0.1 (filesystem storage,
// htpasswd: Berth answers its Basic challenge, for the catalog too) holding several repositories and tags
// pushed with skopeo; Berth (wrangler dev --test-scheduled, on the run's Swift bucket) syncs it as two
// upstreams: `dist` under `sync/` (content `team/*`, tags `^v[0-9]`, on-demand pulls on too), started with
// POST /v2/_berth/ext/sync, and `locked` under `locked/` (onDemand: false, content `other/app` tag `v1`),
// started by the Cron Trigger. Each test waits for its run with a bounded poll of the report.
// Checked: only the tags the filter matches are in Berth's bucket (tag links and every blob they reach)
// before anything is pulled; skopeo then pulls them with the bytes identical to the source's; a tag moved
// upstream is copied again by the next run and the unchanged one skipped; with onDemand false, the tag sync
// did not copy cannot be fetched; the admin API refuses unknown upstreams and ones without sync.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { getObject, listKeys } from "./harness/s3.js";
import { makeOciLayout, sha256File, type OciRef } from "./harness/tools.js";
import { OCI_INDEX, OCI_MANIFEST, rand, req } from "./helpers/manifests.js";
import { blobFile, copyToRegistry, hexOf, reachable, skopeoOrThrow, type Desc } from "./helpers/oci-layout.js";

const RUN = rand();
const ROOT = `t-sync-${RUN}`;
const V2 = `${ROOT}/docker/registry/v2`;
const USER = "syncer";
const PASSWORD = randomBytes(12).toString("hex");
const ACCEPT = [OCI_INDEX, OCI_MANIFEST].join(", ");

type Report = { id: string; state: string; startedAt: string; finishedAt: string | null; error: string | null; result: Record<string, unknown> };

let berth: Berth;
let dist: Distribution;
let tmp: string;
let src: string;
let refs: Record<string, OciRef>;
let host: string;

const blobKey = (d: string) => `${V2}/blobs/sha256/${hexOf(d).slice(0, 2)}/${hexOf(d)}/data`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sk = skopeoOrThrow(() => berth?.logs(), 120_000);

const toUpstream = copyToRegistry(sk, `${USER}:${PASSWORD}`, () => src, () => dist.url);


async function report(upstream: string): Promise<Report> {
  const res = await req(berth.url, `/v2/_berth/ext/sync?upstream=${upstream}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Report;
}

/** Polls the upstream's report (bounded) until a run other than `after` has ended. */
async function finished(upstream: string, after: string | null = null): Promise<Report> {
  for (let i = 0; i < 240; i++) {
    const r = await report(upstream);
    if (r.id !== undefined && r.id !== after && r.state !== "running") return r;
    await sleep(500);
  }
  throw new Error(`the sync of ${upstream} did not end\n${JSON.stringify(await report(upstream))}\n--- berth\n${berth.logs().slice(-3000)}`);
}

async function startSync(upstream: string): Promise<Report> {
  const res = await req(berth.url, `/v2/_berth/ext/sync?upstream=${upstream}`, { method: "POST" });
  const body = (await res.json()) as Report;
  expect(res.status, JSON.stringify(body)).toBe(202);
  return body;
}

/** The tags the bucket holds for a local repository (its tag links). */
async function bucketTags(repo: string): Promise<string[]> {
  const keys = await listKeys(`${V2}/repositories/${repo}/_manifests/tags/`);
  return [...new Set(keys.filter((k) => k.endsWith("/current/link")).map((k) => k.split("/").at(-3)!))].sort();
}

async function tagLink(repo: string, tag: string): Promise<string | null> {
  const b = await getObject(`${V2}/repositories/${repo}/_manifests/tags/${tag}/current/link`);
  return b ? new TextDecoder().decode(b) : null;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-sync-"));
  src = path.join(tmp, "src");
  refs = Object.fromEntries((await makeOciLayout(src)).map((r) => [r.annotations!["org.opencontainers.image.ref.name"]!, r]));
  dist = await startDistribution({ rootdirectory: "unused", filesystem: true, htpasswd: `${USER}:${bcrypt.hashSync(PASSWORD, 4)}\n` });
  await toUpstream("v1", "team/app:v1");
  await toUpstream("multi", "team/app:v2", ["--all"]);
  await toUpstream("v1", "team/app:latest"); // the tag regex leaves it out
  await toUpstream("v1", "team/sub/tool:v1"); // "team/*" does not reach two segments down
  await toUpstream("v1", "other/app:v1");
  await toUpstream("multi", "other/app:v2", ["--all"]);
  const creds = { username: USER, secret: "UPSTREAM_PASSWORD" };
  berth = await startBerth(
    {
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT,
      UPSTREAM_PASSWORD: PASSWORD,
      BERTH_UPSTREAMS: JSON.stringify([
        { name: "dist", urls: [dist.url], prefix: "sync", credentials: creds, pollInterval: "1h", maxRetries: 1, retryDelay: "1s", content: [{ prefix: "/team/*", tags: { regex: "^v[0-9]" } }] },
        { name: "locked", urls: [dist.url], prefix: "locked", credentials: creds, onDemand: false, pollInterval: "1h", content: [{ prefix: "other/app", tags: { regex: "^v1$" } }] },
        { name: "plain", urls: [dist.url], prefix: "plain", credentials: creds },
      ]),
    },
    { extraArgs: ["--test-scheduled"] },
  );
  host = new URL(berth.url).host;
}, 240_000);

afterAll(async () => {
  await berth?.stop();
  await dist?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("periodic sync (Distribution upstream with htpasswd)", () => {
  it("sync copies only the tags its filter matches, with every blob, byte for byte", async () => {
    const started = await startSync("dist");
    expect(started).toMatchObject({ state: "running", result: { upstream: "dist" } });
    const done = await finished("dist", null);
    expect(done.state, JSON.stringify(done)).toBe("done");
    expect(done.result).toMatchObject({ repositories: 1, tagsSeen: 3, tagsMatched: 2, copied: 2, failed: 0, failures: [] });
    expect(Number(done.result.bytesCopied)).toBeGreaterThan(0);
    expect(done.finishedAt).not.toBeNull();

    // In the bucket, in Distribution's layout, before anything was pulled: the matching tags and all they reach.
    expect(await bucketTags("sync/team/app")).toEqual(["v1", "v2"]);
    expect(await tagLink("sync/team/app", "v1")).toBe(refs.v1!.digest);
    expect(await tagLink("sync/team/app", "v2")).toBe(refs.multi!.digest);
    expect(await listKeys(`${V2}/repositories/sync/team/sub/`)).toEqual([]);
    expect(await listKeys(`${V2}/repositories/sync/other/`)).toEqual([]);
    const wanted = [...(await reachable(src, refs.multi!)), ...(await reachable(src, refs.v1!))];
    expect(wanted.length).toBeGreaterThan(6);
    const keys = new Set(await listKeys(`${V2}/blobs/`));
    for (const d of wanted) expect(keys.has(blobKey(d.digest)), d.digest).toBe(true);

    // Pulled back with skopeo: identical bytes.
    const out = path.join(tmp, "out-dist");
    await sk(["copy", "--all", "--src-tls-verify=false", `docker://${host}/sync/team/app:v2`, `oci:${out}:v2`]);
    await sk(["copy", "--src-tls-verify=false", `docker://${host}/sync/team/app:v1`, `oci:${out}:v1`]);
    for (const d of wanted) expect(await sha256File(blobFile(out, d.digest))).toBe(hexOf(d.digest));
  });

  it("a tag moved upstream is copied again by the next run; the unchanged one is skipped", async () => {
    // The run of the test before, or one of its own when it runs alone.
    let first = await report("dist");
    if (first.state === "idle") await startSync("dist");
    if (first.state !== "done") first = await finished("dist", null);
    await toUpstream("v1", "team/app:v2"); // v2 now names the single image
    const next = await startSync("dist");
    expect(next.id).not.toBe(first.id);
    const done = await finished("dist", first.id);
    expect(done.state, JSON.stringify(done)).toBe("done");
    expect(done.result).toMatchObject({ tagsMatched: 2, copied: 1, skipped: 1, failed: 0 });
    expect(await tagLink("sync/team/app", "v2")).toBe(refs.v1!.digest);
    const res = await req(berth.url, "/v2/sync/team/app/manifests/v2", { headers: { Accept: ACCEPT } });
    await res.arrayBuffer();
    expect(res.headers.get("Docker-Content-Digest")).toBe(refs.v1!.digest);
  });

  it("onDemand false: the Cron Trigger starts the sync; only what it copied can be pulled", async () => {
    const tick = await req(berth.url, "/__scheduled?cron=17+3+*+*+*");
    expect(tick.status).toBe(200);
    await tick.arrayBuffer();
    const done = await finished("locked", null);
    expect(done.state, JSON.stringify(done)).toBe("done");
    expect(done.result).toMatchObject({ repositories: 1, tagsSeen: 2, tagsMatched: 1, copied: 1, failed: 0 });
    expect(await bucketTags("locked/other/app")).toEqual(["v1"]);
    for (const d of await reachable(src, refs.v1!)) expect((await listKeys(blobKey(d.digest))).length, d.digest).toBe(1);
    const out = path.join(tmp, "out-locked");
    await sk(["copy", "--src-tls-verify=false", `docker://${host}/locked/other/app:v1`, `oci:${out}:v1`]);
    for (const d of await reachable(src, refs.v1!)) expect(await sha256File(blobFile(out, d.digest))).toBe(hexOf(d.digest));
    // v2 is upstream, but sync left it out and misses are not fetched.
    const miss = await req(berth.url, "/v2/locked/other/app/manifests/v2", { headers: { Accept: ACCEPT } });
    expect(miss.status).toBe(404);
    expect(((await miss.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("MANIFEST_UNKNOWN");
    const child = JSON.parse(await readFile(blobFile(src, refs.multi!.digest), "utf8")) as { manifests: Desc[] };
    expect((await req(berth.url, `/v2/locked/other/app/manifests/${child.manifests[0]!.digest}`, { headers: { Accept: ACCEPT } })).status).toBe(404);
    expect(await bucketTags("locked/other/app")).toEqual(["v1"]);
  });

  it("the admin API refuses an unknown upstream and one without sync, with the spec's error body", async () => {
    const unknown = await req(berth.url, "/v2/_berth/ext/sync?upstream=nope", { method: "POST" });
    expect(unknown.status).toBe(404);
    const e1 = ((await unknown.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
    expect(e1.code).toBe("UNSUPPORTED");
    expect(e1.message).toContain('no upstream named "nope"');
    const plain = await req(berth.url, "/v2/_berth/ext/sync?upstream=plain");
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { errors: { message: string }[] }).errors[0]!.message).toContain("plain has no periodic sync");
    const all = (await (await req(berth.url, "/v2/_berth/ext/sync")).json()) as { upstreams: Report[] };
    expect(all.upstreams.map((r) => r.result.upstream)).toEqual(["dist", "locked"]);
  });
});
