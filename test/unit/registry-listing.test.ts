// The listings through the router: tags/list (end-8a/8b) and the catalog with n/last paging and Link headers,
// NAME_UNKNOWN for a repository that holds nothing, and referrers (end-12a/12b) with the artifactType filter.
import { describe, expect, it } from "vitest";
import { OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST } from "../../src/oci/media-types";
import { absentDigest, bytesOf, descriptor, imageManifest, pattern, sha256 } from "./support/content";
import { pushBlob, pushImage, putManifest } from "./support/flows";
import { expectError, expectStatus, registry, ROOT, type TestRegistry } from "./support/registry";

const REPO = "team/app";

async function listJson<T>(r: TestRegistry, path: string): Promise<{ body: T; link: string | null }> {
  const res = await expectStatus(await r.call("GET", path), 200);
  expect(res.headers.get("Content-Type")).toBe("application/json");
  return { body: (await res.json()) as T, link: res.headers.get("Link") };
}

/** Every tag of one manifest, pushed once. */
async function tagged(r: TestRegistry, tags: string[]): Promise<void> {
  const { manifest } = await pushImage(r, REPO, tags[0]!);
  for (const t of tags.slice(1)) await putManifest(r, REPO, t, manifest);
}

describe("tags/list", () => {
  it("lists tags in lexical order (not the bucket's key order)", async () => {
    const r = registry();
    await tagged(r, ["v1", "v1.0", "latest", "V2", "_x", "v1-rc"]);
    const { body, link } = await listJson<{ name: string; tags: string[] }>(r, `/v2/${REPO}/tags/list`);
    expect(body).toEqual({ name: REPO, tags: ["V2", "_x", "latest", "v1", "v1-rc", "v1.0"] });
    expect(link).toBeNull();
  });

  it("pages with n and last, with a Link to the next page until the last", async () => {
    const r = registry();
    await tagged(r, ["a", "b", "c", "d", "e"]);
    const p1 = await listJson<{ tags: string[] }>(r, `/v2/${REPO}/tags/list?n=2`);
    expect(p1.body.tags).toEqual(["a", "b"]);
    expect(p1.link).toBe(`</v2/${REPO}/tags/list?n=2&last=b>; rel="next"`);
    const p2 = await listJson<{ tags: string[] }>(r, `/v2/${REPO}/tags/list?n=2&last=b`);
    expect(p2.body.tags).toEqual(["c", "d"]);
    expect(p2.link).toBe(`</v2/${REPO}/tags/list?n=2&last=d>; rel="next"`);
    const p3 = await listJson<{ tags: string[] }>(r, `/v2/${REPO}/tags/list?n=2&last=d`);
    expect(p3.body.tags).toEqual(["e"]);
    expect(p3.link).toBeNull();
    // `last` need not be a tag; n=0 asks for nothing.
    expect((await listJson<{ tags: string[] }>(r, `/v2/${REPO}/tags/list?last=bb`)).body.tags).toEqual(["c", "d", "e"]);
    expect((await listJson<{ tags: string[] }>(r, `/v2/${REPO}/tags/list?n=0`)).body.tags).toEqual([]);
  });

  it("400 UNSUPPORTED for an n that is not a non-negative integer", async () => {
    const r = registry();
    await tagged(r, ["a"]);
    for (const n of ["-1", "x", "1.5", "9999999999"]) await expectError(await r.call("GET", `/v2/${REPO}/tags/list?n=${n}`), 400, "UNSUPPORTED");
  });

  it("an existing repository without tags lists none (also after its last tag went); one with nothing is NAME_UNKNOWN", async () => {
    const r = registry();
    await pushBlob(r, REPO, pattern(10));
    expect((await listJson<{ tags: string[] }>(r, `/v2/${REPO}/tags/list`)).body).toEqual({ name: REPO, tags: [] });
    await pushImage(r, "team/tagged", "only");
    await expectStatus(await r.call("DELETE", "/v2/team/tagged/manifests/only"), 202);
    expect((await listJson<{ tags: string[] }>(r, "/v2/team/tagged/tags/list")).body.tags).toEqual([]);
    const err = await expectError(await r.call("GET", "/v2/team/none/tags/list"), 404, "NAME_UNKNOWN");
    expect(err.detail).toEqual({ name: "team/none" });
    // A nested repository does not make its parent one.
    await expectError(await r.call("GET", "/v2/team/tags/list"), 404, "NAME_UNKNOWN");
  });
});

describe("catalog", () => {
  async function seeded(): Promise<TestRegistry> {
    const r = registry();
    for (const name of ["b/app", "a", "a/b", "a/b/c", "z-last", "a.b"]) await pushBlob(r, name, bytesOf(name));
    // Directories under a repository whose names start with "_" are Distribution's or Berth's, never repositories.
    r.driver.seed(`${ROOT}/docker/registry/v2/repositories/a/_uploads/x/_layers/link`, "x");
    r.driver.seed(`${ROOT}/docker/registry/v2/repositories/a/_berth/referrers/_layers/y`, "y");
    // A directory without _layers (e.g. an upload leftover) is no repository.
    r.driver.seed(`${ROOT}/docker/registry/v2/repositories/ghost/_uploads/u/data`, "z");
    return r;
  }

  it("lists every repository, nested names included, in lexical order", async () => {
    const r = await seeded();
    const { body, link } = await listJson<{ repositories: string[] }>(r, "/v2/_catalog");
    expect(body.repositories).toEqual(["a", "a.b", "a/b", "a/b/c", "b/app", "z-last"]);
    expect(link).toBeNull();
  });

  it("pages with n and last and a Link header", async () => {
    const r = await seeded();
    const p1 = await listJson<{ repositories: string[] }>(r, "/v2/_catalog?n=4");
    expect(p1.body.repositories).toEqual(["a", "a.b", "a/b", "a/b/c"]);
    expect(p1.link).toBe(`</v2/_catalog?n=4&last=a%2Fb%2Fc>; rel="next"`);
    const p2 = await listJson<{ repositories: string[] }>(r, "/v2/_catalog?n=4&last=a%2Fb%2Fc");
    expect(p2.body.repositories).toEqual(["b/app", "z-last"]);
    expect(p2.link).toBeNull();
  });

  // Distribution lists a repository only while it has `_layers/`; deleting its blob links (allowed while
  // manifests still name them) would drop a repository that still serves its tags. Berth keeps it listed.
  it("a repository whose blob links were all deleted still holds manifests and tags, and stays in the catalog", async () => {
    const r = registry();
    const { config, layer } = await pushImage(r, "team/app", "v1");
    for (const blob of [config, layer]) await expectStatus(await r.call("DELETE", `/v2/team/app/blobs/${sha256(blob)}`), 202);
    expect((await r.call("GET", "/v2/team/app/manifests/v1")).status).toBe(200);
    expect((await listJson<{ tags: string[] }>(r, "/v2/team/app/tags/list")).body.tags).toEqual(["v1"]);
    expect((await listJson<{ repositories: string[] }>(r, "/v2/_catalog")).body.repositories).toEqual(["team/app"]);
  });

  it("shows only what the caller may read, filtered before paging", async () => {
    const r = await seeded();
    r.access.deny("read", { repo: "a" }).deny("read", { repo: "a.b" });
    const p1 = await listJson<{ repositories: string[] }>(r, "/v2/_catalog?n=2");
    expect(p1.body.repositories).toEqual(["a/b", "a/b/c"]);
  });
});

describe("referrers", () => {
  async function withArtifacts(r: TestRegistry) {
    const { manifest: subject } = await pushImage(r, REPO, "v1");
    const sigConfig = bytesOf("{}");
    await pushBlob(r, REPO, sigConfig);
    const sig = imageManifest({ config: descriptor(sigConfig, "application/vnd.oci.empty.v1+json"), subject, artifactType: "application/vnd.example.signature", annotations: { "org.example": "1" } });
    const sbom = imageManifest({ config: descriptor(sigConfig, "application/vnd.example.sbom.config"), layers: [descriptor(sigConfig)], subject });
    return { subject, sig, sbom };
  }

  it("lists the manifests whose subject is the digest, ordered by digest, as an image index", async () => {
    const r = registry();
    const { subject, sig, sbom } = await withArtifacts(r);
    r.events.length = 0;
    const put = await expectStatus(await r.call("PUT", `/v2/${REPO}/manifests/${sig.digest}`, { body: sig.bytes, headers: { "Content-Type": OCI_IMAGE_MANIFEST } }), 201);
    expect(put.headers.get("OCI-Subject")).toBe(subject.digest);
    expect(r.events).toEqual([{ action: "manifest.put", repository: REPO, digest: sig.digest, mediaType: OCI_IMAGE_MANIFEST, size: sig.bytes.byteLength, tag: null, subject: subject.digest }]);
    await putManifest(r, REPO, sbom.digest, sbom);

    const res = await expectStatus(await r.call("GET", `/v2/${REPO}/referrers/${subject.digest}`), 200);
    expect(res.headers.get("Content-Type")).toBe(OCI_IMAGE_INDEX);
    expect(res.headers.get("OCI-Filters-Applied")).toBeNull();
    const expected = [
      { mediaType: OCI_IMAGE_MANIFEST, digest: sig.digest, size: sig.bytes.byteLength, artifactType: "application/vnd.example.signature", annotations: { "org.example": "1" } },
      // Without an artifactType of its own, an image manifest is listed under its config's media type.
      { mediaType: OCI_IMAGE_MANIFEST, digest: sbom.digest, size: sbom.bytes.byteLength, artifactType: "application/vnd.example.sbom.config" },
    ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: OCI_IMAGE_INDEX, manifests: expected });
  });

  it("filters by artifactType and says so", async () => {
    const r = registry();
    const { subject, sig, sbom } = await withArtifacts(r);
    await putManifest(r, REPO, sig.digest, sig);
    await putManifest(r, REPO, sbom.digest, sbom);
    const res = await expectStatus(await r.call("GET", `/v2/${REPO}/referrers/${subject.digest}?artifactType=application/vnd.example.signature`), 200);
    expect(res.headers.get("OCI-Filters-Applied")).toBe("artifactType");
    const body = (await res.json()) as { manifests: { digest: string }[] };
    expect(body.manifests.map((m) => m.digest)).toEqual([sig.digest]);
  });

  it("an unknown subject has an empty list (never 404); a deleted referrer leaves it; a bad digest is DIGEST_INVALID", async () => {
    const r = registry();
    const { subject, sig } = await withArtifacts(r);
    expect(await (await expectStatus(await r.call("GET", `/v2/${REPO}/referrers/${absentDigest()}`), 200)).json()).toEqual({ schemaVersion: 2, mediaType: OCI_IMAGE_INDEX, manifests: [] });
    await putManifest(r, REPO, sig.digest, sig);
    await expectStatus(await r.call("DELETE", `/v2/${REPO}/manifests/${sig.digest}`), 202);
    expect(((await (await r.call("GET", `/v2/${REPO}/referrers/${subject.digest}`)).json()) as { manifests: unknown[] }).manifests).toEqual([]);
    await expectError(await r.call("GET", `/v2/${REPO}/referrers/sha256:short`), 400, "DIGEST_INVALID");
    // Referrers are per repository.
    await putManifest(r, REPO, sig.digest, sig);
    expect(((await (await r.call("GET", `/v2/team/other/referrers/${subject.digest}`)).json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });
});
