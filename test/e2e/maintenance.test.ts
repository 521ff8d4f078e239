// Immutable tags and read-only mode under wrangler dev + Swift: the repository's metadata object enforces
// BERTH_IMMUTABLE_TAGS (created once, never moved or deleted; racing creators leave one winner), and a second
// Worker on the same bucket with REGISTRY_STORAGE_MAINTENANCE_READONLY refuses every write and serves pulls.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { imageManifest, pushImageBlobs, putManifest, putManifestOk } from "./helpers/manifests.js";
import { errorBody, rand, req } from "./helpers/registry.js";

const ROOT = `t-maintenance-${rand()}`;
let berth: Berth;
let readOnly: Berth;

beforeAll(async () => {
  [berth, readOnly] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, BERTH_IMMUTABLE_TAGS: JSON.stringify({ "prod/**": ["^v[0-9]"] }) }),
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT, REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled":true}' }),
  ]);
});

afterAll(async () => {
  await Promise.all([berth?.stop(), readOnly?.stop()]);
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- logs (tail)\n${berth.logs().slice(-3000)}\n${readOnly.logs().slice(-3000)}`);
});

const digestAt = async (base: string, repo: string, tag: string) => {
  const res = await req(base, `/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
  return res.status === 200 ? res.headers.get("docker-content-digest") : null;
};

describe("immutable tags", () => {
  it("a matching tag cannot be moved or deleted, nor the manifest it names; racing creators leave one winner", async () => {
    const repo = `prod/app-${rand(6)}`;
    const { config, layers } = await pushImageBlobs(berth.url, repo);
    const m = (i: number) => imageManifest({ config, layers, annotations: { i: String(i) } });
    await putManifestOk(berth.url, repo, "v1", m(1));
    await putManifestOk(berth.url, repo, "v1", m(1)); // the same digest again is fine
    const moved = await putManifest(berth.url, repo, "v1", m(2));
    expect(moved.status).toBe(403);
    expect((await errorBody(moved))?.errors[0]?.message).toMatch(/tag v1 is immutable/);
    expect(await digestAt(berth.url, repo, "v1")).toBe(m(1).digest);
    expect((await req(berth.url, `/v2/${repo}/manifests/v1`, { method: "DELETE" })).status).toBe(403);
    expect((await req(berth.url, `/v2/${repo}/manifests/${m(1).digest}`, { method: "DELETE" })).status).toBe(403);
    expect(await digestAt(berth.url, repo, "v1")).toBe(m(1).digest);
    for (let round = 0; round < 5; round++) {
      const tag = `v2.${round}`;
      const [a, b] = [m(100 + round), m(200 + round)];
      const [ra, rb] = await Promise.all([putManifest(berth.url, repo, tag, a), putManifest(berth.url, repo, tag, b)]);
      expect([ra.status, rb.status].sort()).toEqual([201, 403]);
      expect(await digestAt(berth.url, repo, tag)).toBe(ra.status === 201 ? a.digest : b.digest);
    }
    // Tags that match no rule move as usual.
    await putManifestOk(berth.url, repo, "latest", m(1));
    await putManifestOk(berth.url, repo, "latest", m(2));
  });
});

describe("read-only mode", () => {
  it("every write answers 405 UNSUPPORTED saying the registry is read-only; pulls work", async () => {
    const repo = `ro/app-${rand(6)}`;
    const { manifest } = await pushImageBlobs(berth.url, repo);
    await putManifestOk(berth.url, repo, "t", manifest);
    for (const [method, path] of [
      ["POST", `/v2/${repo}/blobs/uploads/`],
      ["PUT", `/v2/${repo}/manifests/t2`],
      ["DELETE", `/v2/${repo}/manifests/t`],
    ] as const) {
      const res = await req(readOnly.url, path, { method, ...(method === "PUT" ? { body: manifest.bytes, headers: { "Content-Type": manifest.mediaType } } : {}) });
      expect(res.status, `${method} ${path}`).toBe(405);
      const body = await errorBody(res);
      expect(body?.errors[0]?.code).toBe("UNSUPPORTED");
      expect(body?.errors[0]?.message).toMatch(/read-only/);
    }
    expect(await digestAt(readOnly.url, repo, "t")).toBe(manifest.digest);
  });
});
