// Unit tests of src/config/access.ts and src/http/auth/access.ts: zot's accessControl — glob syntax (`*` one
// segment, `**` any depth), longest matching pattern wins, user and group policies, defaultPolicy,
// anonymousPolicy, adminPolicy — the validation of the JSON, and the per-mode defaults of policyAllows.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config";
import { compileGlob, parseAccessControl, type Action } from "../../src/config/access";
import { policyAllows } from "../../src/http/auth/access";

describe("compileGlob", () => {
  const m = (pattern: string, repo: string) => compileGlob(pattern)(repo);
  it("matches * within one segment and ** across any depth", () => {
    expect(m("**", "a")).toBe(true);
    expect(m("**", "a/b/c")).toBe(true);
    expect(m("team/*", "team/app")).toBe(true);
    expect(m("team/*", "team/app/sub")).toBe(false);
    expect(m("team/*", "team")).toBe(false);
    expect(m("team/**", "team/app/sub")).toBe(true);
    expect(m("team/**", "team")).toBe(true);
    expect(m("team/**", "teams/app")).toBe(false);
    expect(m("**/base", "x/y/base")).toBe(true);
    expect(m("**/base", "base")).toBe(true);
    expect(m("a/**/z", "a/z")).toBe(true);
    expect(m("a/**/z", "a/b/c/z")).toBe(true);
    expect(m("a/**/z", "a/b/c/y")).toBe(false);
    expect(m("app-*", "app-web")).toBe(true);
    expect(m("app-*", "app-")).toBe(true);
    expect(m("*-web", "app-web")).toBe(true);
    expect(m("a*b*c", "axxbyyc")).toBe(true);
    expect(m("a*b*c", "axxbyy")).toBe(false);
    expect(m("v?", "v1")).toBe(true);
    expect(m("v?", "v10")).toBe(false);
    expect(m("exact/name", "exact/name")).toBe(true);
    expect(m("exact/name", "exact/name2")).toBe(false);
  });

  it("rejects syntax that cannot match a repository name", () => {
    for (const [p, why] of [
      ["", /empty/],
      ["team//x", /empty path segment/],
      ["/team", /empty path segment/],
      ["team/", /empty path segment/],
      ["team/x**", /whole path segment/],
      ["Team/*", /lowercase/],
      ["team/[ab]", /not supported/],
      ["team/{a,b}", /not supported/],
      ["team app", /cannot match/],
    ] as const) {
      expect(() => compileGlob(p)).toThrow(why);
    }
  });
});

const POLICY = {
  groups: { devs: { users: ["dave", "erin"] }, ops: { users: ["olga"] } },
  repositories: {
    "**": {
      policies: [{ users: ["charlie"], actions: ["read", "create", "update"] }],
      defaultPolicy: ["read"],
      anonymousPolicy: [],
    },
    "public/**": { defaultPolicy: ["read"], anonymousPolicy: ["read"] },
    "team/*": {
      policies: [
        { groups: ["devs"], actions: ["read", "create", "update"] },
        { users: ["mallory"], actions: ["read", "create"] },
      ],
      defaultPolicy: [],
    },
    "team/secret": { policies: [{ users: ["erin"], actions: ["read"] }] },
    "tmp/**": { defaultPolicy: ["read", "create", "update", "delete", "detectManifestCollision"] },
  },
  adminPolicy: { users: ["admin"], groups: ["ops"], actions: ["read", "create", "update", "delete"] },
};

describe("AccessPolicy", () => {
  const ac = parseAccessControl(JSON.stringify(POLICY));
  const can = (user: string | null, repo: string, action: Action) => ac.allowed(user, ac.groupsOf(user), repo, action);

  it("maps users to their groups", () => {
    expect(ac.groupsOf("dave")).toEqual(["devs"]);
    expect(ac.groupsOf("olga")).toEqual(["ops"]);
    expect(ac.groupsOf("nobody")).toEqual([]);
    expect(ac.groupsOf(null)).toEqual([]);
  });

  it("lets the longest matching pattern decide", () => {
    // charlie may push anywhere "**" decides, but team/* is longer and does not list him.
    expect(can("charlie", "misc/app", "create")).toBe(true);
    expect(can("charlie", "team/app", "read")).toBe(false);
    // team/secret beats team/*: devs lose their rights there, erin keeps read only.
    expect(can("dave", "team/app", "update")).toBe(true);
    expect(can("dave", "team/secret", "read")).toBe(false);
    expect(can("erin", "team/secret", "read")).toBe(true);
    expect(can("erin", "team/secret", "create")).toBe(false);
    // team/* is one segment deep: team/app/sub falls back to "**".
    expect(can("dave", "team/app/sub", "create")).toBe(false);
    expect(can("dave", "team/app/sub", "read")).toBe(true);
  });

  it("applies user and group policies, then defaultPolicy to every authenticated user", () => {
    expect(can("mallory", "team/app", "create")).toBe(true);
    expect(can("mallory", "team/app", "update")).toBe(false);
    expect(can("mallory", "team/app", "delete")).toBe(false);
    expect(can("someone", "misc/app", "read")).toBe(true);
    expect(can("someone", "misc/app", "create")).toBe(false);
    expect(can("someone", "tmp/a/b", "delete")).toBe(true);
    // defaultPolicy adds to a listed user's rights (zot's rule), it does not replace them.
    expect(can("charlie", "tmp/x", "delete")).toBe(true);
  });

  it("gives anonymous callers the anonymousPolicy only", () => {
    expect(can(null, "public/base/alpine", "read")).toBe(true);
    expect(can(null, "public", "read")).toBe(true);
    expect(can(null, "public/x", "create")).toBe(false);
    expect(can(null, "misc/app", "read")).toBe(false);
    expect(can(null, "tmp/x", "read")).toBe(false);
    expect(ac.mayListCatalog(null)).toBe(true);
    expect(ac.mayListCatalog("someone")).toBe(true);
  });

  it("lets the adminPolicy act everywhere, by user or group", () => {
    expect(can("admin", "team/secret", "delete")).toBe(true);
    expect(can("olga", "team/app", "update")).toBe(true);
    expect(can("admin", "anything/at/all", "create")).toBe(true);
  });

  it("breaks ties between equally long patterns deterministically (fewer wildcards first)", () => {
    const t = parseAccessControl(
      JSON.stringify({ repositories: { "ab/*": { defaultPolicy: ["read"] }, "ab/c": { defaultPolicy: ["delete"] }, "a?/c": { defaultPolicy: ["create"] } } }),
    );
    expect(t.allowed("u", [], "ab/c", "delete")).toBe(true);
    expect(t.allowed("u", [], "ab/c", "read")).toBe(false);
    expect(t.allowed("u", [], "ab/c", "create")).toBe(false);
  });

  it("with no anonymous read anywhere, anonymous callers cannot list the catalog", () => {
    const t = parseAccessControl(JSON.stringify({ repositories: { "**": { defaultPolicy: ["read"] } } }));
    expect(t.mayListCatalog(null)).toBe(false);
  });
});

describe("parseAccessControl validation", () => {
  const bad = (doc: unknown, why: RegExp) => {
    let err: unknown;
    try {
      parseAccessControl(typeof doc === "string" ? doc : JSON.stringify(doc));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe("REGISTRY_ACCESSCONTROL");
    expect((err as ConfigError).message).toMatch(why);
  };
  it("names what is wrong and where", () => {
    bad("{", /not valid JSON/);
    bad([], /JSON object/);
    bad({}, /repositories.*is required/);
    bad({ "**": { defaultPolicy: ["read"] } }, /unknown key "\*\*".*move them under "repositories"/);
    bad({ repositories: { "**": { defaultPolicy: ["pull"] } } }, /repositories "\*\*".defaultPolicy: unknown action "pull"/);
    bad({ repositories: { "**": { policies: [{ users: ["a"], action: ["read"] }] } } }, /policies\[0\]: unknown key "action"/);
    bad({ repositories: { "**": { policies: [{ groups: ["nope"], actions: ["read"] }] } } }, /group "nope" is not defined/);
    bad({ repositories: { "**": { policies: {} } } }, /must be a list/);
    bad({ repositories: { "**": { defaultPolicy: "read" } } }, /list of non-empty strings/);
    bad({ repositories: { "Team/*": {} } }, /lowercase/);
    bad({ repositories: {}, groups: { g: { members: [] } } }, /unknown key "members"/);
    bad({ repositories: {}, adminPolicy: { users: ["a"], actions: ["everything"] } }, /adminPolicy.actions/);
  });
});

describe("policyAllows (defaults per mode)", () => {
  it("without REGISTRY_ACCESSCONTROL: authenticated callers everything, anonymous nothing", () => {
    expect(policyAllows("htpasswd", null, "u", [], "a", "delete")).toBe(true);
    expect(policyAllows("htpasswd", null, null, [], "a", "read")).toBe(false);
    expect(policyAllows("token", null, "u", [], null, "read")).toBe(true);
    expect(policyAllows("token", null, null, [], null, "read")).toBe(false);
  });
  it("none: everyone everything, or the anonymousPolicy when a policy is set", () => {
    expect(policyAllows("none", null, null, [], "a", "delete")).toBe(true);
    const ac = parseAccessControl(JSON.stringify(POLICY));
    expect(policyAllows("none", ac, "charlie", [], "misc/app", "create")).toBe(false);
    expect(policyAllows("none", ac, null, [], "public/x", "read")).toBe(true);
  });
  it("unset: reads only", () => {
    expect(policyAllows("unset", null, null, [], "a", "read")).toBe(true);
    expect(policyAllows("unset", null, null, [], null, "read")).toBe(true);
    for (const a of ["create", "update", "delete"] as const) expect(policyAllows("unset", null, "u", [], "a", a)).toBe(false);
  });
});
