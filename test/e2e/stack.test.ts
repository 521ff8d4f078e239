// Smoke test of the e2e harness itself: Swift really serves (and authenticates) S3, and wrangler dev
// starts, answers and stops. Deliberately asserts nothing about registry behaviour, so a failure here
// means "the test stack is broken", not "Berth is broken".
import { randomUUID } from "node:crypto";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { startBerth } from "./harness/berth.js";
import { getObject, listKeys, listMultipartUploads, putObject, s3Fetch } from "./harness/s3.js";

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.setTimeout(2000);
    sock.once("connect", () => (sock.destroy(), resolve(true)));
    sock.once("error", () => resolve(false));
    sock.once("timeout", () => (sock.destroy(), resolve(false)));
  });

describe("test stack", () => {
  const prefix = `stack-test/${randomUUID()}/`;

  it("Swift round-trips objects through signed S3 requests", async () => {
    const bytes = new TextEncoder().encode(`hello ${prefix}`);
    await putObject(`${prefix}a/one`, bytes);
    await putObject(`${prefix}b`, "two");
    expect(await listKeys(prefix)).toEqual([`${prefix}a/one`, `${prefix}b`]);
    expect(await getObject(`${prefix}a/one`)).toEqual(bytes);
    expect(await getObject(`${prefix}missing`)).toBeNull();
    expect(await listMultipartUploads(prefix)).toEqual([]);
  });

  it("lists open multipart uploads (the inspector's parser sees real Swift XML)", async () => {
    const key = `${prefix}mpu/blob`;
    const created = await s3Fetch(`${key}?uploads`, { method: "POST" });
    const xml = await created.text();
    expect(created.status).toBe(200);
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(xml)?.[1];
    expect(uploadId).toBeTruthy();
    expect(await listMultipartUploads(prefix)).toEqual([{ key, uploadId }]);
    const aborted = await s3Fetch(`${key}?uploadId=${encodeURIComponent(uploadId ?? "")}`, { method: "DELETE" });
    await aborted.body?.cancel();
    expect(aborted.status).toBe(204);
    expect(await listMultipartUploads(prefix)).toEqual([]);
  });

  it("Swift checks signatures: a wrong secret key gets 403", async () => {
    const res = await s3Fetch(`?list-type=2&prefix=${encodeURIComponent(prefix)}`, {}, { secretKey: "not-the-secret" });
    const body = await res.text();
    expect(res.status).toBe(403);
    expect(body).toContain("SignatureDoesNotMatch");
  });

  it("wrangler dev starts, answers GET /v2/ and stop() frees the port", async () => {
    const berth = await startBerth();
    const port = Number(new URL(berth.url).port);
    try {
      const res = await fetch(`${berth.url}/v2/`);
      await res.body?.cancel();
      expect(res.status).toBeGreaterThanOrEqual(100);
      expect(res.status).toBeLessThan(600);
    } finally {
      await berth.stop();
    }
    expect(await canConnect(port)).toBe(false);
  });
});
