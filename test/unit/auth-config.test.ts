// Unit tests of src/config/auth.ts: modes (unset is the default and is not open), required settings per mode,
// defaults, durations, and that errors name the setting without echoing a secret.
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, type Env } from "../../src/config";
import { parseAuthConfig } from "../../src/config/auth";
import { ecKeyPem, fixture, htpasswd } from "./auth-helpers";

let KEY = "";
const HT = htpasswd({ alice: "wonderland" });
beforeAll(async () => {
  KEY = await ecKeyPem();
});

function fails(env: Env, setting: string, why: RegExp): ConfigError {
  let err: unknown;
  try {
    parseAuthConfig(env);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const e = err as ConfigError;
  expect(e.setting).toBe(setting);
  expect(e.message).toMatch(why);
  expect(e.message).not.toContain(KEY.split("\n")[1]!.slice(0, 24));
  expect(e.message).not.toContain(HT.split(":")[1]!.slice(8));
  return e;
}

describe("parseAuthConfig", () => {
  it("is 'unset' when REGISTRY_AUTH is absent, with the defaults", () => {
    const c = parseAuthConfig({});
    expect(c.mode).toBe("unset");
    expect(c.failDelayMs).toBe(1000);
    expect(c.htpasswdRealm).toBe("Berth Registry");
    expect(c.token).toBeNull();
    expect(c.access).toBeNull();
  });

  it("refuses auth settings without REGISTRY_AUTH, and unknown modes", () => {
    fails({ REGISTRY_AUTH_HTPASSWD: HT }, "REGISTRY_AUTH", /is not set, but REGISTRY_AUTH_HTPASSWD is/);
    fails({ BERTH_AUTH_TOKEN_KEY: KEY }, "REGISTRY_AUTH", /BERTH_AUTH_TOKEN_KEY/);
    fails({ REGISTRY_AUTH: "silly" }, "REGISTRY_AUTH", /one of none, htpasswd, token/);
  });

  it("none: accepted only when chosen; case-insensitive", () => {
    expect(parseAuthConfig({ REGISTRY_AUTH: "None" }).mode).toBe("none");
  });

  it("htpasswd: needs users; reads realm and fail delay", () => {
    fails({ REGISTRY_AUTH: "htpasswd" }, "REGISTRY_AUTH_HTPASSWD", /is required/);
    fails({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: "alice:{SHA}abc" }, "REGISTRY_AUTH_HTPASSWD", /line 1/);
    const c = parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, REGISTRY_AUTH_HTPASSWD_REALM: "Team", BERTH_AUTH_FAIL_DELAY: "250ms" });
    expect([c.mode, c.htpasswdRealm, c.failDelayMs, [...c.users.keys()]]).toEqual(["htpasswd", "Team", 250, ["alice"]]);
    expect(parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, BERTH_AUTH_FAIL_DELAY: "5" }).failDelayMs).toBe(5000);
    expect(parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, BERTH_AUTH_FAIL_DELAY: "0" }).failDelayMs).toBe(0);
    fails({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, BERTH_AUTH_FAIL_DELAY: "2m" }, "BERTH_AUTH_FAIL_DELAY", /between 0s and 60s/);
    fails({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, REGISTRY_AUTH_HTPASSWD_REALM: 'a"b' }, "REGISTRY_AUTH_HTPASSWD_REALM", /quotes/);
  });

  it("token with Berth's own key: defaults for realm, service, issuer, lifetimes", () => {
    const c = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_HTPASSWD: HT });
    expect(c.token).toMatchObject({ realm: null, service: null, ownIssuer: "berth", ttlSeconds: 300, refreshTtlSeconds: 30 * 86400, external: null });
    expect(c.token!.signingKey!.alg).toBe("ES256");
    const d = parseAuthConfig({
      REGISTRY_AUTH: "token",
      BERTH_AUTH_TOKEN_KEY: KEY,
      REGISTRY_AUTH_TOKEN_ISSUER: "reg.example",
      REGISTRY_AUTH_TOKEN_SERVICE: "reg.example",
      REGISTRY_AUTH_TOKEN_REALM: "https://reg.example/token",
      BERTH_AUTH_TOKEN_TTL: "15m",
    });
    expect(d.token).toMatchObject({ ownIssuer: "reg.example", service: "reg.example", realm: "https://reg.example/token", ttlSeconds: 900 });
    fails({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, BERTH_AUTH_TOKEN_TTL: "30s" }, "BERTH_AUTH_TOKEN_TTL", /between 60s and 24h/);
    fails({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, BERTH_AUTH_TOKEN_TTL: "90.5s" }, "BERTH_AUTH_TOKEN_TTL", /whole number of seconds/);
    fails({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_TOKEN_REALM: "/token" }, "REGISTRY_AUTH_TOKEN_REALM", /absolute/);
    fails({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: KEY, REGISTRY_AUTH_TOKEN_SERVICE: 'a"b' }, "REGISTRY_AUTH_TOKEN_SERVICE", /quotes/);
  });

  it("token: needs a key from somewhere; an external issuer needs issuer, service and (alone) realm", () => {
    fails({ REGISTRY_AUTH: "token" }, "BERTH_AUTH_TOKEN_KEY", /needs Berth's signing key/);
    fails({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" }, "BERTH_AUTH_TOKEN_KEY", /unusable key/);
    const bundle = fixture("issuer-ec.crt");
    fails({ REGISTRY_AUTH: "token", REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: bundle }, "REGISTRY_AUTH_TOKEN_ISSUER", /required/);
    fails({ REGISTRY_AUTH: "token", REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: bundle, REGISTRY_AUTH_TOKEN_ISSUER: "idp" }, "REGISTRY_AUTH_TOKEN_SERVICE", /required/);
    const ext = { REGISTRY_AUTH: "token", REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: bundle, REGISTRY_AUTH_TOKEN_ISSUER: "idp", REGISTRY_AUTH_TOKEN_SERVICE: "reg" };
    fails(ext, "REGISTRY_AUTH_TOKEN_REALM", /required when Berth does not issue/);
    fails({ ...ext, REGISTRY_AUTH_TOKEN_REALM: "https://idp/token", REGISTRY_AUTH_HTPASSWD: HT }, "REGISTRY_AUTH_HTPASSWD", /needs BERTH_AUTH_TOKEN_KEY/);
    const c = parseAuthConfig({ ...ext, REGISTRY_AUTH_TOKEN_REALM: "https://idp/token" });
    expect(c.token!.external!.issuer).toBe("idp");
    expect(c.token!.signingKey).toBeNull();
    // Both: Berth's tokens get their own issuer name.
    const both = parseAuthConfig({ ...ext, BERTH_AUTH_TOKEN_KEY: KEY });
    expect(both.token!.ownIssuer).toBe("berth");
    fails({ ...ext, BERTH_AUTH_TOKEN_KEY: KEY, BERTH_AUTH_TOKEN_ISSUER: "idp" }, "BERTH_AUTH_TOKEN_ISSUER", /must differ/);
  });

  it("reads REGISTRY_ACCESSCONTROL and reports its errors under that name", () => {
    const c = parseAuthConfig({ REGISTRY_AUTH: "none", REGISTRY_ACCESSCONTROL: '{"repositories":{"**":{"anonymousPolicy":["read"]}}}' });
    expect(c.access!.allowed(null, [], "x", "read")).toBe(true);
    fails({ REGISTRY_AUTH: "none", REGISTRY_ACCESSCONTROL: "{nope" }, "REGISTRY_ACCESSCONTROL", /not valid JSON/);
  });

  it("reports a non-string setting by type only", () => {
    fails({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: { secret: HT } }, "REGISTRY_AUTH_HTPASSWD", /must be a string, got object/);
  });
});
