// REGISTRY_PROXY_TTL, Distribution's eviction of proxied content, as Berth enforces it: in proxy mode the
// collector's retention removes tags not confirmed upstream within the ttl, then the manifests and blobs only
// they kept; a tag pulled within the ttl is renewed by the pull's check upstream and stays. The setting's
// parsing: proxy mode only, 0 keeps everything, BERTH_RETENTION takes precedence.
import { describe, expect, it, vi } from "vitest";
import { parseGc } from "../../src/config/gc";
import { parseUpstreams, proxyEviction } from "../../src/config/upstreams";
import { readAll } from "./support/content";
import { blobKey, collect } from "./support/gc";
import { registry } from "./support/registry";
import { FakeUpstream, UPSTREAM } from "./support/upstream";

const HOUR = 3600_000;
const MIN = 60_000;

describe("REGISTRY_PROXY_TTL evicts cached content", () => {
  it("a tag not pulled within the ttl goes, with what only it kept; a tag pulled within it stays", async () => {
    const up = new FakeUpstream();
    const r = registry({ env: { REGISTRY_PROXY_REMOTEURL: UPSTREAM, REGISTRY_PROXY_TTL: "1h", BERTH_GC_DELAY: "0" }, upstreamFetch: up.fetch });
    const pull = async (path: string) => {
      const res = await r.call("GET", path);
      expect([200, 307], path).toContain(res.status); // 307: a blob already in the cache (the images share a config)
      await readAll(res.body);
      await Promise.all(r.background);
    };
    const old = up.image("team/app", "old");
    const used = up.image("team/app", "used");
    for (const img of [["old", old], ["used", used]] as const) {
      await pull(`/v2/team/app/manifests/${img[0]}`);
      await pull(`/v2/team/app/blobs/${img[1].layer}`);
      await pull(`/v2/team/app/blobs/${img[1].config}`);
    }
    r.clock.advance(30 * MIN);
    await pull("/v2/team/app/manifests/used"); // asks upstream, unchanged: renewed
    r.clock.advance(40 * MIN);
    const report = await collect(r);
    expect(report.result).toMatchObject({ tagsRemoved: 1, retention: "apply" });
    expect(report.result.tagsRemovedList).toEqual([expect.objectContaining({ repository: "team/app", tag: "old", digest: old.manifest })]);
    expect(r.keys("repositories/team/app/_manifests/tags/").filter((k) => k.endsWith("/current/link"))).toEqual(["repositories/team/app/_manifests/tags/used/current/link"]);
    expect(old.config).toBe(used.config);
    for (const d of [old.manifest, old.layer]) expect(r.keys(blobKey(d))).toEqual([]);
    for (const d of [used.manifest, used.layer, used.config]) expect(r.keys(blobKey(d))).toHaveLength(1);
    // What was evicted comes back from the upstream on the next pull.
    await pull("/v2/team/app/manifests/old");
    // A blob's, once the isolate's memory of the link (a minute, storage/blobs.ts) has gone.
    const now = Date.now();
    const clock = vi.spyOn(Date, "now").mockImplementation(() => now + 2 * MIN);
    try {
      await pull(`/v2/team/app/blobs/${old.layer}`);
    } finally {
      clock.mockRestore();
    }
    expect(r.keys(blobKey(old.layer))).toHaveLength(1);
  });
});

describe("the setting", () => {
  it("applies in proxy mode only, default 168h; 0 keeps everything; BERTH_RETENTION is used instead when set", () => {
    expect(proxyEviction(parseUpstreams({}))).toBeNull();
    expect(proxyEviction(parseUpstreams({ BERTH_UPSTREAMS: JSON.stringify([{ name: "hub", urls: [UPSTREAM], prefix: "hub" }]) }))).toBeNull();
    const byDefault = proxyEviction(parseUpstreams({ REGISTRY_PROXY_REMOTEURL: UPSTREAM }))!;
    expect(byDefault.delayMs).toBe(168 * HOUR);
    expect(byDefault.policies).toHaveLength(1);
    expect(byDefault.policies[0]!.matches("any/name")).toBe(true);
    expect(byDefault.policies[0]!.deleteUntagged).toBe(true);
    expect(byDefault.policies[0]!.keepTags[0]!.pushedWithin?.ms).toBe(168 * HOUR);
    expect(proxyEviction(parseUpstreams({ REGISTRY_PROXY_REMOTEURL: UPSTREAM, REGISTRY_PROXY_TTL: "0" }))).toBeNull();
    const gcOf = (env: Record<string, string>) => parseGc(env, parseUpstreams(env));
    const own = gcOf({ REGISTRY_PROXY_REMOTEURL: UPSTREAM, BERTH_RETENTION: JSON.stringify({ policies: [{ repositories: ["keep/**"] }] }) }).retention!;
    expect(own.policies[0]!.repositories).toEqual(["keep/**"]);
    expect(gcOf({ REGISTRY_PROXY_REMOTEURL: UPSTREAM, REGISTRY_PROXY_TTL: "2h" }).retention!.delayMs).toBe(2 * HOUR);
  });

  it("a bad REGISTRY_PROXY_TTL fails naming the setting", () => {
    expect(() => parseUpstreams({ REGISTRY_PROXY_REMOTEURL: UPSTREAM, REGISTRY_PROXY_TTL: "7d" })).toThrow(/REGISTRY_PROXY_TTL/);
  });
});
