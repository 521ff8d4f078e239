// End-to-end tests of GET /v2/<name>/tags/list and GET /v2/_catalog: lexical order (which differs from S3's key
// order: "v1.0/" and "v1-rc/" list before "v1/"), n/last pagination with RFC 5988 Link headers, n=0, unknown
// repositories, nested repository names. The Berth of this file has its own root directory, so the catalog
// holds exactly the repositories pushed here.
//
// Order: the spec says "lexical order"; Berth (like Distribution's tag store, sort.Strings) compares code units,
// so uppercase sorts before "_" and lowercase. The `last` parameter uses the same comparison, so pages chain.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import {
  nextPath,
  putManifestOk,
  pushBlob,
  pushImageBlobs,
  rand,
  randomBlob,
  req,
  statusAndCode,
  walkPages,
  type Manifest,
} from "./helpers/manifests.js";

const ROOT = `t-tags-catalog-${rand()}`;

let berth: Berth;
let url: string;

/** Repositories with manifests (the catalog), pushed in an order unlike the expected one. */
const REPOS = ["z", "a/b/c", "a", "a-b", "a.b", "a/b/d0"];
/** Code-unit order of REPOS. */
const REPOS_SORTED = ["a", "a-b", "a.b", "a/b/c", "a/b/d0", "z"];
/** Holds only a blob, no manifest: not a repository in the catalog's sense (as in Distribution). */
const BLOB_ONLY = "tl-blobonly"; // "tl-" names are ignored by order-sensitive catalog assertions

const TAG_REPO = "a/b/c";
const TAGS = ["v1", "v1.0", "V2", "a_b", "1.0", "v1-rc", "v10", "latest", "_x"];
// Code units: digits < uppercase < "_" < lowercase; "v1" < "v1-rc" < "v1.0" < "v10" (S3 lists "v1-rc/", "v1.0/", "v1/", "v10/").
const TAGS_SORTED = ["1.0", "V2", "_x", "a_b", "latest", "v1", "v1-rc", "v1.0", "v10"];

let m: Manifest;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT });
  url = berth.url;
  for (const repo of REPOS) {
    const img = await pushImageBlobs(url, repo);
    await putManifestOk(url, repo, "base", img.manifest);
    if (repo === TAG_REPO) m = img.manifest;
  }
  await Promise.all(TAGS.map((t) => putManifestOk(url, TAG_REPO, t, m)));
  await pushBlob(url, BLOB_ONLY, randomBlob());
});

afterAll(async () => {
  await berth?.stop();
});

type TagsBody = { name: string; tags: string[] };
type CatalogBody = { repositories: string[] };

describe("tags list", () => {
  const ALL = [...TAGS_SORTED, "base"].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  it("lists every tag once, in lexical order (not S3 key order), with JSON and no Link", async () => {
    expect(ALL).toEqual(["1.0", "V2", "_x", "a_b", "base", "latest", "v1", "v1-rc", "v1.0", "v10"]);
    const res = await req(url, `/v2/${TAG_REPO}/tags/list`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(res.headers.get("Link")).toBeNull();
    expect((await res.json()) as TagsBody).toEqual({ name: TAG_REPO, tags: ALL });
  });

  it("?n=2 gives 2 tags and a Link to the next page with n and last", async () => {
    const res = await req(url, `/v2/${TAG_REPO}/tags/list?n=2`);
    expect(res.status).toBe(200);
    expect((await res.json()) as TagsBody).toEqual({ name: TAG_REPO, tags: ["1.0", "V2"] });
    expect(res.headers.get("Link")).toBe(`</v2/${TAG_REPO}/tags/list?n=2&last=V2>; rel="next"`);
  });

  it("following the Links walks every tag exactly once; the last page has no Link", async () => {
    const { pages, links } = await walkPages<TagsBody>(url, `/v2/${TAG_REPO}/tags/list?n=2`);
    expect(pages.map((p) => p.tags)).toEqual([
      ["1.0", "V2"],
      ["_x", "a_b"],
      ["base", "latest"],
      ["v1", "v1-rc"],
      ["v1.0", "v10"],
    ]);
    expect(pages.every((p) => p.name === TAG_REPO)).toBe(true);
    // Exactly ten tags: the fifth page is full, but nothing follows it, so no Link.
    expect(links.slice(0, 4).every((l) => l !== null)).toBe(true);
    expect(links[4]).toBeNull();
  });

  it("pages of 3 and of 4 also chain to the full list", async () => {
    for (const n of [3, 4, 7]) {
      const { pages } = await walkPages<TagsBody>(url, `/v2/${TAG_REPO}/tags/list?n=${n}`);
      expect(pages.flatMap((p) => p.tags), `n=${n}`).toEqual(ALL);
      expect(pages.slice(0, -1).every((p) => p.tags.length === n), `n=${n}`).toBe(true);
    }
  });

  it("?n equal to or above the number of tags: everything, no Link", async () => {
    for (const n of [ALL.length, ALL.length + 5]) {
      const res = await req(url, `/v2/${TAG_REPO}/tags/list?n=${n}`);
      expect(((await res.json()) as TagsBody).tags).toEqual(ALL);
      expect(res.headers.get("Link"), `n=${n}`).toBeNull();
    }
  });

  it("?n=0 → empty list and no Link", async () => {
    const res = await req(url, `/v2/${TAG_REPO}/tags/list?n=0`);
    expect(res.status).toBe(200);
    expect((await res.json()) as TagsBody).toEqual({ name: TAG_REPO, tags: [] });
    expect(res.headers.get("Link")).toBeNull();
  });

  it("?last= starts after the given tag (with and without n; last need not be a tag)", async () => {
    const after = async (q: string) => ((await (await req(url, `/v2/${TAG_REPO}/tags/list?${q}`)).json()) as TagsBody).tags;
    expect(await after("last=v1")).toEqual(["v1-rc", "v1.0", "v10"]);
    expect(await after("last=V2")).toEqual(["_x", "a_b", "base", "latest", "v1", "v1-rc", "v1.0", "v10"]);
    expect(await after("n=2&last=a_b")).toEqual(["base", "latest"]);
    expect(await after("last=m")).toEqual(["v1", "v1-rc", "v1.0", "v10"]);
    expect(await after("last=v10")).toEqual([]);
    const res = await req(url, `/v2/${TAG_REPO}/tags/list?n=1&last=v1.0`);
    expect(((await res.json()) as TagsBody).tags).toEqual(["v10"]);
    expect(res.headers.get("Link")).toBeNull();
  });

  it("a nested repository's tags are not its parent's", async () => {
    const res = await req(url, `/v2/a/tags/list`);
    expect((await res.json()) as TagsBody).toEqual({ name: "a", tags: ["base"] });
  });

  it("a deleted tag disappears from the list; a repository without tags lists none (200, as the conformance suite expects)", async () => {
    const repo = `tl-${rand()}`;
    const img = await pushImageBlobs(url, repo);
    await putManifestOk(url, repo, "one", img.manifest);
    await putManifestOk(url, repo, "two", img.manifest);
    const del = await req(url, `/v2/${repo}/manifests/one`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect(((await (await req(url, `/v2/${repo}/tags/list`)).json()) as TagsBody).tags).toEqual(["two"]);
    expect((await req(url, `/v2/${repo}/manifests/${img.manifest.digest}`, { method: "DELETE" })).status).toBe(202);
    const none = await req(url, `/v2/${repo}/tags/list`);
    expect(none.status).toBe(200);
    expect(await none.json()).toEqual({ name: repo, tags: [] });

    // Distribution answers NAME_UNKNOWN here; the spec (and its conformance suite) has an existing repository list [].
    const blobs = await req(url, `/v2/${BLOB_ONLY}/tags/list`);
    expect(blobs.status).toBe(200);
    expect(await blobs.json()).toEqual({ name: BLOB_ONLY, tags: [] });
  });

  it("an unknown repository → 404 NAME_UNKNOWN", async () => {
    for (const name of [`unknown-${rand()}`, "a/b", "a/b/c/d"]) {
      const res = await req(url, `/v2/${name}/tags/list`);
      expect(await statusAndCode(res), name).toEqual({ status: 404, code: "NAME_UNKNOWN" });
    }
  });
});

describe("catalog", () => {
  // "tl-*" repositories are created by other tests of this file; the assertions must not depend on their order.
  const catalog = async (q = "") => {
    const res = await req(url, `/v2/_catalog${q}`);
    expect(res.status).toBe(200);
    return { body: (await res.json()) as CatalogBody, link: res.headers.get("Link") };
  };
  const known = (repos: string[]) => repos.filter((r) => !r.startsWith("tl-"));

  it("lists nested names in lexical order, blob-only repositories included (as Distribution does)", async () => {
    const { body, link } = await catalog();
    expect(known(body.repositories)).toEqual(REPOS_SORTED);
    expect(body.repositories).toContain(BLOB_ONLY);
    expect(link).toBeNull();
  });

  it("?n=2 → 2 names and a Link to the next page; following Links walks every name exactly once", async () => {
    const first = await catalog("?n=2");
    expect(first.body.repositories).toEqual(["a", "a-b"]);
    expect(first.link).toBe(`</v2/_catalog?n=2&last=a-b>; rel="next"`);

    const { pages, links } = await walkPages<CatalogBody>(url, "/v2/_catalog?n=2");
    const all = pages.flatMap((p) => p.repositories);
    expect(known(all)).toEqual(REPOS_SORTED);
    expect(new Set(all).size).toBe(all.length);
    expect(pages.slice(0, -1).every((p) => p.repositories.length === 2)).toBe(true);
    expect(links[links.length - 1]).toBeNull();
    // The second page ends with "a/b/c": its Link carries a "/" in `last`, which must round-trip.
    const third = links[1] ? nextPath(links[1]) : "";
    expect(new URL(third, url).searchParams.get("last")).toBe("a/b/c");
  });

  it("?last= (a nested name) starts after it; ?n=0 → empty list without Link", async () => {
    const after = await catalog(`?last=${encodeURIComponent("a/b/c")}`);
    expect(known(after.body.repositories)).toEqual(["a/b/d0", "z"]);
    const page = await catalog(`?n=1&last=a.b`);
    expect(page.body.repositories).toEqual(["a/b/c"]);
    expect(page.link).not.toBeNull();
    expect(new URL(nextPath(page.link as string), url).searchParams.get("last")).toBe("a/b/c");
    const zero = await catalog("?n=0");
    expect(zero.body).toEqual({ repositories: [] });
    expect(zero.link).toBeNull();
  });

  it("a repository stays in the catalog while it links blobs, even after its last manifest is deleted (as Distribution)", async () => {
    const repo = `tl-${rand()}`;
    const img = await pushImageBlobs(url, repo);
    await putManifestOk(url, repo, "only", img.manifest);
    expect((await catalog()).body.repositories).toContain(repo);
    const del = await req(url, `/v2/${repo}/manifests/${img.manifest.digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect((await catalog()).body.repositories).toContain(repo);
    // Its manifest is gone, its tag with it.
    expect((await req(url, `/v2/${repo}/manifests/only`)).status).toBe(404);
  });
});
