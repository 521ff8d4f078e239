// The route table itself: the base endpoint, 404 for paths outside the API and 405 for methods an endpoint
// does not take, name and digest validation before any handler runs, access checks before any storage call
// (UNAUTHORIZED with a challenge, DENIED), and faults of the bucket answered as a bare 500 UNKNOWN.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../src/config";
import { errorResponse } from "../../src/http/respond";
import { absentDigest, pattern, sha256 } from "./support/content";
import { openUpload, pushBlob, pushImage } from "./support/flows";
import { expectError, expectStatus, registry, ROOT, TestAccess } from "./support/registry";

const REPO = "team/app";
const D = absentDigest("a");
const UUID = "0b7d3a1e-8f1c-4c2e-9d3a-5e6f7a8b9c0d";

describe("base and unknown paths", () => {
  it("GET and HEAD /v2/ answer 200 {} with the API version header", async () => {
    const r = registry();
    for (const path of ["/v2/", "/v2"]) {
      const res = await expectStatus(await r.call("GET", path), 200);
      expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
      expect(await res.json()).toEqual({});
    }
    await expectStatus(await r.call("HEAD", "/v2/"), 200);
  });

  it.each(["/", "/v1/", "/V2/", "/v2/tags/list", `/v2/${REPO}/unknown`, `/v2/${REPO}/manifests`, `/v2/${REPO}/blobs/`, `/v2/${REPO}/referrers/`, "/v2/_catalog/x", "/v2/_berth/ext/jobs/"])(
    "404 UNSUPPORTED for %s",
    async (path) => {
      const r = registry();
      await expectError(await r.call("GET", path), 404, "UNSUPPORTED");
    },
  );

  it.each([
    ["DELETE", "/v2/"],
    ["OPTIONS", "/v2/"],
    ["POST", "/v2/_catalog"],
    ["POST", `/v2/${REPO}/tags/list`],
    ["DELETE", `/v2/${REPO}/referrers/${D}`],
    ["PATCH", `/v2/${REPO}/manifests/v1`],
    ["POST", `/v2/${REPO}/manifests/v1`],
    ["GET", `/v2/${REPO}/blobs/uploads/`],
    ["PUT", `/v2/${REPO}/blobs/uploads/`],
    ["POST", `/v2/${REPO}/blobs/uploads/${UUID}`],
    ["PUT", `/v2/${REPO}/blobs/${D}`],
    ["POST", `/v2/${REPO}/blobs/${D}`],
    ["DELETE", "/v2/_berth/ext/jobs/storage-stats"],
    ["PUT", `/v2/_berth/ext/blobs/${REPO}/${D}`],
  ])("405 UNSUPPORTED for %s %s, before any storage call", async (method, path) => {
    const r = registry();
    await expectError(await r.call(method, path), 405, "UNSUPPORTED");
    expect(r.driver.requests).toBe(0);
  });
});

describe("validation of names and digests in the path", () => {
  it.each([
    ["uppercase", "Team/app"],
    ["an encoded slash", "team%2Fapp"],
    ["an empty component", "team//app"],
    ["a leading dash", "-team/app"],
    ["a trailing separator", "team/app-"],
    ["a reserved component", "team/_layers"],
    ["a bad separator", "team/a..b"],
    ["unicode", "t%C3%A9am"],
    ["256 characters", "a".repeat(256)],
  ])("NAME_INVALID for %s, on every endpoint", async (_why, name) => {
    const r = registry();
    for (const [method, path] of [
      ["GET", `/v2/${name}/tags/list`],
      ["GET", `/v2/${name}/manifests/v1`],
      ["PUT", `/v2/${name}/manifests/v1`],
      ["HEAD", `/v2/${name}/blobs/${D}`],
      ["POST", `/v2/${name}/blobs/uploads/`],
      ["PATCH", `/v2/${name}/blobs/uploads/${UUID}`],
      ["GET", `/v2/${name}/referrers/${D}`],
    ] as const) {
      await expectError(await r.call(method, path), 400, "NAME_INVALID");
    }
    expect(r.driver.requests).toBe(0);
  });

  it("a name of 255 characters is valid", async () => {
    const r = registry();
    const name = `${"a".repeat(127)}/${"b".repeat(127)}`;
    await expectStatus(await r.call("POST", `/v2/${name}/blobs/uploads/?digest=${sha256("x")}`, { body: "x" }), 201);
  });

  it.each(["sha256:abc", "sha256:" + "A".repeat(64), "md5:" + "a".repeat(32), "nocolon", "sha256:" + "a".repeat(63) + "%2F"])(
    "DIGEST_INVALID for %s as a blob, referrers or manifest digest",
    async (digest) => {
      const r = registry();
      await expectError(await r.call("GET", `/v2/${REPO}/blobs/${digest}`), 400, "DIGEST_INVALID");
      await expectError(await r.call("DELETE", `/v2/${REPO}/blobs/${digest}`), 400, "DIGEST_INVALID");
      await expectError(await r.call("GET", `/v2/${REPO}/referrers/${digest}`), 400, "DIGEST_INVALID");
      if (digest.includes(":")) await expectError(await r.call("GET", `/v2/${REPO}/manifests/${digest}`), 400, "DIGEST_INVALID");
      expect(r.driver.requests).toBe(0);
    },
  );

  it("an encoded colon in a digest is accepted", async () => {
    const r = registry();
    const digest = await pushBlob(r, REPO, pattern(10));
    await expectStatus(await r.call("HEAD", `/v2/${REPO}/blobs/${digest.replace(":", "%3A")}`), 200);
  });
});

describe("access is checked before anything is read or written", () => {
  // Every endpoint with the action it needs. The repository exists (or not): the answer must be the same.
  const endpoints: [string, string, "read" | "create" | "delete"][] = [
    ["GET", `/v2/${REPO}/tags/list`, "read"],
    ["GET", `/v2/${REPO}/manifests/v1`, "read"],
    ["HEAD", `/v2/${REPO}/manifests/v1`, "read"],
    ["PUT", `/v2/${REPO}/manifests/v1`, "create"],
    ["DELETE", `/v2/${REPO}/manifests/v1`, "delete"],
    ["HEAD", `/v2/${REPO}/blobs/${D}`, "read"],
    ["GET", `/v2/${REPO}/blobs/${D}`, "read"],
    ["DELETE", `/v2/${REPO}/blobs/${D}`, "delete"],
    ["POST", `/v2/${REPO}/blobs/uploads/`, "create"],
    ["GET", `/v2/${REPO}/blobs/uploads/${UUID}`, "create"],
    ["PATCH", `/v2/${REPO}/blobs/uploads/${UUID}`, "create"],
    ["PUT", `/v2/${REPO}/blobs/uploads/${UUID}?digest=${D}`, "create"],
    ["DELETE", `/v2/${REPO}/blobs/uploads/${UUID}`, "create"],
    ["GET", `/v2/${REPO}/referrers/${D}`, "read"],
    ["GET", `/v2/_berth/ext/blobs/${REPO}/${D}`, "read"],
  ];

  it.each(endpoints)("%s %s: 403 DENIED without %s, touching nothing", async (method, path, action) => {
    const r = registry();
    await pushImage(r, REPO, "v1");
    const before = r.driver.requests;
    const sessions = r.sessions.objects.size;
    r.events.length = 0;
    r.access.deny(action, { repo: REPO });
    await expectError(await r.call(method, path, method === "PATCH" || method === "PUT" ? { body: "{}" } : {}), 403, "DENIED");
    expect(r.driver.requests).toBe(before);
    expect(r.sessions.objects.size).toBe(sessions);
    expect(r.events).toEqual([]);
  });

  it.each(endpoints)("%s %s: 401 UNAUTHORIZED with the challenge when a login could help", async (method, path, action) => {
    const r = registry();
    r.access.deny(action, { as: "unauthorized" });
    const res = await r.call(method, path);
    await expectError(res, 401, "UNAUTHORIZED");
    expect(res.headers.get("WWW-Authenticate")).toBe(TestAccess.CHALLENGE);
    expect(r.driver.requests).toBe(0);
  });

  it("a refusal for one repository leaves the others alone", async () => {
    const r = registry();
    r.access.deny("create", { repo: "team/locked" });
    await expectError(await r.call("POST", "/v2/team/locked/blobs/uploads/"), 403, "DENIED");
    await expectStatus(await r.call("POST", `/v2/${REPO}/blobs/uploads/`), 202);
  });

  it("the base endpoint's challenge, the catalog's read, the admin API's admin check", async () => {
    const r = registry();
    r.access.deny("base", { as: "unauthorized" }).deny("read", { repo: null }).deny("admin");
    const base = await r.call("GET", "/v2/");
    await expectError(base, 401, "UNAUTHORIZED");
    expect(base.headers.get("WWW-Authenticate")).toBe(TestAccess.CHALLENGE);
    await expectError(await r.call("GET", "/v2/_catalog"), 403, "DENIED");
    await expectError(await r.call("POST", "/v2/_berth/ext/jobs/storage-stats"), 403, "DENIED");
    await expectError(await r.call("GET", "/v2/_berth/ext/jobs/storage-stats"), 403, "DENIED");
    expect(r.jobStorage.values.size).toBe(0);
  });

  it("a refused upload session is not touched: its offset stays", async () => {
    const r = registry();
    const { location } = await openUpload(r, REPO);
    r.access.deny("create", { repo: REPO });
    await expectError(await r.call("PATCH", location, { body: pattern(10) }), 403, "DENIED");
    expect((await r.sessionAt(location).storage.get<{ offset: number }>("state"))?.offset).toBe(0);
  });
});

describe("faults are 500 UNKNOWN, and say nothing of what failed", () => {
  afterEach(() => vi.restoreAllMocks());

  const SECRET = "s3://private-bucket/credentials-AKIA1234";

  it("a failing bucket read", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const r = registry();
    await pushImage(r, REPO, "v1");
    const digest = await pushBlob(r, REPO, pattern(10));
    r.driver.fault = (op) => {
      if (op === "get") throw new Error(SECRET);
    };
    const res = await r.call("GET", `/v2/${REPO}/manifests/v1`);
    const err = await expectError(res, 500, "UNKNOWN");
    expect(err.message).toBe("internal server error");
    expect(JSON.stringify(err)).not.toContain("AKIA");
    expect(logged).toHaveBeenCalled();
    // HEAD answers the same status, without a body.
    r.driver.fault = (op) => {
      if (op === "head") throw new Error(SECRET);
    };
    await expectError(await registry({ driver: r.driver }).call("HEAD", `/v2/${REPO}/blobs/${digest}`), 500, "UNKNOWN");
  });

  it("a failing write in the upload session: UNKNOWN from the session, nothing recorded", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const r = registry();
    const { location } = await openUpload(r, REPO);
    await expectStatus(await r.call("PATCH", location, { body: pattern(100) }), 202);
    r.driver.fault = (op) => {
      if (op === "put") throw new Error(SECRET);
    };
    const err = await expectError(await r.call("PUT", `${location}?digest=${sha256(pattern(100))}`), 500, "UNKNOWN");
    expect(err.message).toBe("internal error while storing the upload");
    expect(JSON.stringify(err)).not.toContain("AKIA");
    expect(r.events).toEqual([]);
  });

  it("a configuration error names the setting only, never its value or the reason", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = errorResponse(new ConfigError("REGISTRY_STORAGE_S3_REGIONENDPOINT", `${SECRET} is not a URL`), "GET");
    const err = await expectError(res, 500, "UNKNOWN");
    expect(err.message).toContain("REGISTRY_STORAGE_S3_REGIONENDPOINT");
    expect(err.message).not.toContain("AKIA");
  });

  it("a corrupt tag link", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const r = registry();
    await pushImage(r, REPO, "v1");
    r.driver.seed(`${ROOT}/docker/registry/v2/repositories/${REPO}/_manifests/tags/v1/current/link`, "garbage");
    expect((await expectError(await r.call("GET", `/v2/${REPO}/manifests/v1`), 500, "UNKNOWN")).message).toBe("internal server error");
  });
});
