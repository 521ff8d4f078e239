// The pull-through cache end to end, offline: the upstream is CNCF Distribution 2.8 on 127.0.0.1 (filesystem
// storage, htpasswd: Berth answers its Basic challenge with credentials from a named secret) holding a small
// image and a two-platform index pushed with skopeo; a tiny fake upstream in this file sends wrong bytes for a
// blob. Berth (wrangler dev on the run's Swift bucket) mirrors Distribution under three prefixes, `up/` (ttl 1h,
// namespace upstream.test), `fast/` (ttl 6s) and `gone/` (ttl 1s, through a TCP proxy a test closes, so the
// upstream becomes unreachable for that prefix only), and the liar under `liar/`. Each test uses names of its
// own, so any test passes alone and in any order.
// Checked: skopeo pulls through by prefix with the bytes identical to the source's, and the blobs land in
// Berth's bucket; ?ns= routing answers OCI-Namespace; pushes into a prefix are refused and work elsewhere; a
// tag moved upstream is seen after ttl and not before; concurrent pulls of a missing blob fetch it once;
// wrong bytes from upstream reach the client as a failed pull and store nothing; with the upstream
// unreachable, cached tags (stale) and digests still pull.
import { createServer, type Server } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { listKeys } from "./harness/s3.js";
import { makeOciLayout, sha256File, skopeo, type OciRef } from "./harness/tools.js";
import { blobOf, manifestOf, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, rand, req } from "./helpers/manifests.js";
import { blobFile, copyToRegistry, hexOf, reachable, skopeoOrThrow, type Desc } from "./helpers/oci-layout.js";
import { sniffingProxy } from "./helpers/registry.js";

const RUN = rand();
const ROOT = `t-mirror-${RUN}`;
const USER = "puller";
const PASSWORD = randomBytes(12).toString("hex");
const TTL_S = 6;
const METRICS_TOKEN = randomBytes(12).toString("hex");
const ACCEPT = [OCI_INDEX, OCI_MANIFEST].join(", ");


let berth: Berth;
let dist: Distribution;
let liar: Server;
let door: Awaited<ReturnType<typeof sniffingProxy>>;
let tmp: string;
let src: string;
let refs: Record<string, OciRef>;
let host: string;
const liarLayer = `sha256:${createHash("sha256").update("the real layer").digest("hex")}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sk = skopeoOrThrow(() => berth?.logs(), 90_000);

const toUpstream = copyToRegistry(sk, `${USER}:${PASSWORD}`, () => src, () => dist.url);


async function digestIn(repo: string, tag: string, extra: Record<string, string> = {}): Promise<{ status: number; digest: string | null; ns: string | null }> {
  const res = await req(berth.url, `/v2/${repo}/manifests/${tag}`, { headers: { Accept: ACCEPT, ...extra } });
  await res.arrayBuffer();
  return { status: res.status, digest: res.headers.get("Docker-Content-Digest"), ns: res.headers.get("OCI-Namespace") };
}

/** A fake upstream: anonymous, and every blob it serves has the right length and the wrong bytes. */
function startLiar(): Promise<string> {
  liar = createServer((rq, rs) => {
    if (rq.url === "/v2/" || rq.url === "/v2") return void rs.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    if (rq.url?.includes("/blobs/")) {
      const body = Buffer.from("the fake layer"); // same length as "the real layer"
      return void rs.writeHead(200, { "Content-Length": String(body.length), "Docker-Content-Digest": liarLayer }).end(rq.method === "HEAD" ? undefined : body);
    }
    rs.writeHead(404).end();
  });
  return new Promise((resolve) => liar.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(liar.address() as { port: number }).port}`)));
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "berth-mirror-"));
  src = path.join(tmp, "src");
  refs = Object.fromEntries((await makeOciLayout(src)).map((r) => [r.annotations!["org.opencontainers.image.ref.name"]!, r]));
  dist = await startDistribution({ rootdirectory: "unused", filesystem: true, htpasswd: `${USER}:${bcrypt.hashSync(PASSWORD, 4)}\n` });
  await toUpstream("v1", "lib/app:v1");
  await toUpstream("multi", "lib/multi:multi", ["--all"]);
  const liarUrl = await startLiar();
  door = await sniffingProxy(dist.url);
  const creds = { username: USER, secret: "UPSTREAM_PASSWORD" };
  berth = await startBerth({
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT,
    UPSTREAM_PASSWORD: PASSWORD,
    BERTH_METRICS_TOKEN: METRICS_TOKEN,
    BERTH_UPSTREAMS: JSON.stringify([
      { name: "dist", urls: [dist.url], prefix: "up", namespaces: ["upstream.test"], credentials: creds, ttl: "1h" },
      { name: "dist-fast", urls: [dist.url], prefix: "fast", credentials: creds, ttl: `${TTL_S}s` },
      { name: "dist-gone", urls: [door.url], prefix: "gone", credentials: creds, ttl: "1s" },
      { name: "liar", urls: [liarUrl], prefix: "liar" },
    ]),
  });
  host = new URL(berth.url).host;
}, 180_000);

afterAll(async () => {
  await berth?.stop();
  await door?.close();
  await dist?.stop();
  liar?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("pull-through cache (Distribution upstream with htpasswd)", () => {
  it("skopeo pulls an index and an image through the prefix: bytes identical, blobs in Berth's bucket", async () => {
    const out = path.join(tmp, "out");
    await sk(["copy", "--all", "--src-tls-verify=false", `docker://${host}/up/lib/multi:multi`, `oci:${out}:multi`]);
    await sk(["copy", "--src-tls-verify=false", `docker://${host}/up/lib/app:v1`, `oci:${out}:v1`]);
    const wanted = [...(await reachable(src, refs.multi!)), ...(await reachable(src, refs.v1!))];
    expect(wanted.length).toBeGreaterThan(6);
    for (const d of wanted) expect(await sha256File(blobFile(out, d.digest))).toBe(hexOf(d.digest));
    const index = JSON.parse(await readFile(path.join(out, "index.json"), "utf8")) as { manifests: Desc[] };
    expect(index.manifests.map((m) => m.digest)).toEqual(expect.arrayContaining([refs.multi!.digest, refs.v1!.digest]));
    const keys = new Set(await listKeys(`${ROOT}/docker/registry/v2/blobs/`));
    for (const d of wanted) expect(keys.has(`${ROOT}/docker/registry/v2/blobs/sha256/${hexOf(d.digest).slice(0, 2)}/${hexOf(d.digest)}/data`)).toBe(true);
    // Once stored, a blob is answered like any other: a redirect to the bucket.
    const layer = wanted.find((d) => d.mediaType.includes("layer"))!;
    expect((await req(berth.url, `/v2/up/lib/app/blobs/${layer.digest}`, { redirect: "manual" })).status).toBe(307);
    // Each fill has its audit line (with its upstream), and the metrics count fills and upstream requests.
    const fills = berth
      .logs()
      .split("\n")
      .filter((l) => l.includes('"action":"fill"'))
      .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as { repository: string; digest: string; upstream: string });
    const ours = fills.filter((f) => f.repository === "up/lib/app" || f.repository === "up/lib/multi");
    expect(ours.every((f) => f.upstream === "dist")).toBe(true);
    // Every digest pulled was stored by a fill once (a blob the other image shares is linked, not fetched again).
    expect(new Set(ours.map((f) => f.digest))).toEqual(new Set(wanted.map((d) => d.digest)));
    const metrics = await (await req(berth.url, "/metrics", { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    const count = (series: string) => Number(metrics.split("\n").find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? 0);
    expect(count('berth_upstream_fills_total{upstream="dist",kind="blob"}')).toBeGreaterThanOrEqual(wanted.filter((d) => !d.mediaType.includes("manifest") && !d.mediaType.includes("index")).length);
    expect(count('berth_upstream_fills_total{upstream="dist",kind="manifest"}')).toBeGreaterThanOrEqual(2);
    expect(count('berth_upstream_requests_total{upstream="dist",operation="blob"}')).toBeGreaterThan(0);
  });

  it("?ns=upstream.test routes to that upstream and answers OCI-Namespace", async () => {
    const seen = await digestIn("lib/app", "v1?ns=upstream.test");
    expect(seen).toEqual({ status: 200, digest: refs.v1!.digest, ns: "upstream.test" });
    expect((await digestIn("lib/app", "v1")).status).toBe(404); // no ns, no prefix, no default: a local name
  });

  it("tags/list of a mirrored repository is the upstream's list, through the prefix and through ns", async () => {
    await toUpstream("v1", "lib/listed:a");
    await toUpstream("v1", "lib/listed:b");
    const listed = async (p: string) => {
      const res = await req(berth.url, p);
      expect(res.status, p).toBe(200);
      return { body: await res.json(), ns: res.headers.get("OCI-Namespace") };
    };
    expect(await listed("/v2/up/lib/listed/tags/list")).toEqual({ body: { name: "up/lib/listed", tags: ["a", "b"] }, ns: null });
    expect(await listed("/v2/lib/listed/tags/list?ns=upstream.test")).toEqual({ body: { name: "lib/listed", tags: ["a", "b"] }, ns: "upstream.test" });
    const unknown = await req(berth.url, "/v2/up/lib/none/tags/list");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("NAME_UNKNOWN");
  });

  it("referrers of a mirrored image are the upstream's (its referrers tag: Distribution has no API); a referrer pulls through by digest", async () => {
    await toUpstream("v1", "lib/signed:v1");
    const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` };
    const empty = blobOf("{}");
    const post = await req(dist.url, "/v2/lib/signed/blobs/uploads/", { method: "POST", headers: auth });
    const location = new URL(post.headers.get("Location")!, dist.url);
    location.searchParams.set("digest", empty.digest);
    expect((await fetch(location, { method: "PUT", headers: auth, body: empty.bytes })).status).toBe(201);
    const v1 = refs.v1!;
    const artifactType = "application/vnd.example.signature";
    const emptyDesc = { mediaType: OCI_EMPTY, digest: empty.digest, size: empty.size };
    const sig = manifestOf({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config: emptyDesc, layers: [emptyDesc], subject: { mediaType: v1.mediaType, digest: v1.digest, size: v1.size } }, OCI_MANIFEST);
    const index = manifestOf({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.size, artifactType }] }, OCI_INDEX);
    for (const [ref, m] of [[sig.digest, sig], [`sha256-${hexOf(v1.digest)}`, index]] as const) {
      const put = await req(dist.url, `/v2/lib/signed/manifests/${ref}`, { method: "PUT", headers: { ...auth, "Content-Type": m.mediaType }, body: m.bytes });
      expect(put.status, await put.text()).toBe(201);
    }
    const listed = async (p: string) => {
      const res = await req(berth.url, p);
      expect(res.status, p).toBe(200);
      return { manifests: ((await res.json()) as { manifests: unknown[] }).manifests, ns: res.headers.get("OCI-Namespace") };
    };
    const want = [{ mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.size, artifactType }];
    expect(await listed(`/v2/up/lib/signed/referrers/${v1.digest}`)).toEqual({ manifests: want, ns: null });
    expect(await listed(`/v2/lib/signed/referrers/${v1.digest}?ns=upstream.test`)).toEqual({ manifests: want, ns: "upstream.test" });
    expect((await listed(`/v2/up/lib/signed/referrers/${v1.digest}?artifactType=application/vnd.example.sbom`)).manifests).toEqual([]);
    const got = await req(berth.url, `/v2/up/lib/signed/manifests/${sig.digest}`, { headers: { Accept: OCI_MANIFEST } });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(sig.bytes))).toBe(true);
  });

  it("a push into a mirror's prefix is refused; a push elsewhere works", async () => {
    const refused = await skopeo(["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${src}:v1`, `docker://${host}/up/lib/mine:v1`], { timeoutMs: 90_000 });
    expect(refused.code).not.toBe(0);
    const post = await req(berth.url, "/v2/up/lib/mine/blobs/uploads/", { method: "POST" });
    expect(post.status).toBe(405);
    expect(((await post.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("UNSUPPORTED");
    await sk(["copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${src}:v1`, `docker://${host}/local/mine:v1`]);
    expect((await digestIn("local/mine", "v1")).digest).toBe(refs.v1!.digest);
  });

  it("a tag moved upstream is seen after ttl, not before", async () => {
    await toUpstream("v1", "lib/moving:t");
    expect((await digestIn("fast/lib/moving", "t")).digest).toBe(refs.v1!.digest);
    await toUpstream("multi", "lib/moving:t", ["--all"]);
    expect((await digestIn("fast/lib/moving", "t")).digest).toBe(refs.v1!.digest);
    await sleep((TTL_S + 2) * 1000);
    expect((await digestIn("fast/lib/moving", "t")).digest).toBe(refs.multi!.digest);
  });

  it("concurrent pulls of one missing blob cause one upstream fetch", async () => {
    const bytes = randomBytes(24 * 1024 * 1024); // three parts of the default chunk size: a multipart upload while it streams
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` };
    const post = await req(dist.url, "/v2/lib/conc/blobs/uploads/", { method: "POST", headers: auth });
    expect(post.status).toBe(202);
    const location = new URL(post.headers.get("Location")!, dist.url);
    location.searchParams.set("digest", digest);
    expect((await fetch(location, { method: "PUT", headers: auth, body: bytes })).status).toBe(201);
    // Each client reads its answer as it comes (the fetch streams only as fast as its first client reads).
    const pull = async () => {
      const res = await req(berth.url, `/v2/up/lib/conc/blobs/${digest}`);
      const body = res.status === 307 ? await fetch(res.headers.get("Location")!) : res;
      return { status: res.status, sha: createHash("sha256").update(Buffer.from(await body.arrayBuffer())).digest("hex") };
    };
    const pulls = await Promise.all([1, 2, 3, 4].map(pull));
    // One streams it from the upstream; the others waited for it and are sent to the bucket.
    expect(pulls.map((p) => p.status).sort()).toEqual([200, 307, 307, 307]);
    expect(pulls.map((p) => p.sha)).toEqual(Array(4).fill(hexOf(digest)));
    const fetched = dist.logs().split("\n").filter((l) => l.includes(`"GET /v2/lib/conc/blobs/${digest} HTTP/1.1" 200`));
    expect(fetched).toHaveLength(1);
  });

  it("an upstream sending wrong bytes for a digest: the client gets an error, nothing is stored", async () => {
    const res = await req(berth.url, `/v2/liar/x/blobs/${liarLayer}`);
    const failed = res.status !== 200 || (await res.arrayBuffer().then((b) => b.byteLength !== 14, () => true));
    expect(failed).toBe(true);
    await sleep(500);
    expect(await listKeys(`${ROOT}/docker/registry/v2/blobs/sha256/${hexOf(liarLayer).slice(0, 2)}/${hexOf(liarLayer)}/`)).toEqual([]);
    expect(await listKeys(`${ROOT}/docker/registry/v2/repositories/liar/`)).toEqual([]);
  });

  it("with the upstream unreachable, cached tags (stale) and digests still pull", async () => {
    const before = path.join(tmp, "before-gone");
    await sk(["copy", "--all", "--src-tls-verify=false", `docker://${host}/gone/lib/multi:multi`, `oci:${before}:multi`]);
    await sk(["copy", "--src-tls-verify=false", `docker://${host}/gone/lib/app@${refs.v1!.digest}`, `oci:${before}:v1`]);
    await door.close();
    await sleep(2000); // past the 1s ttl: the tag is checked, the upstream cannot be reached, the cached one is served
    const out = path.join(tmp, "after-gone");
    await sk(["copy", "--all", "--src-tls-verify=false", `docker://${host}/gone/lib/multi:multi`, `oci:${out}:multi`]);
    await sk(["copy", "--src-tls-verify=false", `docker://${host}/gone/lib/app@${refs.v1!.digest}`, `oci:${out}:v1`]);
    for (const d of [...(await reachable(src, refs.multi!)), ...(await reachable(src, refs.v1!))]) {
      expect(await sha256File(blobFile(out, d.digest))).toBe(hexOf(d.digest));
    }
    expect(berth.logs()).toContain("(stale)");
    expect(berth.logs()).not.toContain(PASSWORD);
  });
});
