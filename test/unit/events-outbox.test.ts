// The event outbox (src/events/outbox.ts) over memory, with an injected clock and a fake receiver: one
// durable write per record, delivery by the alarm in both formats, retries below the threshold at once and
// then with capped exponential backoff, nothing lost across an outage or a restart (duplicates keep their
// id), dead letters after maxattempts and their replay, the alarm's request budget, disabled endpoints,
// batched pulls and the stats.
import { describe, expect, it } from "vitest";
import { parseNotifications } from "../../src/config/notifications";
import type { Fetch } from "../../src/events/delivery";
import { CLOUDEVENTS_TYPE, DISTRIBUTION_EVENTS_TYPE } from "../../src/events/formats";
import { DELIVERY_DELAY_MS, MAX_REQUESTS_PER_ALARM, Outbox, retryDelay } from "../../src/events/outbox";
import type { StoredEvent } from "../../src/events/protocol";
import { Clock, MemoryOutboxStorage } from "./support/memory";

interface Received {
  url: string;
  contentType: string | null;
  headers: Headers;
  body: unknown;
}

/** A receiver that answers `status()` and keeps what it was sent. */
class Receiver {
  readonly got: Received[] = [];
  status = () => 204;
  readonly fetch: Fetch = async (url, init) => {
    const headers = new Headers(init.headers);
    this.got.push({ url, contentType: headers.get("content-type"), headers, body: JSON.parse(String(init.body)) });
    return new Response(null, { status: this.status() });
  };
  /** Event ids delivered, in the order they arrived (both formats), from the `from`-th request on. */
  ids(from = 0): string[] {
    return this.got.slice(from).flatMap((r) => {
      const b = r.body as { events?: { id: string }[]; id?: string };
      return b.events ? b.events.map((e) => e.id) : [b.id!];
    });
  }
}

let n = 0;
function stored(over: Partial<StoredEvent["event"]["target"]> = {}, action: StoredEvent["event"]["action"] = "push"): StoredEvent {
  return {
    kind: "manifest",
    origin: "https://registry.example.com",
    event: {
      id: `ev-${++n}`,
      timestamp: "2026-01-01T00:00:00.000Z",
      action,
      target: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${"a".repeat(64)}`, size: 10, length: 10, repository: "team/app", tag: "v1", ...over },
      request: { id: "r", host: "registry.example.com", method: "PUT", useragent: "test" },
      actor: { name: "alice" },
      source: { addr: "registry.example.com", instanceID: "i" },
    },
  };
}

function setup(endpoints: Record<string, unknown>[], secrets: Record<string, string> = {}) {
  const clock = new Clock();
  const storage = new MemoryOutboxStorage();
  const receiver = new Receiver();
  const logs: string[] = [];
  const config = parseNotifications({ REGISTRY_NOTIFICATIONS: JSON.stringify({ endpoints }), ...secrets });
  const make = () => new Outbox(storage, config, { fetch: receiver.fetch, now: clock.now, log: (m) => logs.push(m) });
  let outbox = make();
  /** Fires the alarm while one is due (moving the clock to it), at most `max` times. */
  const drive = async (max = 100, until = Infinity) => {
    let fired = 0;
    while (storage.alarm !== null && fired < max && storage.alarm <= until) {
      const at = storage.alarm;
      storage.alarm = null; // the runtime clears it before the handler runs
      if (at > clock.t) clock.t = at;
      await outbox.alarm();
      fired++;
    }
    return fired;
  };
  return { clock, storage, receiver, logs, config, get outbox() { return outbox; }, restart: () => (outbox = make()), drive };
}

const HOOK = { name: "hook", url: "https://hooks.example.com/in" };

describe("recording", () => {
  it("one durable write per record, whatever the number of events and endpoints; the alarm is set for a moment later", async () => {
    const s = setup([HOOK, { name: "ce", url: "https://ce.example.com/", format: "cloudevents" }]);
    await s.outbox.record([{ stored: stored(), endpoints: ["hook", "ce"] }, { stored: stored({ tag: "v2" }), endpoints: ["hook"] }]);
    expect(s.storage.writes).toBe(1);
    expect(s.storage.keys("q:hook:")).toHaveLength(2);
    expect(s.storage.keys("q:ce:")).toHaveLength(1);
    expect(s.storage.alarm).toBe(s.clock.t + DELIVERY_DELAY_MS);
    // A second record within that moment leaves the alarm: one delivery for the burst.
    s.clock.advance(100);
    await s.outbox.record([{ stored: stored(), endpoints: ["hook"] }]);
    expect(s.storage.alarm).toBe(s.clock.t - 100 + DELIVERY_DELAY_MS);
    expect(s.storage.writes).toBe(2);
    // Endpoints the configuration no longer has are skipped; nothing to record is no write at all.
    await s.outbox.record([{ stored: stored(), endpoints: ["gone"] }]);
    expect(s.storage.writes).toBe(2);
  });
});

describe("delivery", () => {
  it("Distribution format: one envelope with every event, the endpoint's headers, then the queue is empty", async () => {
    const s = setup([{ ...HOOK, headers: { Authorization: { secret: "TOKEN" }, "X-Team": "t" } }], { TOKEN: "Bearer abc" });
    const a = stored();
    const b = stored({ tag: "v2" });
    await s.outbox.record([{ stored: a, endpoints: ["hook"] }, { stored: b, endpoints: ["hook"] }]);
    await s.drive();
    expect(s.receiver.got).toHaveLength(1);
    const r = s.receiver.got[0]!;
    expect(r.url).toBe("https://hooks.example.com/in");
    expect(r.contentType).toBe(DISTRIBUTION_EVENTS_TYPE);
    expect(r.headers.get("authorization")).toBe("Bearer abc");
    expect(r.headers.get("x-team")).toBe("t");
    expect(r.body).toEqual({ events: [a.event, b.event] });
    expect(s.storage.keys("q:")).toEqual([]);
    expect(s.storage.alarm).toBeNull();
    expect((await s.outbox.stats()).endpoints.hook).toMatchObject({ pending: 0, dead: 0, delivered: 2, failures: 0, lastError: null });
  });

  it("CloudEvents: one structured-mode request per event", async () => {
    const s = setup([{ ...HOOK, format: "cloudevents" }]);
    const a = stored();
    await s.outbox.record([{ stored: a, endpoints: ["hook"] }, { stored: stored({ tag: undefined }), endpoints: ["hook"] }]);
    await s.drive();
    expect(s.receiver.got.map((r) => r.contentType)).toEqual([CLOUDEVENTS_TYPE, CLOUDEVENTS_TYPE]);
    expect(s.receiver.got[0]!.body).toEqual({
      specversion: "1.0",
      id: a.event.id,
      source: "https://registry.example.com/v2/team/app",
      type: "berth.image.manifest.push",
      subject: "team/app:v1",
      time: a.event.timestamp,
      datacontenttype: "application/json",
      data: {
        action: "push",
        repository: "team/app",
        registryUrl: "registry.example.com",
        tag: "v1",
        digest: a.event.target.digest,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        size: 10,
        actor: "alice",
      },
    });
    expect(s.receiver.got[1]!.body).not.toHaveProperty("subject");
  });

  it("a receiver down for hours: retried at once up to the threshold, then with doubling backoff up to maxbackoff; every event arrives", async () => {
    const s = setup([{ ...HOOK, threshold: 3, backoff: "1s", maxbackoff: "1m", maxattempts: 1000 }]);
    const ep = s.config.endpoints[0]!;
    expect([1, 2, 3, 4, 5, 6, 9, 20].map((f) => retryDelay(ep, f))).toEqual([0, 0, 1000, 2000, 4000, 8000, 60_000, 60_000]);
    const events = [stored(), stored({ tag: "v2" }), stored({ tag: "v3" })];
    s.receiver.status = () => 500;
    await s.outbox.record(events.slice(0, 2).map((e) => ({ stored: e, endpoints: ["hook"] })));
    const start = s.clock.t;
    await s.drive(1000, start + 3 * 3600_000); // three hours down
    const tries = s.receiver.got.length;
    expect(tries).toBeGreaterThan(150);
    expect(tries).toBeLessThan(260); // ~1 a minute once capped
    // A new event while it is down waits behind the backoff, and costs no request of its own.
    await s.outbox.record([{ stored: events[2]!, endpoints: ["hook"] }]);
    await s.drive(5, s.clock.t);
    expect(s.receiver.got.length).toBe(tries);
    expect((await s.outbox.stats()).endpoints.hook).toMatchObject({ pending: 3, dead: 0, lastError: "HTTP 500" });
    expect(s.logs.at(-1)).toMatch(/^notifications: endpoint hook: HTTP 500 \(\d+ in a row\), next try in 60 s$/);

    s.receiver.status = () => 202;
    await s.drive();
    const ids = s.receiver.ids();
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.event.id)));
    expect(s.storage.keys("q:")).toEqual([]);
    expect((await s.outbox.stats()).endpoints.hook).toMatchObject({ pending: 0, failures: 0, retryAt: null, delivered: 3 });
  });

  it("a restart loses nothing: queue and backoff are in storage", async () => {
    const s = setup([{ ...HOOK, threshold: 1 }]);
    s.receiver.status = () => 503;
    const e = stored();
    await s.outbox.record([{ stored: e, endpoints: ["hook"] }]);
    await s.drive(1);
    s.restart();
    expect((await s.outbox.stats()).endpoints.hook).toMatchObject({ pending: 1, failures: 1 });
    s.receiver.status = () => 200;
    await s.drive();
    // Sent twice, with the same id: a duplicate is recognisable.
    expect(s.receiver.ids()).toEqual([e.event.id, e.event.id]);
    expect(s.storage.keys("q:")).toEqual([]);
  });

  it("a receiver that never recovers: after maxattempts the events are dead letters; replay delivers them", async () => {
    const s = setup([{ ...HOOK, threshold: 2, backoff: "1s", maxbackoff: "4s", maxattempts: 4 }, { name: "ok", url: "https://ok.example.com/" }]);
    s.receiver.status = () => 500;
    const events = [stored(), stored({ tag: "v2" })];
    await s.outbox.record(events.map((e) => ({ stored: e, endpoints: ["hook"] })));
    await s.drive();
    expect(s.receiver.got).toHaveLength(4);
    expect(s.storage.keys("q:")).toEqual([]);
    expect(s.storage.alarm).toBeNull();
    const { dead, more } = await s.outbox.dead({ limit: 10 });
    expect(more).toBe(false);
    expect(dead.map((d) => [d.endpoint, d.attempts, d.lastError, d.event.event.id])).toEqual([
      ["hook", 4, "HTTP 500", events[0]!.event.id],
      ["hook", 4, "HTTP 500", events[1]!.event.id],
    ]);
    expect(s.logs.at(-1)).toMatch(/2 event\(s\) moved to the dead-letter list after 4 attempts/);
    expect((await s.outbox.dead({ endpoint: "ok", limit: 10 })).dead).toEqual([]);
    expect((await s.outbox.dead({ limit: 1 })).more).toBe(true);

    // Replay of one event by id, then of the rest.
    s.receiver.status = () => 200;
    expect(await s.outbox.replay({ id: events[1]!.event.id, limit: 10 })).toEqual({ replayed: 1, more: false });
    expect(s.storage.alarm).toBe(s.clock.t + DELIVERY_DELAY_MS);
    await s.drive();
    expect(s.receiver.ids(4)).toEqual([events[1]!.event.id]);
    expect(await s.outbox.replay({ endpoint: "hook", limit: 10 })).toEqual({ replayed: 1, more: false });
    await s.drive();
    expect(s.receiver.ids(5)).toEqual([events[0]!.event.id]);
    expect((await s.outbox.dead({ limit: 10 })).dead).toEqual([]);
    expect(await s.outbox.replay({ limit: 10 })).toEqual({ replayed: 0, more: false });
    // The lifetime totals the metrics read: four failed envelopes, two events dead-lettered (a replay keeps that).
    expect((await s.outbox.stats()).endpoints.hook).toMatchObject({ dead: 0, delivered: 2, failedAttempts: 4, deadLettered: 2 });
  });

  it("CloudEvents stop at the first refused event: only that one is charged an attempt", async () => {
    const s = setup([{ ...HOOK, format: "cloudevents", threshold: 1, maxattempts: 2 }]);
    let calls = 0;
    s.receiver.status = () => (++calls === 2 ? 500 : 200);
    const events = [stored(), stored({ tag: "v2" }), stored({ tag: "v3" })];
    await s.outbox.record(events.map((e) => ({ stored: e, endpoints: ["hook"] })));
    await s.drive(1);
    expect(s.storage.keys("q:")).toHaveLength(2);
    const left = [...s.storage.values.entries()].filter(([k]) => k.startsWith("q:")).map(([, v]) => (v as { attempts: number }).attempts);
    expect(left).toEqual([1, 0]);
    await s.drive();
    expect(new Set(s.receiver.ids())).toEqual(new Set(events.map((e) => e.event.id)));
  });

  it("an alarm sends at most MAX_REQUESTS_PER_ALARM requests and comes back for the rest", async () => {
    const s = setup([{ ...HOOK, format: "cloudevents" }]);
    const events = Array.from({ length: MAX_REQUESTS_PER_ALARM + 15 }, (_, i) => stored({ tag: `t${i}` }));
    await s.outbox.record(events.map((e) => ({ stored: e, endpoints: ["hook"] })));
    await s.drive(1);
    expect(s.receiver.got).toHaveLength(MAX_REQUESTS_PER_ALARM);
    expect(s.storage.alarm).toBe(s.clock.t);
    await s.drive();
    expect(s.receiver.got).toHaveLength(events.length);
  });

  it("a disabled endpoint's queue waits, untouched", async () => {
    const s = setup([{ ...HOOK, disabled: true }]);
    await s.outbox.record([{ stored: stored(), endpoints: ["hook"] }]);
    await s.drive();
    expect(s.receiver.got).toEqual([]);
    expect(s.storage.keys("q:hook:")).toHaveLength(1);
  });
});

describe("pulls", () => {
  it("a batch is one write: the events wanted and the counts per repository", async () => {
    const s = setup([HOOK]);
    const e = stored({}, "pull");
    await s.outbox.pulled({ events: [{ stored: e, endpoints: ["hook"] }], counts: [{ repository: "team/app", manifests: 3, blobs: 7 }] });
    expect(s.storage.writes).toBe(1);
    await s.outbox.pulled({ events: [], counts: [{ repository: "team/app", manifests: 1, blobs: 2 }, { repository: "other", manifests: 1, blobs: 0 }] });
    expect(s.storage.writes).toBe(2);
    expect((await s.outbox.stats()).pulls).toEqual({ manifests: 5, blobs: 9 });
    await s.drive();
    expect(s.receiver.ids()).toEqual([e.event.id]);
  });
});
