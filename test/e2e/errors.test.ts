// Bad requests end to end: invalid repository names and digests get the spec's error codes on every endpoint
// family and never reach the bucket; unknown paths answer 404 and wrong methods 405, always with the spec's
// JSON error body; no body ever leaks a stack trace or the S3 secret (both checked after every test). Requests
// go over a raw socket where the path must reach the Worker verbatim ("%2F", "//", ".."), since fetch would
// normalise some of them.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { listKeys, s3Settings } from "./harness/s3.js";
import { EMPTY_DIGEST, digestOf, rand, rawRequest, type RawResponse } from "./helpers/registry.js";

const ROOT = `t-errors-${rand()}`;
const UUID = "3f2b8c9e-1d4a-4b6c-8e2f-0a1b2c3d4e5f";

let berth: Berth;
/** Every response body seen in this file; each test's are checked for leaks right after it (afterEach). */
const bodies: string[] = [];
let audited = 0;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT });
});

afterAll(async () => {
  await berth?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- wrangler logs (tail)\n${berth.logs().slice(-5000)}`);
});

// What every test must leave true, checked after each one (so a failure names the test that caused it, and no
// test depends on others having run): no answer held a stack trace or the S3 secret, nothing reached the bucket.
afterEach(async () => {
  const secret = s3Settings().secretKey;
  const mine = bodies.slice(audited);
  audited = bodies.length;
  for (const b of mine) {
    expect(b, "a stack trace in a response body").not.toMatch(/\n\s+at\s/);
    expect(b, "a source position in a response body").not.toMatch(/\.(ts|js):\d+/);
    expect(b.includes(secret), `the S3 secret in a response body: ${b.slice(0, 200)}`).toBe(false);
  }
  expect(await listKeys(`${ROOT}/`), "keys under this file's root directory").toEqual([]);
});

async function send(method: string, path: string, body?: Uint8Array): Promise<RawResponse> {
  const headers: Record<string, string> = { "Content-Length": String(body?.byteLength ?? 0) };
  const res = await rawRequest(berth.url, { method, path, headers, body });
  if (!res) throw new Error(`${method} ${path}: no response`);
  bodies.push(res.body);
  return res;
}

/** Status, code and the shape of the error body; HEAD answers carry no body. */
async function expectError(method: string, path: string, status: number, code: string, body?: Uint8Array): Promise<void> {
  const res = await send(method, path, body);
  const what = `${method} ${path.slice(0, 120)}`;
  expect(res.status, `${what}: ${res.body.slice(0, 300)}`).toBe(status);
  expect(res.headers["docker-distribution-api-version"], what).toBe("registry/2.0");
  if (method === "HEAD") {
    expect(res.body, what).toBe("");
    return;
  }
  expect(res.headers["content-type"], what).toMatch(/^application\/json/);
  const parsed = JSON.parse(res.body) as { errors: { code: string; message: string }[] };
  expect(Array.isArray(parsed.errors) && parsed.errors.length > 0, what).toBe(true);
  expect(parsed.errors[0]!.code, `${what}: ${res.body.slice(0, 300)}`).toBe(code);
  expect(typeof parsed.errors[0]!.message, what).toBe("string");
  for (const e of parsed.errors) expect(e.code, what).toMatch(/^[A-Z_]+$/);
}

/** One request of every endpoint family that takes a repository name. */
function everyEndpoint(name: string): [string, string, Uint8Array?][] {
  const n = name;
  return [
    ["HEAD", `/v2/${n}/blobs/${EMPTY_DIGEST}`],
    ["GET", `/v2/${n}/blobs/${EMPTY_DIGEST}`],
    ["DELETE", `/v2/${n}/blobs/${EMPTY_DIGEST}`],
    ["POST", `/v2/${n}/blobs/uploads/`],
    ["POST", `/v2/${n}/blobs/uploads/?digest=${EMPTY_DIGEST}`, new Uint8Array(0)],
    ["POST", `/v2/${n}/blobs/uploads/?digest=${digestOf("abc")}`, new TextEncoder().encode("abc")],
    ["POST", `/v2/${n}/blobs/uploads/?mount=${EMPTY_DIGEST}&from=library/ok`],
    ["GET", `/v2/${n}/blobs/uploads/${UUID}`],
    ["PATCH", `/v2/${n}/blobs/uploads/${UUID}`, new TextEncoder().encode("abc")],
    ["PUT", `/v2/${n}/blobs/uploads/${UUID}?digest=${EMPTY_DIGEST}`],
    ["DELETE", `/v2/${n}/blobs/uploads/${UUID}`],
    ["GET", `/v2/${n}/manifests/latest`],
    ["HEAD", `/v2/${n}/manifests/latest`],
    ["PUT", `/v2/${n}/manifests/latest`, new TextEncoder().encode('{"schemaVersion":2}')],
    ["DELETE", `/v2/${n}/manifests/${EMPTY_DIGEST}`],
    ["GET", `/v2/${n}/tags/list`],
    ["GET", `/v2/${n}/referrers/${EMPTY_DIGEST}`],
  ];
}

describe("the base endpoint", () => {
  it("GET /v2/ answers 200 {} with Docker-Distribution-API-Version: registry/2.0", async () => {
    for (const path of ["/v2/", "/v2"]) {
      const res = await send("GET", path);
      expect(res.status).toBe(200);
      expect(res.headers["docker-distribution-api-version"]).toBe("registry/2.0");
      expect(res.headers["content-type"]).toMatch(/^application\/json/);
      expect(JSON.parse(res.body)).toEqual({});
    }
    const head = await send("HEAD", "/v2/");
    expect(head.status).toBe(200);
    expect(head.headers["docker-distribution-api-version"]).toBe("registry/2.0");
  });
});

describe("invalid repository names", () => {
  const invalid: [string, string][] = [
    ["uppercase", "Library/Ubuntu"],
    ["uppercase, last component", "library/Ubuntu"],
    ["empty component", "a//b"],
    ["double dot inside a component", "a..b"],
    ["percent-encoded slash", "a%2Fb"],
    ["256 characters", "a".repeat(256)],
    ["256 characters over components", `${"a".repeat(127)}/${"b".repeat(128)}`],
    ["trailing slash", "a/b/"],
    ["leading slash", "/a"],
    ["leading underscore", "_x"],
    ["underscore component", "a/_layers"],
    ["trailing separator", "a-"],
    ["triple underscore", "a___b"],
    ["unicode", "caf%C3%A9"],
    ["space", "a%20b"],
  ];

  for (const [why, name] of invalid) {
    it(`${why} (${name.length > 40 ? `${name.slice(0, 20)}…` : name}): 400 NAME_INVALID on every endpoint family`, async () => {
      for (const [method, path, body] of everyEndpoint(name)) {
        await expectError(method, path, 400, "NAME_INVALID", body);
      }
    });
  }

  it("255 characters is still a valid name (the limit is inclusive)", async () => {
    const name = `${"a".repeat(127)}/${"b".repeat(127)}`;
    expect(name.length).toBe(255);
    await expectError("GET", `/v2/${name}/blobs/${EMPTY_DIGEST}`, 404, "BLOB_UNKNOWN");
  });

  it("an invalid `from` of a mount answers 400 NAME_INVALID", async () => {
    await expectError("POST", `/v2/ok/blobs/uploads/?mount=${EMPTY_DIGEST}&from=Bad//Name`, 400, "NAME_INVALID");
  });

  it('".." path segments are resolved by URL normalisation before routing: they never escape /v2/<name>', async () => {
    // WHATWG URL parsing (in workerd, as in every HTTP stack) resolves "a/../b" to "b" before the Worker sees the
    // path, so "../" cannot name a repository: the request is served for the resolved path instead.
    // "%2e%2e" is a dot-segment too (WHATWG URL), so it goes the same way.
    const direct = await send("GET", "/v2/zz-other/tags/list");
    expect(direct.status).toBe(404);
    for (const path of ["/v2/zz-dots/../zz-other/tags/list", "/v2/zz-dots/%2e%2e/zz-other/tags/list", "/v2/../v2/zz-other/tags/list"]) {
      const viaDots = await send("GET", path);
      expect(viaDots.status, path).toBe(direct.status);
      expect(viaDots.body, path).toBe(direct.body);
    }
    // Climbing out of /v2/ lands on no endpoint at all.
    await expectError("GET", `/v2/../../blobs/${EMPTY_DIGEST}`, 404, "UNSUPPORTED");
    await expectError("POST", "/v2/../v3/blobs/uploads/", 404, "UNSUPPORTED");
  });
});

describe("invalid digests", () => {
  const hex = EMPTY_DIGEST.slice("sha256:".length);
  const invalid: [string, string][] = [
    ["not hex", "sha256:xyz"],
    ["uppercase hex", `sha256:${hex.toUpperCase()}`],
    ["uppercase algorithm", `SHA256:${hex}`],
    ["unsupported algorithm", "md5:d41d8cd98f00b204e9800998ecf8427e"],
    ["too short", `sha256:${hex.slice(1)}`],
    ["too long", `sha256:${hex}0`],
    ["empty hex", "sha256:"],
    ["no algorithm", hex],
  ];

  for (const [why, digest] of invalid) {
    it(`${why}: 400 DIGEST_INVALID on blobs, manifests by digest, referrers and upload digests`, async () => {
      await expectError("HEAD", `/v2/ok/blobs/${digest}`, 400, "DIGEST_INVALID");
      await expectError("GET", `/v2/ok/blobs/${digest}`, 400, "DIGEST_INVALID");
      await expectError("DELETE", `/v2/ok/blobs/${digest}`, 400, "DIGEST_INVALID");
      await expectError("POST", `/v2/ok/blobs/uploads/?digest=${digest}`, 400, "DIGEST_INVALID", new Uint8Array(0));
      await expectError("PUT", `/v2/ok/blobs/uploads/${UUID}?digest=${digest}`, 400, "DIGEST_INVALID");
      if (digest.includes(":")) {
        // Without ":" the reference is a tag, not a digest.
        await expectError("GET", `/v2/ok/manifests/${digest}`, 400, "DIGEST_INVALID");
        await expectError("GET", `/v2/ok/referrers/${digest}`, 400, "DIGEST_INVALID");
      }
    });
  }

  it("an empty digest: ?digest= on POST and PUT answers 400 DIGEST_INVALID", async () => {
    await expectError("POST", "/v2/ok/blobs/uploads/?digest=", 400, "DIGEST_INVALID", new Uint8Array(0));
    await expectError("PUT", `/v2/ok/blobs/uploads/${UUID}?digest=`, 400, "DIGEST_INVALID");
  });
});

describe("unknown paths and wrong methods", () => {
  it("unknown paths answer 404 with an OCI error body", async () => {
    // "/" and "/favicon.ico" are the web UI's (BERTH_UI, on by default; ui.test.ts checks them with it off).
    for (const path of ["/v1/", "/v3/", "/v2/ok/foo", "/v2/ok/blobs", "/v2/ok/blobs/", "/v2/ok/manifests/", "/nowhere.html", "/v2/ok/tags"]) {
      const res = await send("GET", path);
      expect(res.status, path).toBe(404);
      expect(res.headers["content-type"], path).toMatch(/^application\/json/);
      const body = JSON.parse(res.body) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code, path).toMatch(/^[A-Z_]+$/);
      expect(typeof body.errors[0]?.message, path).toBe("string");
    }
  });

  it("known paths with a method they do not support answer 405 UNSUPPORTED", async () => {
    const cases: [string, string][] = [
      ["PUT", `/v2/ok/blobs/${EMPTY_DIGEST}`],
      ["POST", `/v2/ok/blobs/${EMPTY_DIGEST}`],
      ["PATCH", `/v2/ok/blobs/${EMPTY_DIGEST}`],
      ["POST", "/v2/"],
      ["DELETE", "/v2/"],
      ["PUT", "/v2/ok/blobs/uploads/"],
      ["GET", "/v2/ok/blobs/uploads/"],
      ["POST", `/v2/ok/blobs/uploads/${UUID}`],
      ["POST", "/v2/ok/manifests/latest"],
      ["PATCH", "/v2/ok/manifests/latest"],
      ["DELETE", "/v2/ok/tags/list"],
      ["PUT", "/v2/ok/tags/list"],
      ["POST", "/v2/_catalog"],
      ["DELETE", `/v2/ok/referrers/${EMPTY_DIGEST}`],
    ];
    for (const [method, path] of cases) await expectError(method, path, 405, "UNSUPPORTED");
  });
});
