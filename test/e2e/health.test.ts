// GET/HEAD /health under wrangler dev: 200 while Swift answers; 503 naming the storage check (and nothing about
// the bucket) for a Worker whose S3 endpoint is a closed port on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { freePort } from "./harness/ports.js";
import { rand, req } from "./helpers/registry.js";

let up: Berth;
let down: Berth;

beforeAll(async () => {
  const closed = await freePort(); // nothing listens there: every S3 request fails to connect
  [up, down] = await Promise.all([
    startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `t-health-${rand()}` }),
    startBerth({ REGISTRY_STORAGE_S3_REGIONENDPOINT: `http://127.0.0.1:${closed}`, REGISTRY_STORAGE_S3_BUCKET: "secret-bucket-name" }),
  ]);
});

afterAll(async () => {
  await Promise.all([up?.stop(), down?.stop()]);
});

describe("/health", () => {
  it("200 with the storage check while the bucket answers; HEAD the same without a body", async () => {
    const res = await req(up.url, "/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", checks: [{ name: "storage", ok: true }] });
    const head = await req(up.url, "/health", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("503 with the failing check when the bucket does not answer, naming neither bucket nor endpoint", async () => {
    const res = await req(down.url, "/health");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: "unavailable", checks: [{ name: "storage", ok: false }] });
    expect(text).not.toMatch(/secret-bucket-name|127\.0\.0\.1/);
    expect((await req(down.url, "/health", { method: "HEAD" })).status).toBe(503);
  });
});
