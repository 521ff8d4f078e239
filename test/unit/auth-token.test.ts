// Unit tests of src/http/auth/token-endpoint.ts: Berth's token server — GET with Basic or anonymous, the OAuth2
// POST form (password and refresh_token grants), the granted scope narrowed to the policy and to what was
// asked, refresh tokens bound to the user's htpasswd entry, failed logins answered 401 after the fail delay
// (recorded, not waited for), and no secret ever in an error body.
import { beforeAll, describe, expect, it, vi } from "vitest";
import { parseAuthConfig, type AuthConfig } from "../../src/config/auth";
import { handleTokenRequest } from "../../src/http/auth/token-endpoint";
import { basic, decodeClaims, ecKeyPem, htpasswd, recordingSleep, rsaKeyPem } from "./auth-helpers";

const NOW = 1_700_000_000_000;
const ORIGIN = "https://reg.example";
const ACCESS = {
  groups: { devs: { users: ["dave"] } },
  repositories: {
    "**": { defaultPolicy: ["read"] },
    "public/**": { anonymousPolicy: ["read"], defaultPolicy: ["read"] },
    "team/*": { policies: [{ groups: ["devs"], actions: ["read", "create", "update", "delete"] }, { users: ["mallory"], actions: ["read", "create"] }] },
    "secret/*": { policies: [{ users: ["dave"], actions: ["read"] }] },
  },
};

let cfg: AuthConfig;
let KEY: string;
const HT = htpasswd({ dave: "dave-pw", mallory: "mallory-pw" });

beforeAll(async () => {
  KEY = await ecKeyPem();
  cfg = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_HTPASSWD: HT, REGISTRY_ACCESSCONTROL: JSON.stringify(ACCESS) });
});

function get(query: string, auth?: string): Request {
  return new Request(`${ORIGIN}/token?${query}`, { headers: auth ? { Authorization: auth } : {} });
}

function post(form: Record<string, string>, contentType = "application/x-www-form-urlencoded"): Request {
  return new Request(`${ORIGIN}/token`, { method: "POST", headers: { "Content-Type": contentType }, body: new URLSearchParams(form).toString() });
}

async function ok(res: Response): Promise<Record<string, unknown>> {
  expect(res.status).toBe(200);
  expect(res.headers.get("Cache-Control")).toBe("no-store");
  return (await res.json()) as Record<string, unknown>;
}

async function errorOf(res: Response): Promise<{ code: string; message: string; text: string }> {
  const text = await res.text();
  const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
  return { ...body.errors[0]!, text };
}

describe("GET /token", () => {
  it("gives anonymous callers only what the anonymousPolicy allows", async () => {
    const body = await ok(await handleTokenRequest(get("service=reg.example&scope=repository:public/alpine:pull,push&scope=repository:team/app:pull"), cfg, NOW));
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBe(300);
    expect(body.issued_at).toBe("2023-11-14T22:13:20Z");
    expect(body.refresh_token).toBeUndefined();
    const c = decodeClaims(body.token as string);
    expect(c).toMatchObject({ iss: "berth", sub: "", aud: "reg.example", iat: NOW / 1000, nbf: NOW / 1000, exp: NOW / 1000 + 300 });
    expect(typeof c.jti).toBe("string");
    expect(c.access).toEqual([{ type: "repository", name: "public/alpine", actions: ["pull"] }]);
  });

  it("grants a user the intersection of asked and allowed, never more than asked", async () => {
    const q = "scope=repository:team/app:pull,push&scope=repository:secret/x:pull,push,delete&scope=repository:other/y:pull&scope=registry:catalog:*";
    const body = await ok(await handleTokenRequest(get(q, basic("dave", "dave-pw")), cfg, NOW));
    expect(decodeClaims(body.token as string)).toMatchObject({
      sub: "dave",
      access: [
        { type: "repository", name: "team/app", actions: ["pull", "push"] },
        { type: "repository", name: "secret/x", actions: ["pull"] },
        { type: "repository", name: "other/y", actions: ["pull"] },
        { type: "registry", name: "catalog", actions: ["*"] },
      ],
    });
    const pullOnly = await ok(await handleTokenRequest(get("scope=repository:team/app:pull", basic("dave", "dave-pw")), cfg, NOW));
    expect(decodeClaims(pullOnly.token as string).access).toEqual([{ type: "repository", name: "team/app", actions: ["pull"] }]);
    // push is granted on create alone; the registry then checks create vs update per request.
    const m = await ok(await handleTokenRequest(get("scope=repository:team/app:*", basic("mallory", "mallory-pw")), cfg, NOW));
    expect(decodeClaims(m.token as string).access).toEqual([{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
  });

  it("answers a token with no access when nothing is granted (not an error), and none for the catalog to anonymous", async () => {
    const body = await ok(await handleTokenRequest(get("scope=repository:secret/x:pull&scope=registry:catalog:*"), cfg, NOW));
    expect(decodeClaims(body.token as string).access).toEqual([{ type: "registry", name: "catalog", actions: ["*"] }]);
    const cfg2 = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_HTPASSWD: HT });
    const none = await ok(await handleTokenRequest(get("scope=repository:a:pull&scope=registry:catalog:*"), cfg2, NOW));
    expect(decodeClaims(none.token as string).access).toEqual([]);
  });

  it("returns a refresh token for offline_token=true, to authenticated users only", async () => {
    const body = await ok(await handleTokenRequest(get("offline_token=true&client_id=docker", basic("dave", "dave-pw")), cfg, NOW));
    expect(typeof body.refresh_token).toBe("string");
    expect(decodeClaims(body.refresh_token as string)).toMatchObject({ sub: "dave", aud: "refresh:reg.example", berth_use: "refresh" });
    expect((await ok(await handleTokenRequest(get("offline_token=true"), cfg, NOW))).refresh_token).toBeUndefined();
  });

  it("answers wrong credentials with 401 UNAUTHORIZED after the fail delay, revealing nothing", async () => {
    for (const auth of [basic("dave", "wrong-password-123"), basic("nobody", "wrong-password-123"), "Basic !!!", "Bearer abc"]) {
      const { sleep, calls } = recordingSleep();
      const res = await handleTokenRequest(get("scope=repository:team/app:pull", auth), cfg, NOW, { sleep });
      expect(res.status).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toBe('Basic realm="Berth Registry"');
      const err = await errorOf(res);
      expect(err.code).toBe("UNAUTHORIZED");
      expect(err.text).not.toContain("wrong-password-123");
      expect(err.text).not.toContain("nobody");
      expect(calls).toEqual([1000]);
    }
  });

  it("refuses another service, a bad scope, other methods, and serves nothing outside token mode", async () => {
    const other = await handleTokenRequest(get("service=other.example"), cfg, NOW);
    expect(other.status).toBe(400);
    const bad = await handleTokenRequest(get("scope=repository:Bad/Name:pull"), cfg, NOW);
    expect([bad.status, (await errorOf(bad)).code]).toEqual([400, "NAME_INVALID"]);
    const put = await handleTokenRequest(new Request(`${ORIGIN}/token`, { method: "PUT" }), cfg, NOW);
    expect(put.status).toBe(405);
    const ht = parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT });
    expect((await handleTokenRequest(get(""), ht, NOW)).status).toBe(404);
  });
});

describe("configuration faults", () => {
  it("uses the configured fail delay", async () => {
    const slow = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_HTPASSWD: HT, BERTH_AUTH_FAIL_DELAY: "2500ms" });
    const { sleep, calls } = recordingSleep();
    expect((await handleTokenRequest(get("", basic("dave", "nope")), slow, NOW, { sleep })).status).toBe(401);
    expect(calls).toEqual([2500]);
  });

  it("an unusable signing key is a 500 naming the setting, never showing the key; the log says why", async () => {
    const weak = await rsaKeyPem(1024);
    const c = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: weak });
    const log = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const res = await handleTokenRequest(get(""), c, NOW);
    const text = await res.text();
    const logged = log.mock.calls.flat().join(" ");
    log.mockRestore();
    expect(logged).not.toContain(weak.split("\n")[1]!.slice(0, 24));
    // The reason goes to the operator's log (a configuration error's answer names only the setting).
    expect(logged).toContain("BERTH_AUTH_TOKEN_KEY");
    expect(logged).toContain("2048");
    expect(res.status).toBe(500);
    expect(text).toContain("BERTH_AUTH_TOKEN_KEY");
    expect(text).not.toContain(weak.split("\n")[1]!.slice(0, 24));
  });
});

describe("POST /token (OAuth2)", () => {
  it("password grant: token, scope, and a refresh token with access_type=offline", async () => {
    const body = await ok(
      await handleTokenRequest(
        post({ grant_type: "password", username: "dave", password: "dave-pw", service: "reg.example", client_id: "docker", access_type: "offline", scope: "repository:team/app:pull,push repository:secret/x:push" }),
        cfg,
        NOW,
      ),
    );
    expect(body.scope).toBe("repository:team/app:pull,push");
    expect(typeof body.refresh_token).toBe("string");
    const online = await ok(await handleTokenRequest(post({ grant_type: "password", username: "dave", password: "dave-pw" }), cfg, NOW));
    expect(online.refresh_token).toBeUndefined();
    expect(online.scope).toBe("");
  });

  it("refresh_token grant: new access token for the same user, same refresh token back", async () => {
    const first = await ok(await handleTokenRequest(post({ grant_type: "password", username: "dave", password: "dave-pw", access_type: "offline" }), cfg, NOW));
    const refresh = first.refresh_token as string;
    const later = NOW + 3 * 86400_000;
    const body = await ok(await handleTokenRequest(post({ grant_type: "refresh_token", refresh_token: refresh, scope: "repository:team/app:push", service: "reg.example" }), cfg, later));
    expect(body.refresh_token).toBe(refresh);
    expect(decodeClaims(body.token as string)).toMatchObject({ sub: "dave", iat: later / 1000, access: [{ type: "repository", name: "team/app", actions: ["push"] }] });
    // Expired after BERTH_AUTH_REFRESH_TTL (30 days by default).
    const { sleep, calls } = recordingSleep();
    const expired = await handleTokenRequest(post({ grant_type: "refresh_token", refresh_token: refresh }), cfg, NOW + 31 * 86400_000, { sleep });
    expect([expired.status, calls]).toEqual([401, [1000]]);
  });

  it("a refresh token dies with a password change or a removed user, and access tokens are no refresh tokens", async () => {
    const first = await ok(await handleTokenRequest(post({ grant_type: "password", username: "dave", password: "dave-pw", access_type: "offline" }), cfg, NOW));
    const changed = parseAuthConfig({
      REGISTRY_AUTH: "token",
      BERTH_AUTH_TOKEN_KEY: KEY,
      REGISTRY_AUTH_HTPASSWD: htpasswd({ dave: "new-pw", mallory: "mallory-pw" }),
    });
    const noSleep = { sleep: async () => undefined };
    expect((await handleTokenRequest(post({ grant_type: "refresh_token", refresh_token: first.refresh_token as string }), changed, NOW, noSleep)).status).toBe(401);
    const removed = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_HTPASSWD: htpasswd({ mallory: "m" }) });
    expect((await handleTokenRequest(post({ grant_type: "refresh_token", refresh_token: first.refresh_token as string }), removed, NOW, noSleep)).status).toBe(401);
    expect((await handleTokenRequest(post({ grant_type: "refresh_token", refresh_token: first.token as string }), cfg, NOW, noSleep)).status).toBe(401);
    expect((await handleTokenRequest(post({ grant_type: "refresh_token", refresh_token: "garbage" }), cfg, NOW, noSleep)).status).toBe(401);
  });

  it("wrong password: 401 after the delay, password not echoed", async () => {
    const { sleep, calls } = recordingSleep();
    const res = await handleTokenRequest(post({ grant_type: "password", username: "dave", password: "hunter2-hunter2" }), cfg, NOW, { sleep });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain("hunter2");
    expect(calls).toEqual([1000]);
  });

  it("refuses other grant types and content types with 400", async () => {
    expect((await handleTokenRequest(post({ grant_type: "authorization_code", code: "x" }), cfg, NOW)).status).toBe(400);
    expect((await handleTokenRequest(post({ grant_type: "password" }, "application/json"), cfg, NOW)).status).toBe(400);
    const big = new Request(`${ORIGIN}/token`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "a=" + "x".repeat(70_000) });
    expect((await handleTokenRequest(big, cfg, NOW)).status).toBe(413);
  });
});
