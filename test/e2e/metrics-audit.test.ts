// GET /metrics and the audit log under wrangler dev + Swift. One Berth (REGISTRY_AUTH=none, a metrics token)
// gets a known sequence of requests and its /metrics must show exactly those counts, S3 requests included
// (its own counts come from the Worker and from the upload-session and metadata Durable Objects, flushed to
// the metrics object in batches). One Berth in htpasswd mode with an access policy: /metrics refuses callers
// without the token or admin rights; a push, a failed login and a denied push each give exactly one audit line
// with the expected fields, and no log line holds a password, the Basic header or the metrics token.
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { blobOf, imageManifest, putManifestOk } from "./helpers/manifests.js";
import { absolute, digestOf, pollUntil, pushBlob, rand, randomBytes, req, startUpload, withDigest } from "./helpers/registry.js";

const TOKEN = `metrics-${rand(24)}`;
const PW = { alice: `alice-pw-${rand()}`, bob: `bob-pw-${rand()}` };
const ACCESS = JSON.stringify({
  repositories: { "**": { policies: [{ users: ["alice"], actions: ["read", "create", "update", "delete"] }], defaultPolicy: ["read"] } },
  adminPolicy: { users: ["alice"], actions: ["read", "create", "update", "delete"] },
});
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

let open: Berth; // REGISTRY_AUTH=none
let locked: Berth; // htpasswd + access control

beforeAll(async () => {
  const htpasswd = Object.entries(PW).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`).join("\n");
  [open, locked] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-metrics-${rand()}`, BERTH_METRICS_TOKEN: TOKEN }),
    startBerth({
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-audit-${rand()}`,
      REGISTRY_AUTH: "htpasswd",
      REGISTRY_AUTH_HTPASSWD: htpasswd,
      REGISTRY_ACCESSCONTROL: ACCESS,
      BERTH_AUTH_FAIL_DELAY: "100ms",
      BERTH_METRICS_TOKEN: TOKEN,
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([open?.stop(), locked?.stop()]);
});

async function scrape(b: Berth): Promise<string> {
  const res = await req(b.url, "/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
  return text;
}

/** Every series of an exposition (not the # lines), as series → value. */
function seriesOf(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

interface AuditLine {
  action: string;
  outcome: string;
  status: number;
  actor: string | null;
  method: string;
  path: string;
  repository: string | null;
  reference: string | null;
  digest: string | null;
  userAgent: string | null;
  requestId: string;
  time: string;
  clientAddress: string | null;
}

/** The audit lines in a Berth's log. */
function auditLines(b: Berth): AuditLine[] {
  return b
    .logs()
    .split("\n")
    .filter((l) => l.includes('{"audit":"berth"'))
    .map((l) => JSON.parse(l.slice(l.indexOf('{"audit":"berth"'))) as AuditLine);
}

describe("GET /metrics", () => {
  it("after a known sequence of requests shows exactly those counts", async () => {
    const repo = `m/${rand()}`;
    const config = blobOf(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const layer = blobOf(randomBytes(3000));
    await pushBlob(open.url, repo, config); // monolithic POST ?digest=
    const chunk = randomBytes(5000);
    const session = await startUpload(open.url, repo); // POST, then PATCH, then PUT ?digest=
    const patched = await req(open.url, session, { method: "PATCH", body: chunk, headers: { "Content-Type": "application/octet-stream" } });
    expect(patched.status).toBe(202);
    const done = await req(open.url, withDigest(absolute(open.url, patched.headers.get("location")!), digestOf(chunk)), { method: "PUT" });
    expect(done.status).toBe(201);
    await pushBlob(open.url, repo, layer);
    const m = imageManifest({ config, layers: [layer] });
    await putManifestOk(open.url, repo, "v1", m);
    expect((await req(open.url, `/v2/${repo}/manifests/v1`, { headers: { Accept: m.mediaType } })).status).toBe(200);
    expect((await req(open.url, `/v2/${repo}/manifests/v1`, { method: "HEAD", headers: { Accept: m.mediaType } })).status).toBe(200);
    expect((await req(open.url, `/v2/${repo}/blobs/${layer.digest}`)).status).toBe(307);
    expect((await req(open.url, `/v2/${repo}/manifests/nope`)).status).toBe(404);

    const expected: Record<string, number> = {
      'berth_http_requests_total{route="upload",method="POST",status="2xx"}': 3,
      'berth_http_requests_total{route="upload",method="PATCH",status="2xx"}': 1,
      'berth_http_requests_total{route="upload",method="PUT",status="2xx"}': 1,
      'berth_http_requests_total{route="manifest",method="PUT",status="2xx"}': 1,
      'berth_http_requests_total{route="manifest",method="GET",status="2xx"}': 1,
      'berth_http_requests_total{route="manifest",method="HEAD",status="2xx"}': 1,
      'berth_http_requests_total{route="manifest",method="GET",status="4xx"}': 1,
      'berth_http_requests_total{route="blob",method="GET",status="3xx"}': 1,
      'berth_http_request_duration_seconds_count{route="manifest",method="GET"}': 2,
      berth_blobs_pushed_total: 3,
      berth_manifests_pushed_total: 1,
      'berth_received_bytes_total{kind="blob"}': config.bytes.byteLength + layer.bytes.byteLength + chunk.byteLength,
      'berth_received_bytes_total{kind="manifest"}': m.bytes.byteLength,
      'berth_pulls_total{kind="manifest"}': 2,
      'berth_pulls_total{kind="blob"}': 1,
      berth_redirects_total: 1,
      berth_upload_sessions_started_total: 3,
      berth_upload_sessions_committed_total: 3,
      berth_upload_sessions_expired_total: 0,
    };
    // The scrape flushes its own isolate first; a Durable Object running elsewhere flushes within 5 s.
    const got = await pollUntil(
      "the counts of the sequence",
      async () => {
        const s = seriesOf(await scrape(open));
        return Object.entries(expected).every(([k, v]) => (s[k] ?? 0) >= v) ? s : undefined;
      },
      20_000,
      500,
    );
    for (const [k, v] of Object.entries(expected)) expect(got[k] ?? 0, k).toBe(v);
    // S3 was used by the Worker and the objects, and counted by operation.
    expect(got['berth_s3_requests_total{operation="PutObject"}'] ?? 0).toBeGreaterThanOrEqual(4);
    expect(Object.keys(got).some((k) => k.startsWith("berth_s3_errors_total"))).toBe(false);
    // Scrapes are requests too: counted once answered, so the next scrape shows the ones before it.
    expect(seriesOf(await scrape(open))['berth_http_requests_total{route="metrics",method="GET",status="2xx"}']).toBeGreaterThanOrEqual(1);
  });
});

describe("who may scrape", () => {
  it("refuses callers without the token (401), with a wrong one (401) and users who are not admins (403)", async () => {
    const none = await req(locked.url, "/metrics");
    expect(none.status).toBe(401);
    await none.body?.cancel();
    const wrong = await req(locked.url, "/metrics", { headers: { Authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();
    const bob = await req(locked.url, "/metrics", { headers: { Authorization: basic("bob", PW.bob) } });
    expect(bob.status).toBe(403);
    await bob.body?.cancel();
    const alice = await req(locked.url, "/metrics", { headers: { Authorization: basic("alice", PW.alice) } });
    expect(alice.status).toBe(200);
    expect(await alice.text()).toContain("# TYPE berth_http_requests_total counter");
    expect(await scrape(locked)).toContain("# TYPE berth_s3_requests_total counter");
  });
});

describe("audit log", () => {
  it("a push, a failed login and a denied push each give one line with the expected fields; no secret in any line", async () => {
    const repo = `a/${rand()}`;
    const ua = `audit-test/${rand()}`;
    const alice = { Authorization: basic("alice", PW.alice), "User-Agent": ua };
    // alice pushes an image (blobs by monolithic POST, then the manifest by tag)
    const config = blobOf(JSON.stringify({ architecture: "amd64", os: "linux", r: rand() }));
    for (const b of [config]) {
      const res = await req(locked.url, `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: "POST", body: b.bytes, headers: { ...alice, "Content-Type": "application/octet-stream" } });
      expect(res.status).toBe(201);
    }
    const m = imageManifest({ config, layers: [] });
    const put = await req(locked.url, `/v2/${repo}/manifests/v1`, { method: "PUT", body: m.bytes, headers: { ...alice, "Content-Type": m.mediaType } });
    expect(put.status).toBe(201);
    // a failed login
    const failed = await req(locked.url, "/v2/", { headers: { Authorization: basic("alice", "wrong-password-here"), "User-Agent": ua } });
    expect(failed.status).toBe(401);
    // bob may only read: his push is denied
    const denied = await req(locked.url, `/v2/${repo}/manifests/v2`, {
      method: "PUT",
      body: m.bytes,
      headers: { Authorization: basic("bob", PW.bob), "User-Agent": ua, "Content-Type": m.mediaType },
    });
    expect(denied.status).toBe(403);

    const mine = await pollUntil("three audit lines", async () => {
      const l = auditLines(locked).filter((a) => a.userAgent === ua && a.path !== `/v2/${repo}/blobs/uploads/`);
      return l.length >= 3 ? l : undefined;
    }, 10_000);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would show by now
    const lines = auditLines(locked).filter((a) => a.userAgent === ua && a.path !== `/v2/${repo}/blobs/uploads/`);
    expect(lines).toHaveLength(3);
    expect(mine).toHaveLength(3);
    const [push, login, refusal] = lines;
    expect(push).toMatchObject({ action: "push", outcome: "success", status: 201, actor: "alice", method: "PUT", path: `/v2/${repo}/manifests/v1`, repository: repo, reference: "v1", digest: m.digest });
    expect(login).toMatchObject({ action: "auth-failure", outcome: "unauthorized", status: 401, actor: null, method: "GET", path: "/v2/" });
    expect(refusal).toMatchObject({ action: "push", outcome: "denied", status: 403, actor: "bob", method: "PUT", repository: repo, reference: "v2" });
    for (const l of lines) {
      expect(l.requestId).toMatch(/.+/);
      expect(new Date(l.time).toString()).not.toBe("Invalid Date");
      expect(Object.keys(l)).toContain("clientAddress");
    }
    // No secret anywhere in the log: passwords, Basic headers, the metrics token.
    const log = locked.logs() + open.logs();
    for (const [u, p] of Object.entries(PW)) {
      expect(log).not.toContain(p);
      expect(log).not.toContain(Buffer.from(`${u}:${p}`).toString("base64"));
    }
    expect(log).not.toContain("wrong-password-here");
    expect(log).not.toContain(TOKEN);
  });
});
