// GET/HEAD /health: 200 with the checks while the bucket answers, 503 naming the failing check (and nothing
// about the bucket) when it does not; one cheap request, remembered a few seconds.
import { beforeEach, describe, expect, it } from "vitest";
import { forgetHealth } from "../../src/registry/health";
import { registry } from "./support/registry";

beforeEach(() => forgetHealth());

describe("/health", () => {
  it("200 with the storage check when the bucket answers; HEAD the same without a body; one list request", async () => {
    const r = registry();
    const before = r.driver.calls.list;
    const res = await r.call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const body = (await res.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    expect(body.status).toBe("ok");
    expect(body.checks).toMatchObject([{ name: "storage", ok: true }]);
    expect(r.driver.calls.list - before).toBe(1);
    const head = await r.call("HEAD", "/health");
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    // Remembered for a few seconds: the HEAD right after cost no request.
    expect(r.driver.calls.list - before).toBe(1);
  });

  it("503 with the failing check when the bucket fails, without the reason or the bucket's name", async () => {
    const r = registry();
    r.driver.fault = (op) => {
      if (op === "list") throw new Error("S3 ListObjectsV2 failed: HTTP 403 AccessDenied: bucket my-secret-bucket");
    };
    const res = await r.call("GET", "/health");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: "unavailable", checks: [{ name: "storage", ok: false }] });
    expect(text).not.toMatch(/my-secret-bucket|AccessDenied|403/);
    expect((await r.call("HEAD", "/health")).status).toBe(503);
  });

  it("only GET and HEAD", async () => {
    const r = registry();
    expect((await r.call("POST", "/health")).status).toBe(405);
  });
});
