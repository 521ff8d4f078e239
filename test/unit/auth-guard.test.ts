// Unit tests of src/http/auth (the access controller the router calls, one per mode): the security matrix per
// mode, each case asserting the exact status, error code and challenge — no credentials, wrong password, unknown
// user, a token for another repository or action, expired, tampered, alg none, wrong audience or issuer, an
// untrusted key, an external issuer's tokens, catalog filtering, the unset and none modes — and no secret in an
// error body.
import type { webcrypto } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccessController, parseAuthConfig, type AccessController, type Identity } from "../../src/http/auth/index";
import type { Action } from "../../src/config/access";
import type { AuthConfig } from "../../src/config/auth";
import { errorResponse } from "../../src/http/respond";
import { OciError } from "../../src/oci/errors";
import { basic, decodeClaims, ecKeyPem, fixture, htpasswd, importPrivate, rawJwt, recordingSleep } from "./auth-helpers";

const NOW = 1_700_000_000_000;
const URL_ = new URL("https://reg.example/v2/");
const ACCESS = JSON.stringify({
  repositories: {
    "**": { defaultPolicy: ["read"] },
    "public/**": { anonymousPolicy: ["read"], defaultPolicy: ["read"] },
    "team/*": { policies: [{ users: ["dave"], actions: ["read", "create", "update", "delete"] }, { users: ["mallory"], actions: ["read", "create"] }] },
    "secret/*": { policies: [{ users: ["dave"], actions: ["read"] }] },
  },
});
const HT = htpasswd({ dave: "dave-pw", mallory: "mallory-pw" });
const req = (auth?: string) => new Request(URL_, { headers: auth ? { Authorization: auth } : {} });

async function refusal(f: () => unknown): Promise<{ status: number; code: string; challenge: string | null; body: string }> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OciError);
  const res = errorResponse(err, "GET");
  return { status: res.status, code: (err as OciError).code, challenge: res.headers.get("WWW-Authenticate"), body: await res.text() };
}

describe("htpasswd mode", () => {
  let auth: AccessController;
  let calls: number[];
  beforeAll(() => {
    const s = recordingSleep();
    calls = s.calls;
    auth = createAccessController(parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, REGISTRY_ACCESSCONTROL: ACCESS }), { sleep: s.sleep, now: () => NOW });
  });

  it("no credentials: /v2/ and private repositories answer 401 with the Basic challenge; public reads pass", async () => {
    const anon = await auth.authenticate(req(), URL_);
    expect(anon).toEqual({ user: null, groups: [], grants: null, via: "anonymous" });
    for (const f of [() => auth.requireBase(anon, URL_), () => auth.require(anon, "team/app", "read", URL_), () => auth.require(anon, "public/x", "create", URL_)]) {
      const r = await refusal(f);
      expect([r.status, r.code, r.challenge]).toEqual([401, "UNAUTHORIZED", 'Basic realm="Berth Registry"']);
    }
    expect(() => auth.require(anon, "public/x", "read", URL_)).not.toThrow();
    expect(() => auth.require(anon, null, "read", URL_)).not.toThrow();
    expect(auth.canRead(anon, "public/x")).toBe(true);
    expect(auth.canRead(anon, "team/app")).toBe(false);
    expect(auth.tokenPath).toBeNull();
  });

  it("wrong password and unknown user: 401 after the fail delay, nothing echoed", async () => {
    for (const h of [basic("dave", "not-the-password"), basic("eve", "not-the-password"), "Bearer x.y.z"]) {
      calls.length = 0;
      const r = await refusal(() => auth.authenticate(req(h), URL_));
      expect([r.status, r.code, r.challenge]).toEqual([401, "UNAUTHORIZED", 'Basic realm="Berth Registry"']);
      expect(r.body).not.toContain("not-the-password");
      expect(calls).toEqual([1000]);
    }
  });

  it("`Basic Og==` (containers/image's empty credentials) is anonymous; a user with an empty password is a failed login", async () => {
    calls.length = 0;
    expect(await auth.authenticate(req(basic("", "")), URL_)).toEqual({ user: null, groups: [], grants: null, via: "anonymous" });
    expect(calls).toEqual([]);
    const r = await refusal(() => auth.authenticate(req(basic("dave", "")), URL_));
    expect([r.status, r.code]).toEqual([401, "UNAUTHORIZED"]);
    expect(calls).toEqual([1000]);
  });

  it("authenticated: allowed where the policy says, 403 DENIED elsewhere", async () => {
    const mallory = await auth.authenticate(req(basic("mallory", "mallory-pw")), URL_);
    expect(mallory).toMatchObject({ user: "mallory", grants: null, via: "basic" });
    auth.requireBase(mallory, URL_);
    auth.require(mallory, "team/app", "create", URL_);
    const r = await refusal(() => auth.require(mallory, "team/app", "update", URL_));
    expect([r.status, r.code, r.challenge]).toEqual([403, "DENIED", null]);
    expect(auth.may(mallory, "secret/x", "read")).toBe(false);
    expect(auth.canRead(mallory, "secret/x")).toBe(false);
    expect(auth.canRead(mallory, "other/y")).toBe(true);
  });
});

describe("token mode, Berth's own tokens", () => {
  let cfg: AuthConfig;
  let auth: AccessController;
  let clock = NOW;
  const tokenFor = async (query: string, creds?: string): Promise<string> => {
    const res = await auth.handleToken(new Request(`https://reg.example/token?${query}`, { headers: creds ? { Authorization: creds } : {} }));
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  };
  const bearer = (t: string) => auth.authenticate(req(`Bearer ${t}`), URL_);
  const challenge = (scope?: string, error?: string) =>
    `Bearer realm="https://reg.example/token",service="reg.example"${scope ? `,scope="${scope}"` : ""}${error ? `,error="${error}"` : ""}`;

  beforeAll(async () => {
    cfg = parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: await ecKeyPem(), REGISTRY_AUTH_HTPASSWD: HT, REGISTRY_ACCESSCONTROL: ACCESS });
    auth = createAccessController(cfg, { sleep: async () => undefined, now: () => clock });
  });

  it("without a token: 401 with the Bearer challenge and the scope needed; Basic is not taken on /v2/", async () => {
    expect(auth.tokenPath).toBe("/token");
    const anon = await auth.authenticate(req(), URL_);
    expect((await refusal(() => auth.requireBase(anon, URL_))).challenge).toBe(challenge());
    const cases: [string | null, Action, string][] = [
      ["team/app", "create", "repository:team/app:pull,push"],
      ["team/app", "read", "repository:team/app:pull"],
      ["team/app", "delete", "repository:team/app:delete"],
      [null, "read", "registry:catalog:*"],
    ];
    for (const [repo, action, scope] of cases) {
      const r = await refusal(() => auth.require(anon, repo, action, URL_));
      expect([r.status, r.code, r.challenge]).toEqual([401, "UNAUTHORIZED", challenge(scope)]);
    }
    const withBasic = await auth.authenticate(req(basic("dave", "dave-pw")), URL_);
    expect(withBasic.grants).toBeNull();
    expect((await refusal(() => auth.require(withBasic, "team/app", "read", URL_))).status).toBe(401);
  });

  it("a token grants exactly its access; another repository or action is 401 insufficient_scope", async () => {
    const id = await bearer(await tokenFor("scope=repository:team/app:pull", basic("dave", "dave-pw")));
    expect(id).toMatchObject({ user: "dave", via: "token", grants: [{ type: "repository", name: "team/app", actions: ["pull"] }] });
    auth.requireBase(id, URL_);
    auth.require(id, "team/app", "read", URL_);
    const push = await refusal(() => auth.require(id, "team/app", "create", URL_));
    expect([push.status, push.code, push.challenge]).toEqual([401, "UNAUTHORIZED", challenge("repository:team/app:pull,push", "insufficient_scope")]);
    const other = await refusal(() => auth.require(id, "team/other", "read", URL_));
    expect(other.challenge).toBe(challenge("repository:team/other:pull", "insufficient_scope"));
  });

  it("a known user the policy refuses gets 403 DENIED, even holding a push grant", async () => {
    const id = await bearer(await tokenFor("scope=repository:team/app:pull,push", basic("mallory", "mallory-pw")));
    auth.require(id, "team/app", "create", URL_);
    const r = await refusal(() => auth.require(id, "team/app", "update", URL_));
    expect([r.status, r.code]).toEqual([403, "DENIED"]);
    const s = await refusal(() => auth.require(id, "secret/x", "read", URL_));
    expect([s.status, s.code]).toEqual([403, "DENIED"]);
  });

  it("anonymous tokens: public pulls pass, private ones ask for a login", async () => {
    const id = await bearer(await tokenFor("scope=repository:public/a:pull&scope=repository:team/app:pull"));
    expect(id.user).toBeNull();
    auth.require(id, "public/a", "read", URL_);
    const r = await refusal(() => auth.require(id, "team/app", "read", URL_));
    expect([r.status, r.code, r.challenge]).toEqual([401, "UNAUTHORIZED", challenge("repository:team/app:pull")]);
  });

  it("catalog: needs the catalog grant, then shows only what the caller may read", async () => {
    const id = await bearer(await tokenFor("scope=registry:catalog:*", basic("mallory", "mallory-pw")));
    auth.require(id, null, "read", URL_);
    expect(["public/a", "team/app", "secret/x", "other/y"].filter((r) => auth.canRead(id, r))).toEqual(["public/a", "team/app", "other/y"]);
    const anon = await bearer(await tokenFor("scope=registry:catalog:*"));
    expect(["public/a", "team/app", "secret/x"].filter((r) => auth.canRead(anon, r))).toEqual(["public/a"]);
  });

  it("refuses expired, tampered, alg none, wrong audience and refresh tokens with 401 invalid_token", async () => {
    const good = await tokenFor("scope=repository:team/app:pull", basic("dave", "dave-pw"));
    const invalid = challenge(undefined, "invalid_token");
    clock = NOW + 6 * 60_000 + 61_000;
    const expired = await refusal(() => bearer(good));
    clock = NOW;
    expect([expired.status, expired.code, expired.challenge]).toEqual([401, "UNAUTHORIZED", invalid]);
    expect(expired.body).not.toContain(good);

    const [h, , s] = good.split(".");
    const forgedClaims = { ...decodeClaims(good), access: [{ type: "repository", name: "team/app", actions: ["*"] }] };
    const tampered = `${h}.${Buffer.from(JSON.stringify(forgedClaims)).toString("base64url")}.${s}`;
    expect((await refusal(() => bearer(tampered))).challenge).toBe(invalid);
    const kid = (JSON.parse(Buffer.from(h!, "base64url").toString()) as { kid: string }).kid;
    const unsigned = await rawJwt({ alg: "none", kid }, forgedClaims);
    expect((await refusal(() => bearer(unsigned))).challenge).toBe(invalid);

    // Issued for another service (this registry's service is its host unless configured).
    const elsewhere = createAccessController(cfg, { now: () => NOW });
    const otherHost = await elsewhere.handleToken(new Request("https://other.example/token?scope=repository:team/app:pull", { headers: { Authorization: basic("dave", "dave-pw") } }));
    const t = ((await otherHost.json()) as { token: string }).token;
    expect((await refusal(() => bearer(t))).code).toBe("UNAUTHORIZED");

    const withRefresh = await auth.handleToken(new Request("https://reg.example/token?offline_token=true", { headers: { Authorization: basic("dave", "dave-pw") } }));
    const refresh = ((await withRefresh.json()) as { refresh_token: string }).refresh_token;
    expect((await refusal(() => bearer(refresh))).challenge).toBe(invalid);
    expect((await refusal(() => bearer("not-a-jwt"))).challenge).toBe(invalid);
  });

  it("refuses a token signed by an untrusted key or naming an unknown issuer", async () => {
    const stranger = await importPrivate(await ecKeyPem(), "ES256");
    const claims = { iss: "berth", sub: "dave", aud: "reg.example", exp: NOW / 1000 + 300, access: [{ type: "repository", name: "team/app", actions: ["push"] }] };
    const good = await tokenFor("", basic("dave", "dave-pw"));
    const kid = (JSON.parse(Buffer.from(good.split(".")[0]!, "base64url").toString()) as { kid: string }).kid;
    expect((await refusal(async () => bearer(await rawJwt({ alg: "ES256", kid }, claims, stranger)))).status).toBe(401);
    expect((await refusal(async () => bearer(await rawJwt({ alg: "ES256", kid }, { ...claims, iss: "evil" }, stranger)))).status).toBe(401);
  });
});

describe("token mode, an external issuer", () => {
  const cert = fixture("issuer-ec.crt");
  let auth: AccessController;
  let key: webcrypto.CryptoKey;
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: "idp.example",
    sub: "ci-bot",
    aud: "reg.example",
    exp: NOW / 1000 + 300,
    access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
    ...extra,
  });
  beforeAll(async () => {
    auth = createAccessController(
      parseAuthConfig({
        REGISTRY_AUTH: "token",
        REGISTRY_AUTH_TOKEN_REALM: "https://idp.example/auth",
        REGISTRY_AUTH_TOKEN_SERVICE: "reg.example",
        REGISTRY_AUTH_TOKEN_ISSUER: "idp.example",
        REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: cert,
        REGISTRY_ACCESSCONTROL: ACCESS,
      }),
      { now: () => NOW },
    );
    key = await importPrivate(fixture("issuer-ec.key"), "ES256");
  });

  it("trusts the issuer's grants (no Berth policy on top) and challenges with its realm", async () => {
    expect(auth.tokenPath).toBeNull();
    const x5c = cert.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    const id = await auth.authenticate(req(`Bearer ${await rawJwt({ alg: "ES256", x5c: [x5c] }, claims(), key)}`), URL_);
    expect(id).toMatchObject({ user: "ci-bot", groups: [], via: "external-token" });
    auth.require(id, "team/app", "update", URL_);
    const r = await refusal(() => auth.require(id, "team/app", "delete", URL_));
    expect([r.status, r.challenge]).toEqual([401, 'Bearer realm="https://idp.example/auth",service="reg.example",scope="repository:team/app:delete",error="insufficient_scope"']);
  });

  it("refuses its tokens when the audience, issuer or key is wrong", async () => {
    const x5c = cert.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    for (const [extra, signer] of [
      [{ aud: "other" }, key],
      [{ iss: "other-idp" }, key],
      [{}, await importPrivate(await ecKeyPem(), "ES256")],
    ] as const) {
      const t = await rawJwt({ alg: "ES256", x5c: [x5c] }, claims(extra), signer);
      expect((await refusal(() => auth.authenticate(req(`Bearer ${t}`), URL_))).status).toBe(401);
    }
  });
});

describe("unset and none modes", () => {
  it("unset: reads pass, writes are 403 DENIED telling the operator to set REGISTRY_AUTH", async () => {
    const auth = createAccessController(parseAuthConfig({}));
    const id: Identity = await auth.authenticate(req(basic("dave", "dave-pw")), URL_);
    expect(id.user).toBeNull();
    auth.requireBase(id, URL_);
    auth.require(id, "any/repo", "read", URL_);
    auth.require(id, null, "read", URL_);
    for (const a of ["create", "update", "delete"] as const) {
      const r = await refusal(() => auth.require(id, "any/repo", a, URL_));
      expect([r.status, r.code]).toEqual([403, "DENIED"]);
      expect(r.body).toContain("REGISTRY_AUTH");
    }
  });

  it("none: everything passes; with a policy, anonymous rules apply and refusals are 403", async () => {
    const open = createAccessController(parseAuthConfig({ REGISTRY_AUTH: "none" }));
    const id = await open.authenticate(req(), URL_);
    open.require(id, "any/repo", "delete", URL_);
    expect(open.canRead(id, "x")).toBe(true);
    const ruled = createAccessController(parseAuthConfig({ REGISTRY_AUTH: "none", REGISTRY_ACCESSCONTROL: ACCESS }));
    ruled.require(id, "public/x", "read", URL_);
    const r = await refusal(() => ruled.require(id, "team/app", "read", URL_));
    expect([r.status, r.code, r.challenge]).toEqual([403, "DENIED", null]);
  });
});

describe("readsEverything", () => {
  it("is true only in mode none without an access policy", async () => {
    const key = await ecKeyPem();
    const cases: [Record<string, string>, boolean][] = [
      [{}, false],
      [{ REGISTRY_AUTH: "none" }, true],
      [{ REGISTRY_AUTH: "none", REGISTRY_ACCESSCONTROL: ACCESS }, false],
      [{ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT }, false],
      [{ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: key }, false],
    ];
    for (const [env, expected] of cases) expect(createAccessController(parseAuthConfig(env)).readsEverything, JSON.stringify(env).slice(0, 60)).toBe(expected);
  });
});

describe("requireAdmin (the admin API)", () => {
  const ADMIN = JSON.stringify({ repositories: { "**": { defaultPolicy: ["read"] } }, adminPolicy: { users: ["dave"], actions: ["read", "create", "update", "delete"] } });
  const DENIED = [403, "DENIED", null];
  const outcome = async (ac: AccessController, id: Identity): Promise<unknown[]> => {
    try {
      ac.requireAdmin(id, URL_);
      return ["ok"];
    } catch (e) {
      const r = await refusal(() => {
        throw e;
      });
      expect(r.body).not.toContain("dave-pw");
      return [r.status, r.code, r.challenge];
    }
  };

  it("unset: nobody; none: everybody", async () => {
    const unset = createAccessController(parseAuthConfig({}));
    expect(await outcome(unset, await unset.authenticate(req(basic("dave", "dave-pw")), URL_))).toEqual(DENIED);
    for (const env of [{ REGISTRY_AUTH: "none" }, { REGISTRY_AUTH: "none", REGISTRY_ACCESSCONTROL: ADMIN }]) {
      const none = createAccessController(parseAuthConfig(env));
      expect(await outcome(none, await none.authenticate(req(), URL_))).toEqual(["ok"]);
    }
  });

  it("htpasswd: the adminPolicy's users, or any user without a policy; anonymous callers get the challenge", async () => {
    const noSleep = { sleep: async () => undefined, now: () => NOW };
    const ruled = createAccessController(parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT, REGISTRY_ACCESSCONTROL: ADMIN }), noSleep);
    const basicChallenge = [401, "UNAUTHORIZED", 'Basic realm="Berth Registry"'];
    expect(await outcome(ruled, await ruled.authenticate(req(), URL_))).toEqual(basicChallenge);
    expect(await outcome(ruled, await ruled.authenticate(req(basic("dave", "dave-pw")), URL_))).toEqual(["ok"]);
    expect(await outcome(ruled, await ruled.authenticate(req(basic("mallory", "mallory-pw")), URL_))).toEqual(DENIED);
    const open = createAccessController(parseAuthConfig({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD: HT }), noSleep);
    expect(await outcome(open, await open.authenticate(req(basic("mallory", "mallory-pw")), URL_))).toEqual(["ok"]);
    expect(await outcome(open, await open.authenticate(req(), URL_))).toEqual(basicChallenge);
  });

  it("token: the adminPolicy's users; no token gets the challenge, an anonymous token DENIED", async () => {
    const key = await ecKeyPem();
    const opts = { sleep: async () => undefined, now: () => NOW };
    for (const [access, mallory] of [[ADMIN, DENIED], [undefined, ["ok"]]] as const) {
      const ac = createAccessController(
        parseAuthConfig({ REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: key, REGISTRY_AUTH_HTPASSWD: HT, ...(access ? { REGISTRY_ACCESSCONTROL: access } : {}) }),
        opts,
      );
      const bearer = async (creds?: string) => {
        const res = await ac.handleToken(new Request("https://reg.example/token", { headers: creds ? { Authorization: creds } : {} }));
        return ac.authenticate(req(`Bearer ${((await res.json()) as { token: string }).token}`), URL_);
      };
      expect(await outcome(ac, await ac.authenticate(req(), URL_))).toEqual([401, "UNAUTHORIZED", 'Bearer realm="https://reg.example/token",service="reg.example"']);
      expect(await outcome(ac, await bearer())).toEqual(DENIED);
      expect(await outcome(ac, await bearer(basic("dave", "dave-pw")))).toEqual(["ok"]);
      expect(await outcome(ac, await bearer(basic("mallory", "mallory-pw")))).toEqual(mallory);
    }
  });
});
