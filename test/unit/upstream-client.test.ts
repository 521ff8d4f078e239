// The upstream client of the pull-through cache against a fake upstream: anonymous, Basic and token auth
// (tokens cached per scope until they expire, a refused one replaced), URLs tried in order, blob redirects
// followed without the upstream's credentials, failures classified; and routing (prefix, ns, default,
// Docker Hub's library/).
import { describe, expect, it } from "vitest";
import type { Upstream } from "../../src/config/upstreams";
import { parseChallenge } from "../../src/upstream/auth";
import { UpstreamClient, UpstreamError } from "../../src/upstream/client";
import { Upstreams } from "../../src/upstream";
import { Clock } from "./support/memory";
import { AUTH, CDN, FakeUpstream, UPSTREAM } from "./support/upstream";

const ACCEPT = "application/vnd.oci.image.manifest.v1+json";

function upstream(over: Partial<Upstream> = {}): Upstream {
  return { name: "up", urls: [UPSTREAM], prefix: "up", namespaces: [], default: false, credentials: null, ttlMs: 600_000, dockerHub: false, onDemand: true, sync: null, ...over };
}

async function failureOf(p: Promise<unknown>): Promise<UpstreamError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(UpstreamError);
  return e as UpstreamError;
}

describe("upstream auth", () => {
  it("parses challenges with quoted and bare parameters", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull" },
    });
    expect(parseChallenge("basic realm=x")).toEqual({ scheme: "basic", params: { realm: "x" } });
    expect(parseChallenge("Negotiate abc")).toBeNull();
  });

  it("anonymous: no Authorization is ever sent", async () => {
    const up = new FakeUpstream();
    const { manifest } = up.image("lib/app", "1");
    const c = new UpstreamClient(upstream(), up.fetch);
    expect(await c.headManifest("lib/app", "1", ACCEPT)).toBe(manifest);
    expect(up.seen.map((s) => s.authorization)).toEqual([null]);
  });

  it("Basic: answers the challenge, then sends credentials up front", async () => {
    const up = new FakeUpstream();
    up.auth = "basic";
    up.image("lib/app", "1");
    const c = new UpstreamClient(upstream({ credentials: { username: up.user, password: up.password } }), up.fetch);
    await c.getManifest("lib/app", "1", ACCEPT);
    await c.getManifest("lib/app", "1", ACCEPT);
    expect(up.seen.map((s) => s.authorization === null)).toEqual([true, false, false]);
  });

  it("Basic without credentials is refused, as the upstream says", async () => {
    const up = new FakeUpstream();
    up.auth = "basic";
    up.image("lib/app", "1");
    const e = await failureOf(new UpstreamClient(upstream(), up.fetch).getManifest("lib/app", "1", ACCEPT));
    expect(e).toMatchObject({ kind: "refused", status: 401 });
  });

  it("token flow: realm, service and scope from the challenge; one token per scope, reused until it expires", async () => {
    const clock = new Clock();
    const up = new FakeUpstream();
    up.auth = "token";
    up.tokenSeconds = 60;
    up.image("lib/app", "1");
    up.image("lib/other", "1");
    const c = new UpstreamClient(upstream({ credentials: { username: up.user, password: up.password } }), up.fetch, clock.now);
    await c.getManifest("lib/app", "1", ACCEPT);
    const tokenCall = up.seen.find((s) => s.url.startsWith(AUTH))!;
    expect(new URL(tokenCall.url).searchParams.get("scope")).toBe("repository:lib/app:pull");
    expect(new URL(tokenCall.url).searchParams.get("service")).toBe("upstream.test");
    expect(tokenCall.authorization).toMatch(/^Basic /);
    await c.getManifest("lib/app", "1", ACCEPT);
    expect(up.issued).toEqual(["tok-1"]);
    expect(up.seen.at(-1)!.authorization).toBe("Bearer tok-1");
    await c.getManifest("lib/other", "1", ACCEPT); // another scope, another token
    expect(up.issued).toEqual(["tok-1", "tok-2"]);
    clock.advance(55_000); // within 10 s of its end: not sent any more
    await c.getManifest("lib/app", "1", ACCEPT);
    expect(up.issued).toEqual(["tok-1", "tok-2", "tok-3"]);
  });

  it("token flow anonymously (no credentials: the token endpoint gets none), and a revoked token is replaced", async () => {
    const up = new FakeUpstream();
    up.auth = "token";
    up.image("lib/app", "1");
    const c = new UpstreamClient(upstream(), up.fetch);
    await c.getManifest("lib/app", "1", ACCEPT);
    expect(up.seen.find((s) => s.url.startsWith(AUTH))!.authorization).toBeNull();
    up.issued = ["revoked"];
    await c.getManifest("lib/app", "1", ACCEPT);
    expect(up.seen.slice(-3).map((s) => s.authorization)).toEqual(["Bearer tok-1", null, "Bearer tok-2"]);
  });

  it("never puts a credential or token in an error message", async () => {
    const up = new FakeUpstream();
    up.auth = "basic";
    up.password = "other";
    const c = new UpstreamClient(upstream({ credentials: { username: "puller", password: "s3cret-upstream" } }), up.fetch);
    const e = await failureOf(c.getManifest("lib/app", "1", ACCEPT));
    expect(e.message).not.toContain("s3cret");
    expect(e.message).toBe("upstream up answered 401");
  });
});

describe("upstream client", () => {
  it("tries the next URL when one is unreachable or answers 5xx, and stops at a 404", async () => {
    const up = new FakeUpstream();
    up.image("lib/app", "1");
    const dead = "https://dead.test";
    const fetch = (url: string, init: RequestInit) => (url.startsWith(dead) ? Promise.reject(new TypeError("fetch failed")) : up.fetch(url, init));
    const c = new UpstreamClient(upstream({ urls: [dead, UPSTREAM] }), fetch);
    expect((await c.getManifest("lib/app", "1", ACCEPT)).bytes.byteLength).toBeGreaterThan(0);
    const e = await failureOf(c.getManifest("lib/app", "nope", ACCEPT));
    expect(e.kind).toBe("missing");
    up.status = 503;
    expect(await failureOf(c.getManifest("lib/app", "1", ACCEPT))).toMatchObject({ kind: "unavailable", status: 503 });
    up.status = 429;
    expect(await failureOf(c.getManifest("lib/app", "1", ACCEPT))).toMatchObject({ kind: "throttled", retryAfter: "7" });
    up.down = true;
    expect(await failureOf(c.getManifest("lib/app", "1", ACCEPT))).toMatchObject({ kind: "unavailable", status: null });
  });

  it("follows a blob redirect to another origin without the upstream's Authorization", async () => {
    const up = new FakeUpstream();
    up.auth = "token";
    up.redirectBlobs = true;
    const { layer } = up.image("lib/app", "1");
    const c = new UpstreamClient(upstream(), up.fetch);
    const blob = await c.getBlob("lib/app", layer);
    expect(new Uint8Array(await new Response(blob.body).arrayBuffer())).toEqual(up.blobs.get(layer));
    const cdn = up.seen.filter((s) => s.url.startsWith(CDN));
    expect(cdn).toHaveLength(1);
    expect(cdn[0]!.authorization).toBeNull();
  });

  it("a manifest over 4 MiB upstream is the upstream's failure (cannot be cached), not the client's 413", async () => {
    const up = new FakeUpstream();
    up.manifest("lib/app", "huge", new Uint8Array(4 * 1024 * 1024 + 1).fill(32), ACCEPT);
    const e = await failureOf(new UpstreamClient(upstream(), up.fetch).getManifest("lib/app", "huge", ACCEPT));
    expect(e).toMatchObject({ kind: "unavailable", status: 200 });
    expect(e.message).toBe("upstream up sent a manifest larger than 4194304 bytes");
  });

  it("sends the Accept it is given", async () => {
    const up = new FakeUpstream();
    up.image("lib/app", "1");
    await new UpstreamClient(upstream(), up.fetch).headManifest("lib/app", "1", ACCEPT);
    expect(up.seen[0]!.accept).toBe(ACCEPT);
  });
});

describe("routing", () => {
  const hub = upstream({ name: "hub", prefix: "hub", namespaces: ["docker.io"], dockerHub: true, default: true });
  const ghcr = upstream({ name: "ghcr", prefix: "ghcr", namespaces: ["ghcr.io"] });
  const pool = new Upstreams({ upstreams: [hub, ghcr], wholeRegistry: false, evictAfterMs: null }, () => Promise.reject(new Error("unused")));

  it("by prefix; Docker Hub's single-segment names gain library/, and share the cache", () => {
    expect(pool.route("hub/alpine", null)).toMatchObject({ upstream: hub, remote: "library/alpine", cache: "hub/library/alpine", namespace: null, fallback: false });
    expect(pool.route("hub/library/alpine", null)).toMatchObject({ remote: "library/alpine", cache: "hub/library/alpine" });
    expect(pool.route("ghcr/owner/tool", null)).toMatchObject({ upstream: ghcr, remote: "owner/tool", cache: "ghcr/owner/tool" });
    expect(pool.route("ghcr/tool", null)).toMatchObject({ remote: "tool", cache: "ghcr/tool" }); // not Docker Hub: as is
  });

  it("a name sync copied under `destination`/`stripPrefix` is mapped back to the upstream repository it came from", () => {
    const content = (prefix: string, destination: string | null, stripPrefix: boolean) => ({ prefix, tagsRegex: null, tagsSemver: false, destination, stripPrefix });
    const corp = upstream({
      name: "corp",
      prefix: "corp",
      sync: { pollIntervalMs: 3600_000, maxRetries: 0, retryDelayMs: 0, content: [content("/lib/**", "libs", true), content("/team/*", "t", false)] },
    });
    const p = new Upstreams({ upstreams: [corp], wholeRegistry: false, evictAfterMs: null }, () => Promise.reject(new Error("unused")));
    // jobs/sync/match.ts localName: lib/sub/x → corp/libs/sub/x; team/app → corp/t/team/app.
    expect(p.route("corp/libs/sub/x", null)).toMatchObject({ remote: "lib/sub/x", cache: "corp/libs/sub/x" });
    expect(p.route("corp/t/team/app", null)).toMatchObject({ remote: "team/app", cache: "corp/t/team/app" });
    // Names no mapping fits are the upstream's names as they are.
    expect(p.route("corp/other/y", null)).toMatchObject({ remote: "other/y", cache: "corp/other/y" });
    expect(p.route("corp/t/team/sub/deep", null)).toMatchObject({ remote: "t/team/sub/deep" }); // team/* covers one segment only
  });

  it("by ns (case-insensitive), cached under the upstream's prefix; an unknown ns is ignored", () => {
    expect(pool.route("library/alpine", "docker.io")).toMatchObject({ upstream: hub, remote: "library/alpine", cache: "hub/library/alpine", namespace: "docker.io" });
    expect(pool.route("alpine", "Docker.IO")).toMatchObject({ remote: "library/alpine", namespace: "docker.io" });
    expect(pool.route("owner/tool", "ghcr.io")).toMatchObject({ upstream: ghcr, cache: "ghcr/owner/tool" });
    expect(pool.route("team/app", "quay.io")).toMatchObject({ upstream: hub, fallback: true });
  });

  it("the default takes what nothing else claims (the caller checks for a local repository); pushes are refused in prefixes only", () => {
    expect(pool.route("library/alpine", null)).toMatchObject({ upstream: hub, cache: "hub/library/alpine", fallback: true });
    expect(pool.isMirrored("hub/anything")).toBe(true);
    expect(pool.isMirrored("hubx/app")).toBe(false);
    expect(pool.isMirrored("library/alpine")).toBe(false);
    const noDefault = new Upstreams({ upstreams: [ghcr], wholeRegistry: false, evictAfterMs: null }, () => Promise.reject(new Error("unused")));
    expect(noDefault.route("team/app", null)).toBeNull();
  });

  it("the whole registry as one cache (REGISTRY_PROXY_REMOTEURL)", () => {
    const proxy = upstream({ prefix: "", default: true, dockerHub: true });
    const whole = new Upstreams({ upstreams: [proxy], wholeRegistry: true, evictAfterMs: null }, () => Promise.reject(new Error("unused")));
    expect(whole.route("alpine", null)).toMatchObject({ remote: "library/alpine", cache: "library/alpine", fallback: false });
    expect(whole.isMirrored("team/app")).toBe(true);
  });
});
