// Read-only mode and immutable tags: the settings (every bad value refused, naming the setting) and what they
// do to the registry, through the router over the memory driver.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/values";
import { OCI_IMAGE_MANIFEST } from "../../src/oci/media-types";
import { bytesOf, descriptor, imageManifest } from "./support/content";
import { pushBlob } from "./support/flows";
import { BASE_ENV, expectError, expectStatus, registry, type TestRegistry } from "./support/registry";

const parse = (env: Record<string, string>) => parseConfig({ ...BASE_ENV, ...env }).maintenance;

function refusal(env: Record<string, string>): ConfigError {
  try {
    parse(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("settings", () => {
  it("read-only: off by default; Distribution's JSON form or the _ENABLED flag", () => {
    expect(parse({}).readOnly).toBe(false);
    expect(parse({ REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled":true}' }).readOnly).toBe(true);
    expect(parse({ REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled":false}' }).readOnly).toBe(false);
    expect(parse({ REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: "true" }).readOnly).toBe(true);
    for (const bad of ["yes", "[]", '{"enabled":"yes"}', '{"on":true}']) {
      expect(refusal({ REGISTRY_STORAGE_MAINTENANCE_READONLY: bad }).setting).toBe("REGISTRY_STORAGE_MAINTENANCE_READONLY");
    }
    expect(refusal({ REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: "maybe" }).setting).toBe("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED");
  });

  it("immutable tags: every matching pattern applies; nothing is immutable without the setting", () => {
    expect(parse({}).immutableTags.empty).toBe(true);
    expect(parse({}).immutableTags.covers("prod/app", "v1")).toBe(false);
    const t = parse({ BERTH_IMMUTABLE_TAGS: JSON.stringify({ "prod/**": ["^v[0-9]"], "**": ["^release-"] }) }).immutableTags;
    expect(t.covers("prod/app", "v1.2")).toBe(true);
    expect(t.covers("prod/app", "release-3")).toBe(true);
    expect(t.covers("dev/app", "release-3")).toBe(true);
    expect(t.covers("dev/app", "v1.2")).toBe(false);
    expect(t.covers("prod/app", "latest")).toBe(false);
  });

  it("immutable tags: bad JSON, globs and regexes are refused naming BERTH_IMMUTABLE_TAGS", () => {
    for (const [bad, why] of [
      ["nope", /not valid JSON/],
      ["[]", /must be a JSON object/],
      ['{"Prod/**": ["^v"]}', /lowercase/],
      ['{"a//b": ["^v"]}', /empty path segment/],
      ['{"**": []}', /non-empty list/],
      ['{"**": "^v"}', /non-empty list/],
      ['{"**": ["("]}', /not a valid regular expression/],
    ] as const) {
      const e = refusal({ BERTH_IMMUTABLE_TAGS: bad });
      expect(e.setting, bad).toBe("BERTH_IMMUTABLE_TAGS");
      expect(e.message, bad).toMatch(why);
    }
  });
});

const REPO = "prod/app";

async function manifest(r: TestRegistry, seed: number) {
  const config = bytesOf(JSON.stringify({ seed }));
  await pushBlob(r, REPO, config);
  return imageManifest({ config: descriptor(config, "application/vnd.oci.image.config.v1+json") });
}

const put = (r: TestRegistry, ref: string, body: Uint8Array) =>
  r.call("PUT", `/v2/${REPO}/manifests/${ref}`, { body, headers: { "Content-Type": OCI_IMAGE_MANIFEST } });

describe("read-only mode", () => {
  it("refuses every write with 405 UNSUPPORTED saying why; reads work", async () => {
    const writable = registry();
    const m = await manifest(writable, 1);
    await expectStatus(await put(writable, "v1", m.bytes), 201);
    const r = registry({ driver: writable.driver, env: { REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled":true}' } });
    for (const [method, path] of [
      ["POST", `/v2/${REPO}/blobs/uploads/`],
      ["PUT", `/v2/${REPO}/manifests/v2`],
      ["DELETE", `/v2/${REPO}/manifests/v1`],
      ["DELETE", `/v2/${REPO}/blobs/${m.digest}`],
      ["PATCH", `/v2/${REPO}/blobs/uploads/3f2b8c9e-1d4a-4b6c-8e2f-0a1b2c3d4e5f`],
      ["POST", "/v2/_berth/ext/jobs/storage-stats"],
    ] as const) {
      const err = await expectError(await r.call(method, path, method === "PUT" ? { body: m.bytes } : {}), 405, "UNSUPPORTED");
      expect(err.message, `${method} ${path}`).toMatch(/read-only/);
    }
    const got = await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/v1`), 200);
    expect(got.headers.get("Docker-Content-Digest")).toBe(m.digest);
    await expectStatus(await r.call("GET", `/v2/${REPO}/tags/list`), 200);
  });
});

describe("immutable tags", () => {
  const env = { BERTH_IMMUTABLE_TAGS: JSON.stringify({ "prod/**": ["^v[0-9]"] }) };

  it("a matching tag is created once; pushing the same digest again is fine; moving it is DENIED naming the tag", async () => {
    const r = registry({ env });
    const [a, b] = [await manifest(r, 1), await manifest(r, 2)];
    await expectStatus(await put(r, "v1", a.bytes), 201);
    await expectStatus(await put(r, "v1", a.bytes), 201);
    const err = await expectError(await put(r, "v1", b.bytes), 403, "DENIED");
    expect(err.message).toMatch(/tag v1 is immutable/);
    expect((await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/v1`), 200)).headers.get("Docker-Content-Digest")).toBe(a.digest);
    // Other tags move freely.
    await expectStatus(await put(r, "latest", a.bytes), 201);
    await expectStatus(await put(r, "latest", b.bytes), 201);
  });

  it("deleting the tag, or the manifest it names, is DENIED; other manifests delete as usual", async () => {
    const r = registry({ env });
    const [a, b] = [await manifest(r, 3), await manifest(r, 4)];
    await expectStatus(await put(r, "v2", a.bytes), 201);
    await expectStatus(await put(r, "dev", b.bytes), 201);
    expect((await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/v2`), 403, "DENIED")).message).toMatch(/immutable/);
    expect((await expectError(await r.call("DELETE", `/v2/${REPO}/manifests/${a.digest}`), 403, "DENIED")).message).toMatch(/immutable tag v2/);
    await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/v2`), 200);
    await expectStatus(await r.call("DELETE", `/v2/${REPO}/manifests/${b.digest}`), 202);
  });

  it("two concurrent pushes of different manifests to a new immutable tag: exactly one wins", async () => {
    const r = registry({ env });
    const [a, b] = [await manifest(r, 5), await manifest(r, 6)];
    const [ra, rb] = await Promise.all([put(r, "v3", a.bytes), put(r, "v3", b.bytes)]);
    expect([ra.status, rb.status].sort()).toEqual([201, 403]);
    const winner = ra.status === 201 ? a : b;
    expect((await expectStatus(await r.call("GET", `/v2/${REPO}/manifests/v3`), 200)).headers.get("Docker-Content-Digest")).toBe(winner.digest);
  });
});
