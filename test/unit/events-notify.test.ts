// Notifications through the router (src/registry/notify.ts in front of in-memory outboxes): the events of
// pushes, tags, deletes and mounts in Distribution's shape with one durable write per acknowledged write, a
// write whose event cannot be recorded is not acknowledged, pulls held and flushed in one write per batch,
// blob pulls counted but only sent to endpoints with blobpulls, ignore rules, and the admin API
// (dead letters, replay, stats) behind the admin check.
import { describe, expect, it } from "vitest";
import type { Fetch } from "../../src/events/delivery";
import { DISTRIBUTION_EVENTS_TYPE } from "../../src/events/formats";
import { DELIVERY_DELAY_MS } from "../../src/events/outbox";
import { OUTBOX_SHARDS, type RegistryEvent } from "../../src/events/protocol";
import { OCI_IMAGE_MANIFEST } from "../../src/oci/media-types";
import type { RegistryContext } from "../../src/registry/context";
import { Notifier } from "../../src/registry/notify";
import type { WriteEvent } from "../../src/registry/writes";
import { pattern, sha256 } from "./support/content";
import { pushBlob, pushImage } from "./support/flows";
import { expectError, expectStatus, ORIGIN, registry } from "./support/registry";

const REPO = "team/app";

function setup(endpoints: Record<string, unknown>[] = [{ name: "hook", url: "https://hooks.example.com/in" }]) {
  const r = registry({ env: { REGISTRY_NOTIFICATIONS: JSON.stringify({ endpoints }) } });
  const received: { url: string; body: unknown }[] = [];
  let status = 200;
  r.webhook = (async (url, init) => {
    received.push({ url, body: JSON.parse(String(init.body)) });
    return new Response(null, { status });
  }) satisfies Fetch;
  const timers: (() => void)[] = [];
  const notifier = new Notifier(r.cfg.notifications, (shard) => r.outboxAt(shard).outbox, {
    sleep: () => new Promise<void>((resolve) => timers.push(resolve)),
    now: r.clock.now,
    log: () => {},
  });
  // Handlers call ctx.written / ctx.pulled as methods of the per-request context: `this` is that request's.
  r.ctx.written = function (this: RegistryContext, ...events: WriteEvent[]) {
    return notifier.record(events, this.request);
  };
  r.ctx.pulled = function (this: RegistryContext, event) {
    notifier.pulled(event, this.request, (work) => r.ctx.waitUntil(work));
  };
  return {
    r,
    notifier,
    received,
    setStatus: (s: number) => (status = s),
    /** Durable writes so far, over every outbox. */
    writes: () => [...r.outboxes.values()].reduce((n, o) => n + o.storage.writes, 0),
    /** Lets the pull flush timers fire and waits for the flushes. */
    async flushPulls() {
      for (const t of timers.splice(0)) t();
      await Promise.all(r.background.splice(0));
    },
    /** Fires the outboxes' alarms due within the delivery delay (not beyond: backoffs stay), until none is left. */
    async deliver() {
      const until = r.clock.t + DELIVERY_DELAY_MS;
      for (let round = 0; round < 50; round++) {
        let fired = 0;
        for (const { outbox, storage } of r.outboxes.values()) {
          if (storage.alarm !== null && storage.alarm <= until) {
            if (storage.alarm > r.clock.t) r.clock.t = storage.alarm;
            storage.alarm = null;
            await outbox.alarm();
            fired++;
          }
        }
        if (fired === 0) return;
      }
    },
    /** Every event received, in arrival order. */
    events(): RegistryEvent[] {
      return received.flatMap((x) => (x.body as { events: RegistryEvent[] }).events);
    },
  };
}

describe("write events", () => {
  it("an image push: blob pushes and a manifest push with its tag, Distribution's fields, one durable write per write", async () => {
    const s = setup();
    const { config, layer, manifest } = await pushImage(s.r, REPO, "v1");
    expect(s.writes()).toBe(3); // two blob uploads and the manifest PUT
    await s.deliver();
    const got = s.events();
    expect(got.map((e) => [e.action, e.target.mediaType, e.target.tag])).toEqual([
      ["push", "application/octet-stream", undefined],
      ["push", "application/octet-stream", undefined],
      ["push", OCI_IMAGE_MANIFEST, "v1"],
    ]);
    const [c, l, m] = got as [RegistryEvent, RegistryEvent, RegistryEvent];
    expect(c.target).toEqual({ mediaType: "application/octet-stream", size: config.byteLength, length: config.byteLength, digest: sha256(config), repository: REPO, url: `${ORIGIN}/v2/${REPO}/blobs/${sha256(config)}` });
    expect(l.target.digest).toBe(sha256(layer));
    expect(m.target).toEqual({ mediaType: OCI_IMAGE_MANIFEST, size: manifest.bytes.byteLength, length: manifest.bytes.byteLength, digest: manifest.digest, repository: REPO, url: `${ORIGIN}/v2/${REPO}/manifests/${manifest.digest}`, tag: "v1" });
    expect(m.request).toMatchObject({ id: "test-request", host: "registry.test", method: "PUT" });
    expect(m.actor).toEqual({});
    expect(m.source.addr).toBe("registry.test");
    expect(new Set(got.map((e) => e.id)).size).toBe(3);
    expect(Date.parse(m.timestamp)).toBe(s.r.clock.t - DELIVERY_DELAY_MS); // recorded, then delivered a moment later
  });

  it("?tag=a&tag=b: one push event per tag, still one write; a tag move is a push of the new digest", async () => {
    const s = setup();
    const { manifest } = await pushImage(s.r, REPO, null, 1);
    const before = s.writes();
    await expectStatus(await s.r.call("PUT", `/v2/${REPO}/manifests/${manifest.digest}?tag=a&tag=b`, { body: manifest.bytes, headers: { "Content-Type": OCI_IMAGE_MANIFEST } }), 201);
    expect(s.writes()).toBe(before + 1);
    const moved = await pushImage(s.r, REPO, "a", 2);
    await s.deliver();
    const pushes = s.events().filter((e) => e.target.mediaType === OCI_IMAGE_MANIFEST);
    expect(pushes.map((e) => [e.target.digest, e.target.tag])).toEqual([
      [manifest.digest, undefined],
      [manifest.digest, "a"],
      [manifest.digest, "b"],
      [moved.manifest.digest, "a"],
    ]);
  });

  it("deletes of a tag, a manifest and a blob, and a mount, in Distribution's shape", async () => {
    const s = setup();
    const { manifest, layer } = await pushImage(s.r, REPO, "v1");
    await expectStatus(await s.r.call("POST", `/v2/other/app/blobs/uploads/?mount=${sha256(layer)}&from=${REPO}`), 201);
    await expectStatus(await s.r.call("DELETE", `/v2/${REPO}/manifests/v1`), 202);
    await expectStatus(await s.r.call("DELETE", `/v2/${REPO}/manifests/${manifest.digest}`), 202);
    await expectStatus(await s.r.call("DELETE", `/v2/${REPO}/blobs/${sha256(layer)}`), 202);
    await s.deliver();
    // Two repositories, two outboxes: no order between them.
    const rest = s.events().filter((e) => e.action !== "push");
    rest.sort((a, b) => (a.action === "mount" ? -1 : b.action === "mount" ? 1 : 0));
    expect(rest.map((e) => [e.action, e.target])).toEqual([
      ["mount", { mediaType: "application/octet-stream", digest: sha256(layer), repository: "other/app", fromRepository: REPO, url: `${ORIGIN}/v2/other/app/blobs/${sha256(layer)}` }],
      ["delete", { repository: REPO, tag: "v1" }],
      ["delete", { digest: manifest.digest, repository: REPO }],
      ["delete", { digest: sha256(layer), repository: REPO }],
    ]);
  });

  it("a write whose event cannot be recorded is not acknowledged", async () => {
    const s = setup();
    for (let i = 0; i < OUTBOX_SHARDS; i++) {
      s.r.outboxAt(i).outbox.record = async () => {
        throw new Error("outbox unavailable");
      };
    }
    const res = await s.r.call("POST", `/v2/${REPO}/blobs/uploads/?digest=${sha256(pattern(10))}`, { body: pattern(10) });
    expect(res.status).toBe(500);
  });

  it("ignore rules: actions, media types, untagged; nothing wanted is no write at all", async () => {
    const s = setup([{ name: "argo", url: "https://argo.example.com/webhook", format: "cloudevents", ignore: { actions: ["pull", "delete", "mount"], mediatypes: ["application/octet-stream"], untagged: true } }]);
    const { manifest } = await pushImage(s.r, REPO, "v1");
    await pushImage(s.r, REPO, null, 2);
    await expectStatus(await s.r.call("DELETE", `/v2/${REPO}/manifests/v1`), 202);
    expect(s.writes()).toBe(1);
    await s.deliver();
    expect(s.received.map((x) => (x.body as { type: string; subject: string }).subject)).toEqual([`${REPO}:v1`]);
    expect((s.received[0]!.body as { data: { digest: string } }).data.digest).toBe(manifest.digest);
  });
});

describe("pulls", () => {
  it("held in the isolate, flushed in one write per batch; blob pulls counted, sent only with blobpulls", async () => {
    const s = setup([
      { name: "hook", url: "https://hooks.example.com/in" },
      { name: "blobs", url: "https://blobs.example.com/in", blobpulls: true },
    ]);
    const { manifest, layer } = await pushImage(s.r, REPO, "v1");
    await s.deliver();
    const pushes = s.received.length;
    const writes = s.writes();
    await expectStatus(await s.r.call("GET", `/v2/${REPO}/manifests/v1`), 200);
    await expectStatus(await s.r.call("HEAD", `/v2/${REPO}/manifests/${manifest.digest}`), 200);
    await expectStatus(await s.r.call("GET", `/v2/${REPO}/blobs/${sha256(layer)}`), 307);
    await expectStatus(await s.r.call("GET", `/v2/${REPO}/blobs/${sha256(layer)}`), 307);
    // A 304 and a HEAD of a blob are no pulls.
    await expectStatus(await s.r.call("GET", `/v2/${REPO}/manifests/v1`, { headers: { "If-None-Match": `"${manifest.digest}"` } }), 304);
    await expectStatus(await s.r.call("HEAD", `/v2/${REPO}/blobs/${sha256(layer)}`), 200);
    expect(s.writes()).toBe(writes);
    await s.flushPulls();
    expect(s.writes()).toBe(writes + 1);
    await s.deliver();
    const pulls = s.received.slice(pushes).flatMap((x) => (x.body as { events: RegistryEvent[] }).events.map((e) => [new URL(x.url).host, e.action, e.target.tag ?? e.target.digest] as const));
    expect(pulls.filter(([h]) => h === "hooks.example.com")).toEqual([
      ["hooks.example.com", "pull", "v1"],
      ["hooks.example.com", "pull", manifest.digest],
    ]);
    expect(pulls.filter(([h]) => h === "blobs.example.com").map(([, , t]) => t)).toEqual(["v1", manifest.digest, sha256(layer), sha256(layer)]);
    const stats = (await (await expectStatus(await s.r.call("GET", "/v2/_berth/ext/events/stats"), 200)).json()) as { pulls: unknown };
    expect(stats.pulls).toEqual({ manifests: 2, blobs: 2 });
  });
});

describe("admin API", () => {
  it("dead letters across outboxes, replay, stats; admins only", async () => {
    const s = setup([{ name: "hook", url: "https://hooks.example.com/in", threshold: 1, backoff: "1s", maxbackoff: "1s", maxattempts: 2 }]);
    s.setStatus(500);
    await pushBlob(s.r, REPO, pattern(5, 1));
    await pushBlob(s.r, "elsewhere/x", pattern(6, 2));
    for (let i = 0; i < 5; i++) {
      await s.deliver();
      s.r.clock.advance(1000);
    }
    const dead = (await (await expectStatus(await s.r.call("GET", "/v2/_berth/ext/events/dead"), 200)).json()) as { dead: { endpoint: string; attempts: number; lastError: string; event: { event: RegistryEvent } }[]; more: boolean };
    expect(dead.more).toBe(false);
    expect(dead.dead.map((d) => [d.endpoint, d.attempts, d.lastError, d.event.event.target.repository]).sort()).toEqual([
      ["hook", 2, "HTTP 500", "elsewhere/x"],
      ["hook", 2, "HTTP 500", REPO],
    ]);
    let stats = (await (await s.r.call("GET", "/v2/_berth/ext/events/stats")).json()) as { endpoints: Record<string, { dead: number; pending: number }> };
    expect(stats.endpoints.hook).toMatchObject({ dead: 2, pending: 0 });

    s.setStatus(200);
    const one = dead.dead[0]!.event.event.id;
    expect(await (await expectStatus(await s.r.call("POST", `/v2/_berth/ext/events/replay?id=${one}`), 200)).json()).toEqual({ replayed: 1, more: false });
    expect(await (await expectStatus(await s.r.call("POST", "/v2/_berth/ext/events/replay?endpoint=hook"), 200)).json()).toEqual({ replayed: 1, more: false });
    await s.deliver();
    stats = (await (await s.r.call("GET", "/v2/_berth/ext/events/stats")).json()) as typeof stats;
    expect(stats.endpoints.hook).toMatchObject({ dead: 0, pending: 0, delivered: 2 });

    await expectError(await s.r.call("GET", "/v2/_berth/ext/events/dead?endpoint=nope"), 404, "UNSUPPORTED");
    await expectError(await s.r.call("GET", "/v2/_berth/ext/events/dead?n=0"), 400, "UNSUPPORTED");
    await expectError(await s.r.call("GET", "/v2/_berth/ext/events/replay"), 405, "UNSUPPORTED");
    await expectError(await s.r.call("GET", "/v2/_berth/ext/events/other"), 404, "UNSUPPORTED");
    s.r.access.deny("admin");
    for (const [m, p] of [["GET", "dead"], ["POST", "replay"], ["GET", "stats"]] as const) {
      await expectError(await s.r.call(m, `/v2/_berth/ext/events/${p}`), 403, "DENIED");
    }
  });

  it("sends a Distribution envelope with its media type", async () => {
    const s = setup();
    await pushBlob(s.r, REPO, pattern(3));
    let contentType: string | null = null;
    s.r.webhook = async (_url, init) => {
      contentType = new Headers(init.headers).get("content-type");
      return new Response(null, { status: 202 });
    };
    await s.deliver();
    expect(contentType).toBe(DISTRIBUTION_EVENTS_TYPE);
  });
});
