// Webhook notifications end to end: wrangler dev + Swift, skopeo pushing and pulling, and a real HTTP receiver
// on 127.0.0.1 behind four endpoints: one in Distribution's format (with an Authorization header from a
// Worker secret), one in CloudEvents, one that answers 500 for a while (and a reload of the Worker happens
// while it does), and one that never recovers (its events end in the dead-letter list, and replay delivers
// them once it answers). Push, pull, a tag move, a delete of the old manifest and of the tag, and a mount:
// every event arrives at every endpoint with the right fields, the same id everywhere.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { makeOciLayout, skopeo, type OciRef } from "./harness/tools.js";
import { OCI_INDEX, OCI_MANIFEST, rand, req } from "./helpers/manifests.js";
import { pollUntil } from "./helpers/registry.js";

const ROOT = `t-events-${rand()}`;
const HOOK_SECRET = `Bearer ${rand(24)}`;
const repo = `ev-${rand()}/app`;
const mirror = `ev-${rand()}/mirror`;

interface Hit {
  path: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

/** The receiver: every request kept; the status per path decided by `answer`. */
const hits: Hit[] = [];
const answer: Record<string, number> = { "/dist": 200, "/ce": 202, "/flaky": 500, "/down": 500 };
let server: Server;
let receiver: string;

let berth: Berth;
let host: string;
let tmp: string;
let src: string;
let refs: Record<string, OciRef>;

interface DistEvent {
  id: string;
  timestamp: string;
  action: string;
  target: { mediaType?: string; size?: number; length?: number; digest?: string; repository: string; fromRepository?: string; url?: string; tag?: string };
  request: { id: string; host: string; method: string; useragent: string };
  actor: Record<string, string>;
  source: { addr: string; instanceID: string };
}

interface CloudEvent {
  specversion: string;
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  datacontenttype: string;
  data: { repository: string; tag?: string; digest?: string; mediaType?: string; registryUrl: string; action: string; fromRepository?: string };
}

/** Distribution events an endpoint received (duplicates included). */
const distEvents = (p: string): DistEvent[] => hits.filter((h) => h.path === p).flatMap((h) => (h.body as { events: DistEvent[] }).events);
const cloudEvents = (): CloudEvent[] => hits.filter((h) => h.path === "/ce").map((h) => h.body as CloudEvent);
const ids = (events: { id: string }[]) => new Set(events.map((e) => e.id));

async function run(args: string[]): Promise<void> {
  const r = await skopeo(["--insecure-policy", ...args], { timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(" ")} exited with ${r.code}\n${r.stderr.slice(-3000)}\n--- berth logs\n${berth.logs().slice(-3000)}`);
}

const find = (events: DistEvent[], action: string, pred: (e: DistEvent) => boolean) => events.find((e) => e.action === action && pred(e));

/** The events every endpoint must see: waits for them at /dist. */
async function waitFor(what: string, check: (events: DistEvent[]) => boolean): Promise<void> {
  await pollUntil(what, async () => (check(distEvents("/dist")) ? true : undefined), 30_000);
}

beforeAll(async () => {
  server = createServer((rq, rs) => {
    const chunks: Buffer[] = [];
    rq.on("data", (c: Buffer) => chunks.push(c));
    rq.on("end", () => {
      hits.push({ path: rq.url ?? "", headers: rq.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "null") });
      rs.writeHead(answer[rq.url ?? ""] ?? 404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fast = { threshold: 1, backoff: "100ms", maxbackoff: "400ms", timeout: "2s" };
  const endpoints = [
    { name: "dist", url: `${receiver}/dist`, headers: { Authorization: { secret: "HOOK_SECRET" }, "X-Team": ["registry"] }, ...fast },
    { name: "ce", url: `${receiver}/ce`, format: "cloudevents", ...fast },
    { name: "flaky", url: `${receiver}/flaky`, ...fast, maxattempts: 1000 },
    { name: "down", url: `${receiver}/down`, ...fast, maxattempts: 3 },
  ];
  [berth, tmp] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, REGISTRY_NOTIFICATIONS: JSON.stringify({ endpoints }), HOOK_SECRET }),
    mkdtemp(path.join(os.tmpdir(), "berth-events-")),
  ]);
  host = new URL(berth.url).host;
  src = path.join(tmp, "src");
  refs = Object.fromEntries(
    (await makeOciLayout(src)).map((r) => [r.annotations?.["org.opencontainers.image.ref.name"] ?? r.digest, r]),
  );
});

afterAll(async () => {
  await berth?.stop();
  await new Promise((resolve) => server?.close(resolve));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- berth logs (tail)\n${berth.logs().slice(-4000)}`);
});

describe("notifications", () => {
  // The tests build on each other in order: one registry, one history of events.
  let image: { config: string; layers: string[] };

  it("skopeo push: blob pushes and the manifest push with its tag, in Distribution's envelope with the secret header", async () => {
    await run(["copy", "--dest-tls-verify=false", "--preserve-digests", `oci:${src}:v1`, `docker://${host}/${repo}:v1`]);
    const m = JSON.parse(await readFile(path.join(src, "blobs/sha256", refs.v1!.digest.slice(7)), "utf8")) as { config: { digest: string }; layers: { digest: string }[] };
    image = { config: m.config.digest, layers: m.layers.map((l) => l.digest) };
    await waitFor("the push's events", (ev) => find(ev, "push", (e) => e.target.tag === "v1") !== undefined);
    const ev = distEvents("/dist");
    const push = find(ev, "push", (e) => e.target.tag === "v1")!;
    expect(push.target).toEqual({
      mediaType: OCI_MANIFEST,
      size: refs.v1!.size,
      length: refs.v1!.size,
      digest: refs.v1!.digest,
      repository: repo,
      url: `${berth.url}/v2/${repo}/manifests/${refs.v1!.digest}`,
      tag: "v1",
    });
    expect(push.request).toMatchObject({ host, method: "PUT" });
    expect(push.request.useragent).toMatch(/skopeo|containers/i);
    expect(push.source.addr).toBe(host);
    expect(Date.parse(push.timestamp)).toBeGreaterThan(Date.now() - 120_000);
    for (const blob of [image.config, ...image.layers]) {
      const b = find(ev, "push", (e) => e.target.digest === blob);
      expect(b?.target, blob).toMatchObject({ mediaType: "application/octet-stream", repository: repo, url: `${berth.url}/v2/${repo}/blobs/${blob}` });
      expect(b!.target.size).toBeGreaterThan(0);
    }
    const h = hits.find((x) => x.path === "/dist")!;
    expect(h.headers["content-type"]).toBe("application/vnd.docker.distribution.events.v2+json");
    expect(h.headers.authorization).toBe(HOOK_SECRET);
    expect(h.headers["x-team"]).toBe("registry");
    // The secret is in no log line.
    expect(berth.logs()).not.toContain(HOOK_SECRET.slice(7));
  });

  it("skopeo pull: a pull event for the manifest (batched), none per blob", async () => {
    await run(["copy", "--src-tls-verify=false", `docker://${host}/${repo}:v1`, `oci:${path.join(tmp, "pulled")}:v1`]);
    await waitFor("the pull event", (ev) => find(ev, "pull", (e) => e.target.digest === refs.v1!.digest) !== undefined);
    const pull = find(distEvents("/dist"), "pull", (e) => e.target.digest === refs.v1!.digest)!;
    expect(pull.target).toMatchObject({ mediaType: OCI_MANIFEST, repository: repo, tag: "v1", size: refs.v1!.size });
    expect(pull.request.method).toMatch(/^(GET|HEAD)$/);
    expect(distEvents("/dist").filter((e) => e.action === "pull" && e.target.mediaType === "application/octet-stream")).toEqual([]);
    // Blob pulls are counted.
    const stats = (await (await req(berth.url, "/v2/_berth/ext/events/stats")).json()) as { pulls: { manifests: number; blobs: number } };
    expect(stats.pulls.manifests).toBeGreaterThanOrEqual(1);
    expect(stats.pulls.blobs).toBeGreaterThanOrEqual(1 + image.layers.length);
  });

  it("a reload of the Worker while an endpoint fails, then a tag move, a delete and a mount", async () => {
    await berth.reload();
    await run(["copy", "--all", "--dest-tls-verify=false", "--preserve-digests", `oci:${src}:multi`, `docker://${host}/${repo}:v1`]);
    expect((await req(berth.url, `/v2/${mirror}/blobs/uploads/?mount=${image.layers[0]}&from=${repo}`, { method: "POST" })).status).toBe(201);
    expect((await req(berth.url, `/v2/${repo}/manifests/${refs.v1!.digest}`, { method: "DELETE" })).status).toBe(202);
    expect((await req(berth.url, `/v2/${repo}/manifests/v1`, { method: "DELETE" })).status).toBe(202);
    await waitFor("the tag move, mount and deletes", (ev) =>
      find(ev, "push", (e) => e.target.tag === "v1" && e.target.digest === refs.multi!.digest) !== undefined &&
      find(ev, "mount", () => true) !== undefined &&
      find(ev, "delete", (e) => e.target.digest === refs.v1!.digest) !== undefined &&
      find(ev, "delete", (e) => e.target.tag === "v1") !== undefined,
    );
    const ev = distEvents("/dist");
    expect(find(ev, "push", (e) => e.target.tag === "v1" && e.target.digest === refs.multi!.digest)!.target.mediaType).toBe(OCI_INDEX);
    expect(find(ev, "mount", () => true)!.target).toEqual({
      mediaType: "application/octet-stream",
      digest: image.layers[0],
      repository: mirror,
      fromRepository: repo,
      url: `${berth.url}/v2/${mirror}/blobs/${image.layers[0]}`,
    });
    expect(find(ev, "delete", (e) => e.target.digest === refs.v1!.digest)!.target).toEqual({ digest: refs.v1!.digest, repository: repo });
    expect(find(ev, "delete", (e) => e.target.tag === "v1")!.target).toEqual({ repository: repo, tag: "v1" });
    expect(ids(ev).size).toBe(new Set(ev.map((e) => e.id)).size);
  });

  it("CloudEvents: the same events, one structured-mode request each, with what Argo CD Image Updater reads", async () => {
    const want = ids(distEvents("/dist"));
    await pollUntil("every event as a CloudEvent", async () => ([...want].every((id) => ids(cloudEvents()).has(id)) ? true : undefined), 30_000);
    const h = hits.find((x) => x.path === "/ce")!;
    expect(h.headers["content-type"]).toMatch(/^application\/cloudevents\+json/);
    const ce = cloudEvents();
    const push = ce.find((e) => e.data.tag === "v1" && e.data.digest === refs.v1!.digest && e.data.action === "push")!;
    expect(push).toMatchObject({
      specversion: "1.0",
      type: "berth.image.manifest.push",
      source: `${berth.url}/v2/${repo}`,
      subject: `${repo}:v1`,
      datacontenttype: "application/json",
      data: { repository: repo, tag: "v1", digest: refs.v1!.digest, mediaType: OCI_MANIFEST, registryUrl: host },
    });
    for (const e of ce) expect(e.type).toContain("image");
    const mount = ce.find((e) => e.data.action === "mount")!;
    expect(mount).toMatchObject({ type: "berth.image.blob.mount", data: { repository: mirror, fromRepository: repo } });
    expect(ce.find((e) => e.data.action === "delete" && e.data.tag === "v1")!.type).toBe("berth.image.tag.delete");
  });

  it("the endpoint that answered 500 all along (across the reload) recovers: every event arrives", async () => {
    expect(hits.filter((h) => h.path === "/flaky").length).toBeGreaterThan(3); // it was tried, and refused
    const stats = (await (await req(berth.url, "/v2/_berth/ext/events/stats")).json()) as { endpoints: Record<string, { pending: number; lastError: string | null }> };
    expect(stats.endpoints.flaky!.pending).toBeGreaterThan(0);
    expect(stats.endpoints.flaky!.lastError).toBe("HTTP 500");
    answer["/flaky"] = 204;
    const want = ids(distEvents("/dist"));
    await pollUntil("every event at the recovered endpoint", async () => ([...want].every((id) => ids(distEvents("/flaky")).has(id)) ? true : undefined), 30_000);
  });

  it("the endpoint that never answers: its events are dead letters; replay delivers them", async () => {
    const want = ids(distEvents("/dist"));
    type Dead = { dead: { endpoint: string; attempts: number; lastError: string; event: { event: DistEvent } }[]; more: boolean };
    const dead = await pollUntil(
      "every event in the dead-letter list",
      async () => {
        const d = (await (await req(berth.url, "/v2/_berth/ext/events/dead?endpoint=down&n=1000")).json()) as Dead;
        return [...want].every((id) => d.dead.some((x) => x.event.event.id === id)) ? d : undefined;
      },
      30_000,
    );
    for (const d of dead.dead) expect(d).toMatchObject({ endpoint: "down", attempts: 3, lastError: "HTTP 500" });
    expect(distEvents("/down").length).toBeGreaterThanOrEqual(3 * want.size); // each was tried three times
    // GET /metrics reads the same from the outboxes (REGISTRY_AUTH=none: open to anyone, no token set).
    const metrics = async (series: string) => {
      const text = await (await req(berth.url, "/metrics")).text();
      return Number(text.split("\n").find((l) => l.startsWith(`${series} `))?.split(" ")[1] ?? NaN);
    };
    expect(await metrics('berth_notification_dead_letters{endpoint="down"}')).toBeGreaterThanOrEqual(dead.dead.length);
    expect(await metrics('berth_notification_dead_letters_total{endpoint="down"}')).toBeGreaterThanOrEqual(dead.dead.length);
    expect(await metrics('berth_notification_failures_total{endpoint="down"}')).toBeGreaterThanOrEqual(3);
    expect(await metrics('berth_notification_deliveries_total{endpoint="dist"}')).toBeGreaterThanOrEqual(want.size);
    answer["/down"] = 200;
    const before = hits.filter((h) => h.path === "/down").length;
    const res = await req(berth.url, "/v2/_berth/ext/events/replay?endpoint=down", { method: "POST" });
    expect(res.status).toBe(200);
    const replayed = (await res.json()) as { replayed: number };
    expect(replayed.replayed).toBe(dead.dead.length);
    await pollUntil(
      "the replayed events",
      async () => {
        const got = ids(hits.filter((h) => h.path === "/down").slice(before).flatMap((h) => (h.body as { events: DistEvent[] }).events));
        return [...want].every((id) => got.has(id)) ? true : undefined;
      },
      30_000,
    );
    expect(((await (await req(berth.url, "/v2/_berth/ext/events/dead")).json()) as Dead).dead).toEqual([]);
    // Replayed and delivered: no dead letter is held, and the lifetime count of dead letters stays.
    expect(await metrics('berth_notification_dead_letters{endpoint="down"}')).toBe(0);
    expect(await metrics('berth_notification_dead_letters_total{endpoint="down"}')).toBeGreaterThanOrEqual(dead.dead.length);
    expect(await metrics('berth_notification_deliveries_total{endpoint="down"}')).toBeGreaterThanOrEqual(want.size);
  });
});
