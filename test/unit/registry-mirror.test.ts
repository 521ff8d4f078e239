// The pull-through cache through the router, over the in-memory registry and a fake upstream: pulls by prefix,
// by ns and by default; manifests by tag (ttl, HEAD check, tag moved, stale when the upstream fails) and by
// digest (cached forever); blobs streamed while stored, stored only when their digest holds; pushes refused in
// a mirror's prefix and everywhere in proxy mode; read access needed on the cache.
import { beforeEach, describe, expect, it } from "vitest";
import { pushImage } from "./support/flows";
import { pattern, readAll, sameBytes, sha256 } from "./support/content";
import { accessGuard, createAccessController } from "../../src/http/auth";
import { basic, ecKeyPem, htpasswd } from "./auth-helpers";
import { call, expectError, expectStatus, ORIGIN, registry, type TestRegistry } from "./support/registry";
import { FakeUpstream, UPSTREAM } from "./support/upstream";

const TTL_MS = 10 * 60_000;
const hubEnv = {
  BERTH_UPSTREAMS: JSON.stringify([{ name: "hub", urls: [UPSTREAM], prefix: "hub", namespaces: ["docker.io"], default: true, ttl: "10m" }]),
};

let up: FakeUpstream;
let r: TestRegistry;

beforeEach(() => {
  up = new FakeUpstream();
  r = registry({ env: hubEnv, upstreamFetch: up.fetch });
});

async function body(res: Response): Promise<Uint8Array> {
  return readAll(res.body);
}

/** GET of a manifest; resolves with its digest after checking the status. */
async function pullTag(path: string): Promise<string> {
  const res = await expectStatus(await r.call("GET", path), 200);
  await res.arrayBuffer();
  return res.headers.get("Docker-Content-Digest")!;
}

describe("pull-through by prefix", () => {
  it("a manifest by tag is fetched, stored byte for byte under the prefix, and served", async () => {
    const img = up.image("team/app", "1");
    const res = await expectStatus(await r.call("GET", "/v2/hub/team/app/manifests/1"), 200);
    const got = await body(res);
    expect(sameBytes(got, up.manifests.get(`team/app@${img.manifest}`)!.bytes)).toBe(true);
    expect(res.headers.get("Docker-Content-Digest")).toBe(img.manifest);
    expect(res.headers.get("Content-Type")).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(res.headers.get("OCI-Namespace")).toBeNull();
    expect(sameBytes(r.blobData(img.manifest), got)).toBe(true);
    expect(r.keys("repositories/hub/team/app/_manifests/tags/")).toEqual(expect.arrayContaining(["repositories/hub/team/app/_manifests/tags/1/current/link"]));
    // Its blobs are not in the bucket yet: no MANIFEST_BLOB_UNKNOWN, they come when asked for.
    expect(r.blobData(img.layer)).toBeUndefined();
  });

  it("Docker Hub's single-segment names gain library/ upstream and share the cache", async () => {
    up.image("library/alpine", "3");
    const hub = registry({ env: { BERTH_UPSTREAMS: JSON.stringify([{ name: "hub", urls: ["https://registry-1.docker.io"], prefix: "hub" }]) }, upstreamFetch: (url, init) => up.fetch(url.replace("https://registry-1.docker.io", UPSTREAM), init) });
    const res = await expectStatus(await hub.call("GET", "/v2/hub/alpine/manifests/3"), 200);
    await res.arrayBuffer();
    expect(up.registryRequests("GET").at(-1)!.url).toBe(`${UPSTREAM}/v2/library/alpine/manifests/3`);
    expect(hub.keys("repositories/hub/library/alpine/_manifests/tags/3/")).toHaveLength(2);
  });

  it("a blob miss is streamed from the upstream while it is stored; then it is answered like any other (307)", async () => {
    const img = up.image("team/app", "1");
    await pullTag("/v2/hub/team/app/manifests/1");
    const res = await expectStatus(await r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`), 200);
    expect(res.headers.get("Docker-Content-Digest")).toBe(img.layer);
    const got = await body(res);
    await Promise.all(r.background);
    expect(sameBytes(got, up.blobs.get(img.layer)!)).toBe(true);
    expect(sameBytes(r.blobData(img.layer), got)).toBe(true);
    const before = up.seen.length;
    const again = await r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`);
    expect(again.status).toBe(307);
    expect((await expectStatus(await r.call("HEAD", `/v2/hub/team/app/blobs/${img.layer}`), 200)).headers.get("Content-Length")).toBe(String(got.byteLength));
    expect(up.seen.length).toBe(before);
  });

  it("a HEAD miss asks the upstream and stores nothing", async () => {
    const img = up.image("team/app", "1");
    const res = await expectStatus(await r.call("HEAD", `/v2/hub/team/app/blobs/${img.layer}`), 200);
    expect(res.headers.get("Content-Length")).toBe(String(up.blobs.get(img.layer)!.byteLength));
    expect(r.blobData(img.layer)).toBeUndefined();
  });

  it("a blob whose bytes are wrong upstream: the client's body is cut off, nothing is stored or linked", async () => {
    const img = up.image("team/app", "1");
    up.corrupt.set(img.layer, new Uint8Array(up.blobs.get(img.layer)!.byteLength).fill(7));
    const res = await expectStatus(await r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`), 200);
    await expect(readAll(res.body)).rejects.toThrow();
    await Promise.allSettled(r.background);
    expect(r.blobData(img.layer)).toBeUndefined();
    expect(r.keys("repositories/hub/team/app/_layers/")).toEqual([]);
    await expectError(await r.call("GET", `/v2/hub/team/app/blobs/${sha256("absent")}`), 404, "BLOB_UNKNOWN");
  });

  it("a layer larger than a part goes up as a multipart upload while it streams; cut off upstream, nothing is left", async () => {
    const big = pattern(12 * 1024 * 1024, 3);
    const img = up.image("team/big", "1", big);
    const res = await expectStatus(await r.call("GET", `/v2/hub/team/big/blobs/${img.layer}`), 200);
    expect(sameBytes(await readAll(res.body), big)).toBe(true);
    await Promise.all(r.background);
    expect(sameBytes(r.blobData(img.layer), big)).toBe(true);
    expect(r.driver.calls.completeMultipart).toBe(1);

    const other = up.image("team/big", "2", pattern(12 * 1024 * 1024, 4));
    up.corrupt.set(other.layer, up.blobs.get(other.layer)!.slice(0, 11 * 1024 * 1024));
    const cut = await expectStatus(await r.call("GET", `/v2/hub/team/big/blobs/${other.layer}`), 200);
    await expect(readAll(cut.body)).rejects.toThrow();
    await Promise.allSettled(r.background);
    expect(r.blobData(other.layer)).toBeUndefined();
    expect(r.driver.calls.abortMultipart).toBe(1);
    expect(r.driver.openUploads()).toEqual([]);
  }, 30_000); // streams 11 MiB through hashing twice: seconds on a loaded 2-core machine, past the 5 s default

  it("concurrent pulls of one missing blob cause one upstream fetch; the others are answered from the bucket", async () => {
    const img = up.image("team/app", "1", pattern(300_000, 5));
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`)));
    const statuses = [a!.status, b!.status, c!.status].sort();
    expect(statuses).toEqual([200, 307, 307]);
    const first = [a!, b!, c!].find((x) => x.status === 200)!;
    expect(sameBytes(await readAll(first.body), up.blobs.get(img.layer)!)).toBe(true);
    expect(up.registryRequests("GET").filter((x) => x.url.includes("/blobs/"))).toHaveLength(1);
  });

  it("a failed fetch releases the waiters (they fetch themselves) and leaves no claim behind", async () => {
    const img = up.image("team/app", "1");
    up.corrupt.set(img.layer, new Uint8Array(up.blobs.get(img.layer)!.byteLength));
    const both = await Promise.all([1, 2].map(() => r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`)));
    for (const res of both) await expect(readAll(res.body)).rejects.toThrow();
    await Promise.allSettled(r.background);
    expect(up.registryRequests("GET").filter((x) => x.url.includes("/blobs/"))).toHaveLength(2);
    up.corrupt.delete(img.layer);
    const ok = await expectStatus(await r.call("GET", `/v2/hub/team/app/blobs/${img.layer}`), 200);
    expect(sameBytes(await readAll(ok.body), up.blobs.get(img.layer)!)).toBe(true);
  });

  it("a blob already in the bucket (pulled for another repository) is linked, not fetched again", async () => {
    const layer = new TextEncoder().encode("shared layer");
    const a = up.image("team/a", "1", layer);
    up.image("team/b", "1", layer);
    const first = await r.call("GET", `/v2/hub/team/a/blobs/${a.layer}`);
    await readAll(first.body);
    await Promise.all(r.background);
    const fetches = up.registryRequests("GET").length;
    expect((await r.call("GET", `/v2/hub/team/b/blobs/${a.layer}`)).status).toBe(307);
    expect(up.registryRequests("GET").length).toBe(fetches);
  });
});

describe("manifests by tag: ttl and staleness", () => {
  it("a cached tag younger than ttl is served without asking; older, a HEAD finds it unchanged and renews it", async () => {
    up.image("team/app", "1");
    await pullTag("/v2/hub/team/app/manifests/1");
    const n = up.seen.length;
    r.clock.advance(TTL_MS - 1000);
    await pullTag("/v2/hub/team/app/manifests/1");
    expect(up.seen.length).toBe(n);
    r.clock.advance(2000);
    await pullTag("/v2/hub/team/app/manifests/1");
    expect(up.seen.slice(n).map((s) => s.method)).toEqual(["HEAD"]);
    await pullTag("/v2/hub/team/app/manifests/1"); // renewed: not asked again
    expect(up.seen.length).toBe(n + 1);
  });

  it("a tag moved upstream is seen after ttl, not before; the new manifest is fetched and the tag moved", async () => {
    const v1 = up.image("team/app", "1");
    expect(await pullTag("/v2/hub/team/app/manifests/1")).toBe(v1.manifest);
    const v2 = up.image("team/app", "1");
    r.clock.advance(TTL_MS / 2);
    expect(await pullTag("/v2/hub/team/app/manifests/1")).toBe(v1.manifest);
    r.clock.advance(TTL_MS);
    expect(await pullTag("/v2/hub/team/app/manifests/1")).toBe(v2.manifest);
    // The old manifest stays in the cache by digest.
    expect(await pullTag(`/v2/hub/team/app/manifests/${v1.manifest}`)).toBe(v1.manifest);
  });

  it("a tag made immutable in the cache (BERTH_IMMUTABLE_TAGS) stays pinned when it moves upstream: the cached manifest is served", async () => {
    r = registry({ env: { ...hubEnv, BERTH_IMMUTABLE_TAGS: JSON.stringify({ "hub/**": ["^v"] }) }, upstreamFetch: up.fetch });
    const v1 = up.image("team/app", "v1");
    expect(await pullTag("/v2/hub/team/app/manifests/v1")).toBe(v1.manifest);
    up.image("team/app", "v1"); // moved upstream
    r.clock.advance(TTL_MS * 2);
    expect(await pullTag("/v2/hub/team/app/manifests/v1")).toBe(v1.manifest);
  });

  it("tags/list asks the upstream (every page), serves its list for ttl, then the saved list when the upstream is down", async () => {
    up.pageSize = 2;
    for (const t of ["1", "2", "3"]) up.image("team/app", t);
    await pullTag("/v2/hub/team/app/manifests/1"); // one tag cached locally; the list is the upstream's
    const list = async () => ((await (await expectStatus(await r.call("GET", "/v2/hub/team/app/tags/list"), 200)).json()) as { tags: string[] }).tags;
    expect(await list()).toEqual(["1", "2", "3"]);
    up.image("team/app", "4");
    r.clock.advance(TTL_MS / 2);
    expect(await list()).toEqual(["1", "2", "3"]); // saved for ttl
    r.clock.advance(TTL_MS);
    expect(await list()).toEqual(["1", "2", "3", "4"]);
    up.down = true;
    r.clock.advance(TTL_MS * 2);
    expect(await list()).toEqual(["1", "2", "3", "4"]); // the saved list, stale
    up.down = false;
    up.image("library/alpine", "3");
    const res = await expectStatus(await r.call("GET", "/v2/library/alpine/tags/list?ns=docker.io"), 200);
    expect(res.headers.get("OCI-Namespace")).toBe("docker.io");
    expect(await res.json()).toEqual({ name: "library/alpine", tags: ["3"] });
  });

  it("tags/list of a name the upstream does not know answers NAME_UNKNOWN", async () => {
    await expectError(await r.call("GET", "/v2/hub/team/none/tags/list"), 404, "NAME_UNKNOWN");
  });

  it("upstream down, 5xx or 429 after ttl: the cached manifest is served stale", async () => {
    const v1 = up.image("team/app", "1");
    await pullTag("/v2/hub/team/app/manifests/1");
    for (const fail of [() => (up.down = true), () => ((up.down = false), (up.status = 503)), () => (up.status = 429)]) {
      fail();
      r.clock.advance(TTL_MS * 2);
      expect(await pullTag("/v2/hub/team/app/manifests/1")).toBe(v1.manifest);
    }
  });

  it("nothing cached: the upstream's failure in the spec's terms", async () => {
    await expectError(await r.call("GET", "/v2/hub/team/app/manifests/nope"), 404, "MANIFEST_UNKNOWN");
    up.status = 429;
    const limited = await r.call("GET", "/v2/hub/team/app/manifests/1");
    expect(limited.headers.get("Retry-After")).toBe("7");
    await expectError(limited, 429, "TOOMANYREQUESTS");
    up.status = 503;
    await expectError(await r.call("GET", "/v2/hub/team/app/manifests/1"), 500, "UNKNOWN");
    up.status = null;
    up.down = true;
    await expectError(await r.call("GET", `/v2/hub/team/app/blobs/${sha256("x")}`), 500, "UNKNOWN");
  });

  it("manifests by digest are cached forever: served with the upstream gone", async () => {
    const img = up.image("team/app", "1");
    await pullTag(`/v2/hub/team/app/manifests/${img.manifest}`);
    up.down = true;
    const n = up.seen.length;
    r.clock.advance(365 * 86_400_000);
    expect(await pullTag(`/v2/hub/team/app/manifests/${img.manifest}`)).toBe(img.manifest);
    expect(up.seen.length).toBe(n);
  });

  it("a manifest whose bytes do not match the digest asked for is refused and not stored", async () => {
    const img = up.image("team/app", "1");
    const bogus = sha256("something else");
    up.manifests.set(`team/app@${bogus}`, up.manifests.get(`team/app@${img.manifest}`)!);
    await expectError(await r.call("GET", `/v2/hub/team/app/manifests/${bogus}`), 500, "UNKNOWN");
    expect(r.blobData(img.manifest)).toBeUndefined();
    expect(r.keys("repositories/hub/")).toEqual([]);
  });
});

describe("ns, default and local names", () => {
  it("?ns=docker.io is served from the upstream with that namespace, answered with OCI-Namespace, cached under its prefix", async () => {
    const img = up.image("library/alpine", "3");
    const res = await expectStatus(await r.call("GET", "/v2/library/alpine/manifests/3?ns=docker.io"), 200);
    await res.arrayBuffer();
    expect(res.headers.get("OCI-Namespace")).toBe("docker.io");
    expect(res.headers.get("Docker-Content-Digest")).toBe(img.manifest);
    expect(r.keys("repositories/hub/library/alpine/_manifests/revisions/")).toHaveLength(1);
    const blob = await r.call("GET", `/v2/library/alpine/blobs/${img.config}?ns=docker.io`);
    expect(blob.headers.get("OCI-Namespace")).toBe("docker.io");
    await readAll(blob.body);
  });

  it("the default upstream serves names no local repository has; local repositories are served locally", async () => {
    up.image("library/alpine", "3");
    expect(await pullTag("/v2/library/alpine/manifests/3")).toMatch(/^sha256:/);
    expect(r.keys("repositories/library/")).toEqual([]); // cached under the prefix, not the local name
    const local = await pushImage(r, "team/app", "1");
    const n = up.seen.length;
    expect(await pullTag("/v2/team/app/manifests/1")).toBe(local.manifest.digest);
    await expectError(await r.call("GET", "/v2/team/app/manifests/2"), 404, "MANIFEST_UNKNOWN");
    expect(up.seen.length).toBe(n);
  });

  it("a push to a new local name works beside a default upstream: its checks are local, and the upstream's refusals too", async () => {
    up.auth = "basic"; // Berth has no credentials for it: every upstream answer is a 401
    const blobHead = await r.call("HEAD", `/v2/team/new/blobs/${sha256("config")}`);
    expect(blobHead.status).toBe(404);
    const manifestHead = await r.call("HEAD", "/v2/team/new/manifests/1");
    expect(manifestHead.status).toBe(404);
    const pushed = await pushImage(r, "team/new", "1");
    expect(await pullTag("/v2/team/new/manifests/1")).toBe(pushed.manifest.digest);
    expect(up.seen.filter((x) => x.url.includes("/blobs/"))).toEqual([]);
    // A prefixed name is the upstream's alone: its refusal is the answer (nothing cached, 500).
    await expectError(await r.call("GET", "/v2/hub/team/app/manifests/1"), 500, "UNKNOWN");
  });

  it("read access is needed on the cache repository too", async () => {
    up.image("library/alpine", "3");
    r.access.deny("read", { repo: "hub/library/alpine" });
    await expectError(await r.call("GET", "/v2/library/alpine/manifests/3?ns=docker.io"), 403, "DENIED");
    expect(up.seen).toEqual([]);
  });
});

describe("with the real access controller (token mode)", () => {
  it("a token for the name asked for is enough; the policy decides whether the cache may be read", async () => {
    up.image("library/alpine", "3");
    const env = {
      ...hubEnv,
      REGISTRY_AUTH: "token",
      BERTH_AUTH_TOKEN_KEY: await ecKeyPem(),
      REGISTRY_AUTH_HTPASSWD: htpasswd({ dave: "dave-pw", eve: "eve-pw" }),
      REGISTRY_ACCESSCONTROL: JSON.stringify({
        repositories: { "**": { defaultPolicy: ["read"] }, "hub/**": { policies: [{ users: ["dave"], actions: ["read"] }] } },
      }),
    };
    const tr = registry({ env, upstreamFetch: up.fetch });
    const auth = createAccessController(tr.cfg.auth);
    const pull = async (user: string) => {
      const scope = "repository:library/alpine:pull";
      const tokenRes = await auth.handleToken(new Request(`${ORIGIN}/token?scope=${scope}`, { headers: { Authorization: basic(user, `${user}-pw`) } }));
      const { token } = (await tokenRes.json()) as { token: string };
      const url = new URL(`${ORIGIN}/v2/library/alpine/manifests/3?ns=docker.io`);
      const id = await auth.authenticate(new Request(url, { headers: { Authorization: `Bearer ${token}` } }), url);
      return call({ ...tr.ctx, access: accessGuard(auth, id, url) }, "GET", "/v2/library/alpine/manifests/3?ns=docker.io");
    };
    const ok = await expectStatus(await pull("dave"), 200);
    expect(ok.headers.get("OCI-Namespace")).toBe("docker.io");
    await expectError(await pull("eve"), 403, "DENIED");
  });
});

describe("pushes", () => {
  it("are refused in a mirror's prefix (manifests, uploads, deletes) and work elsewhere", async () => {
    await expectError(await r.call("POST", "/v2/hub/team/app/blobs/uploads/"), 405, "UNSUPPORTED");
    await expectError(await r.call("PUT", "/v2/hub/team/app/manifests/1", { body: "{}" }), 405, "UNSUPPORTED");
    await expectError(await r.call("DELETE", `/v2/hub/team/app/blobs/${sha256("x")}`), 405, "UNSUPPORTED");
    const pushed = await pushImage(r, "team/app", "1");
    expect(await pullTag("/v2/team/app/manifests/1")).toBe(pushed.manifest.digest);
  });

  it("are refused everywhere when the whole registry is a cache (REGISTRY_PROXY_REMOTEURL)", async () => {
    const proxy = registry({ env: { REGISTRY_PROXY_REMOTEURL: UPSTREAM }, upstreamFetch: up.fetch });
    await expectError(await proxy.call("POST", "/v2/team/app/blobs/uploads/"), 405, "UNSUPPORTED");
    const img = up.image("team/app", "1");
    const res = await expectStatus(await proxy.call("GET", "/v2/team/app/manifests/1"), 200);
    await res.arrayBuffer();
    expect(res.headers.get("Docker-Content-Digest")).toBe(img.manifest);
    // ttl 0: every pull by tag asks (a HEAD once cached), as Distribution's proxy does.
    await (await proxy.call("GET", "/v2/team/app/manifests/1")).arrayBuffer();
    expect(up.registryRequests("HEAD")).toHaveLength(1);
    expect((await proxy.call("POST", "/v2/_berth/ext/gc")).status).not.toBe(405);
  });

  it("with ttl 0 (REGISTRY_PROXY_REMOTEURL), a tag unchanged upstream costs the HEAD and no write to the bucket", async () => {
    const proxy = registry({ env: { REGISTRY_PROXY_REMOTEURL: UPSTREAM }, upstreamFetch: up.fetch });
    const img = up.image("team/app", "1");
    await (await expectStatus(await proxy.call("GET", "/v2/team/app/manifests/1"), 200)).arrayBuffer();
    proxy.clock.advance(1000);
    const puts = proxy.driver.calls.put;
    const res = await expectStatus(await proxy.call("GET", "/v2/team/app/manifests/1"), 200);
    await res.arrayBuffer();
    expect(res.headers.get("Docker-Content-Digest")).toBe(img.manifest);
    expect(up.registryRequests("HEAD")).toHaveLength(1);
    // Renewing the tag's age would change nothing: every pull by tag asks the upstream anyway.
    expect(proxy.driver.calls.put).toBe(puts);
  });
});
