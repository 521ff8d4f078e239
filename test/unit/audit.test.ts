// The audit log: which requests get a line (writes, failed or refused write attempts, admin actions, failed
// logins, denials) and which do not (pulls, the anonymous challenge, PATCHes), the fields of each line, and
// that no line carries a credential or a query string; and the route label read from a path.
import { describe, expect, it } from "vitest";
import { auditRecord, type AuditRecord } from "../../src/http/audit";
import { routeOf, type RequestOutcome } from "../../src/http/outcome";
import { imageManifest, descriptor, pattern, sha256 } from "./support/content";
import { openUpload, patch, pushBlob, pushImage } from "./support/flows";
import { expectStatus, registry } from "./support/registry";

const lines = (texts: string[]): AuditRecord[] => texts.map((t) => JSON.parse(t) as AuditRecord);

/** An outcome as the Worker entry builds it (src/index.ts), for requests the TestRegistry cannot make (logins). */
function outcome(method: string, path: string, over: Partial<RequestOutcome>): RequestOutcome {
  const url = new URL(path, "https://registry.example.com");
  return {
    id: "ray-1",
    startedAt: Date.UTC(2026, 11, 2, 12),
    durationMs: 5,
    method,
    url,
    route: routeOf(url.pathname, "/token"),
    status: 200,
    error: null,
    caller: null,
    clientAddress: "203.0.113.7",
    userAgent: "docker/27",
    credentialsPresented: false,
    authenticationFailed: false,
    written: [],
    pulled: [],
    ...over,
  };
}

describe("audit log", () => {
  it("a manifest push by tag gives one line with the actor, repository, tag and digest", async () => {
    const r = registry();
    r.ctx.request.caller = { user: "alice", groups: [], anonymous: false };
    r.ctx.request.clientAddress = "198.51.100.4";
    const img = await pushImage(r, "team/app", "v1");
    const seen = lines(r.audit);
    // Two blob uploads (monolithic POSTs) and the manifest.
    expect(seen.map((l) => [l.action, l.method, l.outcome])).toEqual([
      ["push", "POST", "success"],
      ["push", "POST", "success"],
      ["push", "PUT", "success"],
    ]);
    expect(seen[2]).toEqual({
      audit: "berth",
      time: "2026-12-02T12:00:00.000Z",
      requestId: "test-request",
      action: "push",
      outcome: "success",
      status: 201,
      actor: "alice",
      clientAddress: "198.51.100.4",
      userAgent: null,
      method: "PUT",
      path: "/v2/team/app/manifests/v1",
      repository: "team/app",
      reference: "v1",
      digest: img.manifest.digest,
      tags: ["v1"],
      error: null,
    });
    expect(seen[0]!.digest).toBe(sha256(img.config));
  });

  it("a push the access policy denies gives one line, with the caller, the repository and DENIED", async () => {
    const r = registry();
    r.ctx.request.caller = { user: "bob", groups: [], anonymous: false };
    r.access.deny("create", { repo: "team/app" });
    const m = imageManifest({ config: descriptor(pattern(10), "application/vnd.oci.image.config.v1+json"), layers: [] });
    const res = await r.call("PUT", "/v2/team/app/manifests/v2", { body: m.bytes, headers: { "Content-Type": m.mediaType } });
    expect(res.status).toBe(403);
    expect(lines(r.audit)).toEqual([
      expect.objectContaining({ action: "push", outcome: "denied", status: 403, actor: "bob", repository: "team/app", reference: "v2", digest: null, error: "DENIED" }),
    ]);
  });

  it("a denied read is a line too; pulls, HEADs, PATCHes, opening and cancelling a session are not", async () => {
    const r = registry();
    await pushImage(r, "team/app", "v1");
    r.audit.length = 0;
    const up = await openUpload(r, "team/app");
    await expectStatus(await patch(r, up.location, { body: pattern(10) }), 202);
    await expectStatus(await r.call("DELETE", up.location), 204); // cancelling a session changes nothing held
    await expectStatus(await r.call("GET", "/v2/team/app/manifests/v1"), 200);
    await expectStatus(await r.call("HEAD", "/v2/team/app/manifests/v1"), 200);
    expect(r.audit).toEqual([]);
    r.access.deny("read", { repo: "secret/app" });
    await r.call("GET", "/v2/secret/app/tags/list");
    expect(lines(r.audit)).toEqual([expect.objectContaining({ action: "denied", outcome: "denied", status: 403, repository: "secret/app", method: "GET" })]);
  });

  it("deletes and mounts name what they removed or linked; an upload's PUT names its ?digest= and nothing else of the query", async () => {
    const r = registry();
    const digest = await pushBlob(r, "team/app", pattern(50));
    await expectStatus(await r.call("POST", `/v2/team/other/blobs/uploads/?mount=${digest}&from=team/app`), 201);
    await expectStatus(await r.call("DELETE", `/v2/team/app/blobs/${digest}`), 202);
    const up = await openUpload(r, "team/app");
    const bad = await r.call("PUT", `${up.location}?digest=${sha256("other")}&_state=opaque-session-state`, { body: pattern(5) });
    expect(bad.status).toBe(400);
    const [, mount, del, failed] = lines(r.audit);
    expect(mount).toMatchObject({ action: "mount", repository: "team/other", digest });
    expect(del).toMatchObject({ action: "delete", repository: "team/app", reference: digest, digest });
    expect(failed).toMatchObject({ action: "push", outcome: "failure", error: "DIGEST_INVALID", digest: sha256("other") });
    expect(r.audit.join("\n")).not.toContain("opaque-session-state");
  });

  it("a failed login gives one auth-failure line without the actor, the header or the password", () => {
    const failed = auditRecord(outcome("GET", "/v2/", { status: 401, error: "UNAUTHORIZED", credentialsPresented: true, authenticationFailed: true }));
    expect(failed).toEqual(expect.objectContaining({ action: "auth-failure", outcome: "unauthorized", status: 401, actor: null, clientAddress: "203.0.113.7", path: "/v2/" }));
    // The token endpoint: its query (and POST body) carry passwords and refresh tokens; only the path is kept.
    const token = auditRecord(outcome("GET", "/token?account=alice&password=hunter2&refresh_token=rt-secret&scope=x", { status: 401 }));
    expect(token).toMatchObject({ action: "auth-failure", path: "/token" });
    const text = JSON.stringify(token);
    for (const secret of ["hunter2", "rt-secret", "alice", "password"]) expect(text).not.toContain(secret);
  });

  it("the anonymous challenge is not a failed login, and a refused admin action is audited", () => {
    expect(auditRecord(outcome("GET", "/v2/", { status: 401, error: "UNAUTHORIZED" }))).toBeNull();
    expect(auditRecord(outcome("GET", "/v2/team/app/manifests/v1", { status: 200 }))).toBeNull();
    const admin = auditRecord(outcome("POST", "/v2/_berth/ext/gc", { status: 403, error: "DENIED", caller: { user: "bob", groups: [], anonymous: false } }));
    expect(admin).toMatchObject({ action: "admin", outcome: "denied", actor: "bob" });
    const wrongScrape = auditRecord(outcome("GET", "/metrics", { status: 401, credentialsPresented: true }));
    expect(wrongScrape).toMatchObject({ action: "auth-failure", path: "/metrics" });
  });
});

describe("routeOf: the route label and the names in a path", () => {
  it("follows the router's patterns and order", () => {
    const cases: [string, string, string | null, string | null][] = [
      ["/v2/", "base", null, null],
      ["/v2", "base", null, null],
      ["/v2/_catalog", "catalog", null, null],
      ["/v2/a/b/tags/list", "tags", "a/b", null],
      ["/v2/a/referrers/sha256:ab", "referrers", "a", "sha256:ab"],
      ["/v2/a/b/manifests/v1", "manifest", "a/b", "v1"],
      ["/v2/a/blobs/uploads/", "upload", "a", null],
      ["/v2/a/blobs/uploads/0f0e-uuid", "upload", "a", "0f0e-uuid"],
      ["/v2/a/blobs/sha256:ab", "blob", "a", "sha256:ab"],
      ["/v2/blobs/blobs/uploads/x", "upload", "blobs", "x"],
      ["/v2/_berth/ext/gc", "admin", null, null],
      ["/v2/_berth/ext/events/stats", "admin", null, null],
      ["/v2/_berth/ext/blobs/a/b/sha256:ab", "ui_blob", "a/b", "sha256:ab"],
      ["/token", "token", null, null],
      ["/metrics", "metrics", null, null],
      ["/health", "health", null, null],
      ["/favicon.ico", "other", null, null],
    ];
    for (const [path, route, repository, reference] of cases) expect(routeOf(path, "/token"), path).toEqual({ route, repository, reference });
    expect(routeOf("/token", null).route).toBe("other");
  });
});
