// A push by digest that applies several tags at once (the distribution-spec's main branch, end-7b):
// `PUT /v2/<name>/manifests/<digest>?tag=a&tag=b` answers one OCI-Tag per tag applied, all or nothing, with a
// bound on the number of tags (414 beyond it) and the usual rules for each tag (grammar, moving needs update).
import { describe, expect, it } from "vitest";
import { OCI_IMAGE_MANIFEST } from "../../src/oci/media-types";
import { MAX_TAGS_PER_PUT } from "../../src/registry/manifests";
import { bytesOf, descriptor, imageManifest } from "./support/content";
import { pushBlob } from "./support/flows";
import { expectError, expectStatus, registry, type TestRegistry } from "./support/registry";

const REPO = "team/multi";

async function manifest(r: TestRegistry, seed: number) {
  const config = bytesOf(JSON.stringify({ seed }));
  await pushBlob(r, REPO, config);
  return imageManifest({ config: descriptor(config, "application/vnd.oci.image.config.v1+json") });
}

const put = (r: TestRegistry, ref: string, body: Uint8Array, query = "") =>
  r.call("PUT", `/v2/${REPO}/manifests/${ref}${query}`, { body, headers: { "Content-Type": OCI_IMAGE_MANIFEST } });

async function tags(r: TestRegistry): Promise<string[]> {
  return ((await (await expectStatus(await r.call("GET", `/v2/${REPO}/tags/list`), 200)).json()) as { tags: string[] }).tags;
}

describe("PUT by digest with ?tag=", () => {
  it("applies every tag, answers one OCI-Tag per tag, records one tag.set each", async () => {
    const r = registry();
    const m = await manifest(r, 1);
    r.events.length = 0;
    const res = await expectStatus(await put(r, m.digest, m.bytes, "?tag=a&tag=b&tag=a&tag=v1.0"), 201);
    expect(res.headers.get("OCI-Tag")).toBe("a, b, v1.0");
    expect(await tags(r)).toEqual(["a", "b", "v1.0"]);
    expect(r.events.filter((e) => e.action === "tag.set").map((e) => (e as { tag: string }).tag)).toEqual(["a", "b", "v1.0"]);
    for (const t of ["a", "b", "v1.0"]) {
      const got = await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/${t}`), 200);
      expect(got.headers.get("Docker-Content-Digest")).toBe(m.digest);
    }
  });

  it("a push by digest without ?tag= sends no OCI-Tag", async () => {
    const r = registry();
    const m = await manifest(r, 2);
    const res = await expectStatus(await put(r, m.digest, m.bytes), 201);
    expect(res.headers.get("OCI-Tag")).toBeNull();
  });

  it(`more than ${MAX_TAGS_PER_PUT} tags: 414, nothing stored`, async () => {
    const r = registry();
    const m = await manifest(r, 3);
    const query = "?" + Array.from({ length: MAX_TAGS_PER_PUT + 1 }, (_, i) => `tag=t${i}`).join("&");
    await expectError(await put(r, m.digest, m.bytes, query), 414, "UNSUPPORTED");
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/t0`), 404, "MANIFEST_UNKNOWN");
  });

  it("an invalid tag refuses the whole PUT", async () => {
    const r = registry();
    const m = await manifest(r, 4);
    await expectError(await put(r, m.digest, m.bytes, "?tag=ok&tag=-bad"), 400, "MANIFEST_INVALID");
    await expectError(await r.call("GET", `/v2/${REPO}/manifests/ok`), 404, "MANIFEST_UNKNOWN");
  });

  it("?tag= on a PUT by tag is refused", async () => {
    const r = registry();
    const m = await manifest(r, 5);
    await expectError(await put(r, "v1", m.bytes, "?tag=v2"), 400, "UNSUPPORTED");
  });

  it("moving one of the tags needs update access; without it no tag moves", async () => {
    const r = registry();
    const [a, b] = [await manifest(r, 6), await manifest(r, 7)];
    await expectStatus(await put(r, a.digest, a.bytes, "?tag=x"), 201);
    r.access.deny("update");
    await expectError(await put(r, b.digest, b.bytes, "?tag=new&tag=x"), 403, "DENIED");
    expect(await tags(r)).toEqual(["x"]);
  });
});
