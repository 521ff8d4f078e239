// Referrers through the pull-through cache, over the in-memory registry and a fake upstream: the upstream's
// referrers API, or its referrers tag's index where it has none; its list saved for ttl, then asked again;
// the saved list when the upstream is down; junk entries dropped; a referrer pulled by digest through the cache
// indexed under its subject like a push; OCI-Namespace through ?ns=.
import { beforeEach, describe, expect, it } from "vitest";
import { expectStatus, registry, type TestRegistry } from "./support/registry";
import { FakeUpstream, UPSTREAM } from "./support/upstream";

const TTL_MS = 10 * 60_000;
const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const env = {
  BERTH_UPSTREAMS: JSON.stringify([{ name: "hub", urls: [UPSTREAM], prefix: "hub", namespaces: ["docker.io"], ttl: "10m" }]),
};
const enc = (s: string) => new TextEncoder().encode(s);

let up: FakeUpstream;
let r: TestRegistry;

beforeEach(() => {
  up = new FakeUpstream();
  r = registry({ env, upstreamFetch: up.fetch });
});

/** A referrer (an artifact manifest naming `subject`) upstream, untagged; its digest. */
function referrer(repo: string, subject: string, artifactType: string): string {
  const empty = up.blob(enc("{}"));
  const body = enc(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: MANIFEST, digest: subject, size: up.manifests.get(`${repo}@${subject}`)!.bytes.byteLength },
      annotations: { "org.example.note": artifactType },
    }),
  );
  return up.manifest(repo, null, body, MANIFEST);
}

async function referrers(path: string): Promise<{ digests: string[]; res: Response; doc: { manifests: { digest: string; artifactType?: string }[] } }> {
  const res = await expectStatus(await r.call("GET", path), 200);
  const doc = (await res.json()) as { manifests: { digest: string; artifactType?: string }[] };
  return { digests: doc.manifests.map((m) => m.digest).sort(), res, doc };
}

describe("referrers through the cache", () => {
  it("lists the upstream's referrers (its referrers API), with their artifactType, filtered locally", async () => {
    const img = up.image("team/app", "1");
    const sig = referrer("team/app", img.manifest, "application/vnd.example.sig");
    const sbom = referrer("team/app", img.manifest, "application/vnd.example.sbom");
    const all = await referrers(`/v2/hub/team/app/referrers/${img.manifest}`);
    expect(all.digests).toEqual([sig, sbom].sort());
    expect(all.res.headers.get("Content-Type")).toBe(INDEX);
    expect(all.doc.manifests.find((m) => m.digest === sig)?.artifactType).toBe("application/vnd.example.sig");
    expect(up.registryRequests("GET").at(-1)!.url).toBe(`${UPSTREAM}/v2/team/app/referrers/${img.manifest}`);
    const only = await referrers(`/v2/hub/team/app/referrers/${img.manifest}?artifactType=application/vnd.example.sbom`);
    expect(only.digests).toEqual([sbom]);
    expect(only.res.headers.get("OCI-Filters-Applied")).toBe("artifactType");
  });

  it("an upstream without the referrers API (404) is read through its referrers tag's index", async () => {
    up.referrersApi = false;
    const img = up.image("team/app", "1");
    const sig = referrer("team/app", img.manifest, "application/vnd.example.sig");
    const sigBytes = up.manifests.get(`team/app@${sig}`)!.bytes;
    const tag = `sha256-${img.manifest.slice("sha256:".length)}`;
    up.manifest("team/app", tag, enc(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: MANIFEST, digest: sig, size: sigBytes.byteLength, artifactType: "application/vnd.example.sig" }] })), INDEX);
    expect((await referrers(`/v2/hub/team/app/referrers/${img.manifest}`)).digests).toEqual([sig]);
    expect(up.registryRequests("GET").slice(-1)[0]!.url).toBe(`${UPSTREAM}/v2/team/app/manifests/${tag}`);
  });

  it("none upstream (no API, no tag) is an empty index, not an error", async () => {
    up.referrersApi = false;
    const img = up.image("team/app", "1");
    expect((await referrers(`/v2/hub/team/app/referrers/${img.manifest}`)).digests).toEqual([]);
  });

  it("the upstream's list is served for ttl, then asked again; when the upstream is down the saved list is served", async () => {
    const img = up.image("team/app", "1");
    const sig = referrer("team/app", img.manifest, "application/vnd.example.sig");
    const path = `/v2/hub/team/app/referrers/${img.manifest}`;
    expect((await referrers(path)).digests).toEqual([sig]);
    const asked = up.registryRequests().length;
    const later = referrer("team/app", img.manifest, "application/vnd.example.sbom");
    r.clock.advance(TTL_MS / 2);
    expect((await referrers(path)).digests).toEqual([sig]);
    expect(up.registryRequests().length).toBe(asked);
    r.clock.advance(TTL_MS);
    expect((await referrers(path)).digests).toEqual([sig, later].sort());
    up.down = true;
    r.clock.advance(TTL_MS * 2);
    expect((await referrers(path)).digests).toEqual([sig, later].sort());
  });

  it("a referrer pulled by digest through the cache is indexed locally: listed even when the upstream is down and nothing was saved", async () => {
    const img = up.image("team/app", "1");
    const sig = referrer("team/app", img.manifest, "application/vnd.example.sig");
    const got = await expectStatus(await r.call("GET", `/v2/hub/team/app/manifests/${sig}`, { headers: { Accept: MANIFEST } }), 200);
    await got.arrayBuffer();
    up.down = true;
    expect((await referrers(`/v2/hub/team/app/referrers/${img.manifest}`)).digests).toEqual([sig]);
  });

  it("entries that are not referrer descriptors are dropped; duplicates are listed once", async () => {
    const img = up.image("team/app", "1");
    const sig = referrer("team/app", img.manifest, "application/vnd.example.sig");
    const good = { mediaType: MANIFEST, digest: sig, size: 10 };
    const listing = [good, good, { digest: sig.replace("sha256", "md5"), mediaType: MANIFEST, size: 1 }, { mediaType: MANIFEST, digest: "sha256:zz", size: 1 }, { digest: sig, size: 1 }, { mediaType: MANIFEST, digest: sig, size: -1 }, "junk", { mediaType: MANIFEST, digest: `sha256:${"a".repeat(64)}`, size: 3, annotations: { k: 7 } }];
    const real = up.fetch;
    r = registry({
      env,
      upstreamFetch: async (url, init) => (url.includes("/referrers/") ? Response.json({ schemaVersion: 2, mediaType: INDEX, manifests: listing }) : real(url, init)),
    });
    const { doc } = await referrers(`/v2/hub/team/app/referrers/${img.manifest}`);
    expect(doc.manifests).toEqual([good]);
  });

  it("through ?ns= the answer carries OCI-Namespace; a local repository's referrers never ask the upstream", async () => {
    const img = up.image("team/app", "1");
    const sig = referrer("team/app", img.manifest, "application/vnd.example.sig");
    const viaNs = await referrers(`/v2/team/app/referrers/${img.manifest}?ns=docker.io`);
    expect(viaNs.digests).toEqual([sig]);
    expect(viaNs.res.headers.get("OCI-Namespace")).toBe("docker.io");
    const before = up.seen.length;
    expect((await referrers(`/v2/local/app/referrers/${img.manifest}`)).digests).toEqual([]);
    expect(up.seen.length).toBe(before);
  });
});
