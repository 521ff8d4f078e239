// Race-free repository metadata and conditional requests, end to end under wrangler dev + Swift. Each round
// sends two conflicting writes at the same moment and then checks the invariant that some serial order of
// them would leave: no tag names a manifest the repository no longer holds, GET by tag and by digest agree
// with tags/list, and a tag raced by two PUTs names one of them. Then If-None-Match on GET (304) and
// If-Match / If-None-Match: * on PUT by tag (412 when the tag is not as required).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { imageManifest, pushImageBlobs, putManifest, putManifestOk, type Manifest } from "./helpers/manifests.js";
import { errorBody, rand, req } from "./helpers/registry.js";

const ROOT = `t-consistency-${rand()}`;
const ROUNDS = 20;
const ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

let berth: Berth;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT });
});

afterAll(async () => {
  await berth?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- berth logs (tail)\n${berth.logs().slice(-4000)}`);
});

const get = (repo: string, ref: string) => req(berth.url, `/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT } });
const del = (repo: string, ref: string) => req(berth.url, `/v2/${repo}/manifests/${ref}`, { method: "DELETE" });

async function tagsOf(repo: string): Promise<string[]> {
  const res = await req(berth.url, `/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  expect(res.status).toBe(200);
  return ((await res.json()) as { tags: string[] }).tags;
}

/** The repository's state as clients see it, with the invariant checked: every listed tag resolves to a held manifest. */
async function observe(repo: string, tag: string, digests: string[]): Promise<{ tagged: string | null; held: string[] }> {
  const held: string[] = [];
  for (const d of digests) {
    const res = await get(repo, d);
    if (res.status === 200) held.push(d);
    else expect(res.status).toBe(404);
    await res.body?.cancel();
  }
  const byTag = await get(repo, tag);
  await byTag.body?.cancel();
  const tagged = byTag.status === 200 ? byTag.headers.get("docker-content-digest") : null;
  if (byTag.status !== 200) expect(byTag.status).toBe(404);
  const listed = (await tagsOf(repo)).includes(tag);
  // The invariant: a tag is listed exactly when it resolves, and it resolves only to a manifest the repository holds.
  expect(listed, `tags/list shows ${tag}: ${listed}, GET by tag: ${byTag.status}`).toBe(tagged !== null);
  if (tagged !== null) expect(held, `${tag} → ${tagged}, held ${held.join(",")}`).toContain(tagged);
  return { tagged, held };
}

/** One set of blobs per repository; each round's manifests differ by an annotation (new digests, no uploads). */
async function images(repo: string): Promise<(round: number, which?: string) => Manifest> {
  const { config, layers } = await pushImageBlobs(berth.url, repo);
  return (round, which = "a") => imageManifest({ config, layers, annotations: { round: String(round), which } });
}


describe("concurrent writes to one repository land in some serial order", () => {
  it(`PUT by tag vs DELETE by digest of the same manifest (${ROUNDS} rounds)`, async () => {
    const repo = `race/put-del-${rand(6)}`;
    const manifest = await images(repo);
    for (let round = 0; round < ROUNDS; round++) {
      const m = manifest(round);
      const t = `t${round}`;
      await putManifestOk(berth.url, repo, t, m);
      const [put, gone] = await Promise.all([putManifest(berth.url, repo, t, m), del(repo, m.digest)]);
      expect([put.status, gone.status]).toEqual([201, 202]);
      const seen = await observe(repo, t, [m.digest]);
      // PUT then DELETE: nothing left; DELETE then PUT: manifest held and tagged. Never a tag without its manifest.
      expect(seen.tagged === null ? seen.held : [seen.tagged]).toEqual(seen.held);
      // A later DELETE by digest succeeds exactly when the manifest is held.
      expect((await del(repo, m.digest)).status).toBe(seen.held.length === 1 ? 202 : 404);
    }
  });

  it(`PUT vs PUT of different manifests to one tag (${ROUNDS} rounds)`, async () => {
    const repo = `race/put-put-${rand(6)}`;
    const manifest = await images(repo);
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = [manifest(round, "a"), manifest(round, "b")];
      const t = `t${round}`;
      const [ra, rb] = await Promise.all([putManifest(berth.url, repo, t, a), putManifest(berth.url, repo, t, b)]);
      expect([ra.status, rb.status]).toEqual([201, 201]);
      const seen = await observe(repo, t, [a.digest, b.digest]);
      expect([a.digest, b.digest]).toContain(seen.tagged);
      expect(seen.held.sort()).toEqual([a.digest, b.digest].sort());
    }
  });

  it(`tag DELETE vs PUT of that tag (${ROUNDS} rounds)`, async () => {
    const repo = `race/tagdel-put-${rand(6)}`;
    const manifest = await images(repo);
    for (let round = 0; round < ROUNDS; round++) {
      const [old, next] = [manifest(round, "old"), manifest(round, "next")];
      const t = `t${round}`;
      await putManifestOk(berth.url, repo, t, old);
      const [gone, put] = await Promise.all([del(repo, t), putManifest(berth.url, repo, t, next)]);
      expect(put.status).toBe(201);
      expect(gone.status).toBe(202);
      const seen = await observe(repo, t, [old.digest, next.digest]);
      // DELETE then PUT: t → next; PUT then DELETE: no tag. Never the old manifest, never half a tag.
      expect([null, next.digest]).toContain(seen.tagged);
      expect(seen.held.sort()).toEqual([old.digest, next.digest].sort());
    }
  });

  it(`referrer PUT vs DELETE of its subject (${ROUNDS} rounds)`, async () => {
    const repo = `race/ref-subj-${rand(6)}`;
    const { config, layers } = await pushImageBlobs(berth.url, repo);
    for (let round = 0; round < ROUNDS; round++) {
      const subject = imageManifest({ config, layers, annotations: { round: String(round) } });
      const s = `s${round}`;
      await putManifestOk(berth.url, repo, s, subject);
      const referrer = imageManifest({ config, layers, artifactType: "application/vnd.example.sig", subject, annotations: { round: String(round) } });
      const [put, gone] = await Promise.all([putManifest(berth.url, repo, referrer.digest, referrer), del(repo, subject.digest)]);
      expect([put.status, gone.status]).toEqual([201, 202]);
      expect((await observe(repo, s, [subject.digest])).held).toEqual([]);
      // The referrer stays (the spec allows referrers of an absent subject) and is listed exactly once.
      const list = await req(berth.url, `/v2/${repo}/referrers/${subject.digest}`);
      const index = (await list.json()) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest)).toEqual([referrer.digest]);
      const got = await get(repo, referrer.digest);
      expect(got.status).toBe(200);
      await got.body?.cancel();
    }
  });
});

describe("conditional requests", () => {
  let repo: string;
  let a: Manifest;
  let b: Manifest;

  beforeAll(async () => {
    repo = `cond/${rand(6)}`;
    const manifest = await images(repo);
    [a, b] = [manifest(0, "a"), manifest(0, "b")];
    await putManifestOk(berth.url, repo, "t", a);
  });

  it("GET and HEAD carry the digest as ETag; If-None-Match with it (or *) answers 304 without a body", async () => {
    const res = await get(repo, "t");
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(`"${a.digest}"`);
    await res.body?.cancel();
    for (const inm of [`"${a.digest}"`, `W/"${a.digest}"`, `"sha256:${"0".repeat(64)}", "${a.digest}"`, "*"]) {
      for (const method of ["GET", "HEAD"]) {
        const r = await req(berth.url, `/v2/${repo}/manifests/t`, { method, headers: { Accept: ACCEPT, "If-None-Match": inm } });
        expect(r.status, `${method} If-None-Match: ${inm}`).toBe(304);
        expect(r.headers.get("etag")).toBe(`"${a.digest}"`);
        expect(await r.text()).toBe("");
      }
    }
    const other = await req(berth.url, `/v2/${repo}/manifests/${a.digest}`, { headers: { Accept: ACCEPT, "If-None-Match": `"${b.digest}"` } });
    expect(other.status).toBe(200);
    expect(new Uint8Array(await other.arrayBuffer())).toEqual(a.bytes);
  });

  it("PUT by tag with If-Match moves the tag only from the digest named; otherwise 412, tag unchanged", async () => {
    const stale = await req(berth.url, `/v2/${repo}/manifests/t`, {
      method: "PUT",
      headers: { "Content-Type": b.mediaType, "If-Match": `"${b.digest}"` },
      body: b.bytes,
    });
    expect(stale.status).toBe(412);
    expect((await errorBody(stale))?.errors[0]?.message).toMatch(/precondition failed/);
    expect((await observe(repo, "t", [a.digest])).tagged).toBe(a.digest);
    const fresh = await req(berth.url, `/v2/${repo}/manifests/t`, {
      method: "PUT",
      headers: { "Content-Type": b.mediaType, "If-Match": `"${a.digest}"` },
      body: b.bytes,
    });
    expect(fresh.status).toBe(201);
    expect((await observe(repo, "t", [a.digest, b.digest])).tagged).toBe(b.digest);
    // If-Match on a tag that does not exist fails too.
    const none = await req(berth.url, `/v2/${repo}/manifests/never`, {
      method: "PUT",
      headers: { "Content-Type": a.mediaType, "If-Match": "*" },
      body: a.bytes,
    });
    expect(none.status).toBe(412);
    expect(await tagsOf(repo)).not.toContain("never");
  });

  it("If-None-Match: * creates a tag only if it does not exist; of two racing creators exactly one wins", async () => {
    const exists = await req(berth.url, `/v2/${repo}/manifests/t`, {
      method: "PUT",
      headers: { "Content-Type": a.mediaType, "If-None-Match": "*" },
      body: a.bytes,
    });
    expect(exists.status).toBe(412);
    for (let round = 0; round < 5; round++) {
      const tag = `new-${round}`;
      const [ra, rb] = await Promise.all(
        [a, b].map((m) =>
          req(berth.url, `/v2/${repo}/manifests/${tag}`, { method: "PUT", headers: { "Content-Type": m.mediaType, "If-None-Match": "*" }, body: m.bytes }),
        ),
      );
      expect([ra!.status, rb!.status].sort()).toEqual([201, 412]);
      const winner = ra!.status === 201 ? a : b;
      expect((await observe(repo, tag, [a.digest, b.digest])).tagged).toBe(winner.digest);
    }
  });
});
