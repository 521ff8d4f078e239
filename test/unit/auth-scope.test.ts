// Unit tests of src/http/auth/scope.ts: parsing Docker scopes (names with a port's colon, resource classes,
// invalid names, the catalog), merging, challenge scopes, and granting only the allowed subset of a request.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/oci/errors";
import {
  challengeScope,
  formatScope,
  grantScopes,
  grantsCover,
  parseScope,
  parseScopes,
  policyActionsFor,
  readAccessClaim,
} from "../../src/http/auth/scope";
import type { Action } from "../../src/config/access";

function fails(raw: string, code: string): void {
  try {
    parseScope(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(OciError);
    expect((e as OciError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${raw} to fail`);
}

describe("parseScope", () => {
  it("reads repository and catalog scopes", () => {
    expect(parseScope("repository:team/app:pull,push")).toEqual({ type: "repository", name: "team/app", actions: ["pull", "push"] });
    expect(parseScope("repository(plugin):team/app:pull")).toEqual({ type: "repository", name: "team/app", actions: ["pull"] });
    expect(parseScope("registry:catalog:*")).toEqual({ type: "registry", name: "catalog", actions: ["*"] });
    expect(parseScope("repository:a:pull,pull,,push")).toEqual({ type: "repository", name: "a", actions: ["pull", "push"] });
    expect(parseScope("repository:a:")).toEqual({ type: "repository", name: "a", actions: [] });
  });

  it("ignores resource types and registry resources Berth has nothing to grant on", () => {
    expect(parseScope("registry:other:*")).toBeNull();
    expect(parseScope("plugin:foo:pull")).toBeNull();
  });

  it("rejects malformed scopes (400) and invalid repository names (NAME_INVALID)", () => {
    fails("repository", "UNSUPPORTED");
    fails("repository:team/app", "UNSUPPORTED");
    fails(":team/app:pull", "UNSUPPORTED");
    fails("Repository:team/app:pull", "UNSUPPORTED");
    fails("repository:team/app:PULL", "UNSUPPORTED");
    fails(`repository:${"a".repeat(1100)}:pull`, "UNSUPPORTED");
    fails("repository:Team/App:pull", "NAME_INVALID");
    fails("repository:team//app:pull", "NAME_INVALID");
    fails("repository:../etc:pull", "NAME_INVALID");
    fails("repository:team/%2e%2e:pull", "NAME_INVALID");
    // A host with a port leaves one colon in the name: parsed, then refused by the registry's name grammar.
    fails("repository:localhost:5000/app:pull", "NAME_INVALID");
  });

  it("caps the number of scopes in one request", () => {
    const many = Array.from({ length: 51 }, (_, i) => `repository:r${i}:pull`);
    expect(parseScopes(many.slice(0, 50))).toHaveLength(50);
    expect(() => parseScopes(many)).toThrow(/too many scopes/);
  });

  it("merges repeated and space-separated scopes", () => {
    expect(parseScopes(["repository:a:pull repository:b:push", "repository:a:push", "", "registry:catalog:*"])).toEqual([
      { type: "repository", name: "a", actions: ["pull", "push"] },
      { type: "repository", name: "b", actions: ["push"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ]);
  });
});

describe("actions and challenges", () => {
  it("maps Docker actions to policy actions", () => {
    expect(policyActionsFor("pull")).toEqual(["read"]);
    expect(policyActionsFor("push")).toEqual(["create", "update"]);
    expect(policyActionsFor("delete")).toEqual(["delete"]);
    expect(policyActionsFor("*")).toEqual(["read", "create", "update", "delete"]);
    expect(policyActionsFor("frobnicate")).toEqual([]);
  });

  it("asks for pull,push on writes and the catalog at registry level", () => {
    expect(challengeScope("a/b", "read")).toBe("repository:a/b:pull");
    expect(challengeScope("a/b", "create")).toBe("repository:a/b:pull,push");
    expect(challengeScope("a/b", "update")).toBe("repository:a/b:pull,push");
    expect(challengeScope("a/b", "delete")).toBe("repository:a/b:delete");
    expect(challengeScope(null, "read")).toBe("registry:catalog:*");
    expect(formatScope({ type: "repository", name: "x", actions: ["pull", "push"] })).toBe("repository:x:pull,push");
  });

  it("checks a token's grants per action", () => {
    const grants = [
      { type: "repository", name: "a", actions: ["pull"] },
      { type: "repository", name: "b", actions: ["push", "delete"] },
      { type: "repository(plugin)", name: "c", actions: ["*"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ];
    expect(grantsCover(grants, "a", "read")).toBe(true);
    expect(grantsCover(grants, "a", "create")).toBe(false);
    expect(grantsCover(grants, "b", "create")).toBe(true);
    expect(grantsCover(grants, "b", "update")).toBe(true);
    expect(grantsCover(grants, "b", "read")).toBe(false);
    expect(grantsCover(grants, "b", "delete")).toBe(true);
    expect(grantsCover(grants, "c", "delete")).toBe(true);
    expect(grantsCover(grants, "ab", "read")).toBe(false);
    expect(grantsCover(grants, null, "read")).toBe(true);
    expect(grantsCover(grants.slice(0, 3), null, "read")).toBe(false);
  });

  it("reads only well-formed access claims", () => {
    expect(readAccessClaim(undefined)).toEqual([]);
    expect(readAccessClaim([{ type: "repository", name: "a", actions: ["pull"] }])).toHaveLength(1);
    expect(readAccessClaim({})).toBeNull();
    expect(readAccessClaim([{ type: "repository", name: 3, actions: [] }])).toBeNull();
    expect(readAccessClaim([{ type: "repository", name: "a", actions: [1] }])).toBeNull();
  });
});

describe("grantScopes", () => {
  // alice: read on public/*, create (not update) on team/app, everything on own/*; no catalog for anonymous.
  const rules: Record<string, Action[]> = { "public/x": ["read"], "team/app": ["read", "create"], "own/y": ["read", "create", "update", "delete"] };
  const may = (repo: string, a: Action) => (rules[repo] ?? []).includes(a);

  it("grants the intersection of what was asked and what the policy allows, never more", () => {
    const scopes = parseScopes([
      "repository:public/x:pull,push",
      "repository:team/app:push",
      "repository:own/y:*",
      "repository:secret/z:pull",
      "registry:catalog:*",
    ]);
    expect(grantScopes(scopes, may, () => false)).toEqual([
      { type: "repository", name: "public/x", actions: ["pull"] },
      { type: "repository", name: "team/app", actions: ["push"] },
      { type: "repository", name: "own/y", actions: ["pull", "push", "delete"] },
    ]);
    expect(grantScopes(parseScopes(["registry:catalog:*"]), may, () => true)).toEqual([{ type: "registry", name: "catalog", actions: ["*"] }]);
    expect(grantScopes(parseScopes(["repository:own/y:frobnicate"]), may, () => true)).toEqual([]);
  });
});
