// Per-repository access control in zot's `accessControl` form (REGISTRY_ACCESSCONTROL, JSON): repository
// glob patterns with user/group policies, a defaultPolicy for any authenticated user, an anonymousPolicy for
// callers who did not log in, an adminPolicy that applies everywhere, and named groups of users. Parsed and
// validated once at startup (a typo must fail loudly, not silently deny or allow) into an AccessPolicy: the
// compiled form, whose queries are pure functions of (user, groups, repository, action), as zot defines them:
// the longest matching pattern decides. The compiled glob matchers are built by the parser, so the queries
// live beside it; what each auth mode makes of the policy (its defaults without one) is http/auth's business.
//
// Also the one definition of the policy actions (`Action`), which the token scopes and the registry's access
// checks use too.

import { ConfigError, parseJsonSetting } from "./values";

/** What a caller may be allowed to do to a repository, as zot's accessControl spells it (Docker's push = create + update). */
export type Action = "read" | "create" | "update" | "delete";
export const ACTIONS: readonly Action[] = ["read", "create", "update", "delete"];

const SETTING = "REGISTRY_ACCESSCONTROL";

interface Policy {
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  actions: ReadonlySet<Action>;
}

interface PolicyGroup {
  pattern: string;
  match: (repo: string) => boolean;
  /** How many wildcard characters the pattern has: the tie-breaker between equally long patterns. */
  wildcards: number;
  policies: Policy[];
  defaultPolicy: ReadonlySet<Action>;
  anonymousPolicy: ReadonlySet<Action>;
}

function fail(where: string, why: string, setting = SETTING): ConfigError {
  return new ConfigError(setting, where === "" ? why : `${where}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string, hint = ""): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw fail(where, `unknown key ${JSON.stringify(k)} (expected ${allowed.join(", ")})${hint}`);
    }
  }
}

function stringList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string" && s !== "")) {
    throw fail(where, "must be a list of non-empty strings");
  }
  return v as string[];
}

/**
 * A list of actions. zot's behaviour flag "detectManifestCollision" is accepted (configs copied from zot keep
 * working) and ignored: Berth stores manifests by digest, so there is nothing to detect.
 */
function actionList(v: unknown, where: string): Set<Action> {
  const out = new Set<Action>();
  for (const a of stringList(v, where)) {
    if (a === "detectManifestCollision") continue;
    if (!(ACTIONS as readonly string[]).includes(a)) {
      throw fail(where, `unknown action ${JSON.stringify(a)} (expected ${ACTIONS.join(", ")})`);
    }
    out.add(a as Action);
  }
  return out;
}

const SEGMENT_CHARS = /^[a-z0-9._*?-]+$/;

/**
 * Compiles a repository glob: "/" separates path segments, `*` matches any run of characters within one
 * segment, `?` one character, and a segment that is exactly `**` matches zero or more whole segments
 * (so `team/**` matches `team` and everything below it, as zot's doublestar library does). Nothing else is
 * special; characters that can never occur in a repository name are rejected so a typo cannot silently
 * match nothing. `setting` names the setting whose value holds the pattern (BERTH_IMMUTABLE_TAGS uses the same
 * globs).
 */
export function compileGlob(
  pattern: string,
  where = `repositories ${JSON.stringify(pattern)}`,
  setting = SETTING,
): (repo: string) => boolean {
  if (pattern === "") throw fail(where, "pattern is empty", setting);
  if (pattern.length > 512) throw fail(where, "pattern is longer than 512 characters", setting);
  const segments = pattern.split("/");
  for (const seg of segments) {
    if (seg === "") throw fail(where, 'pattern has an empty path segment (leading, trailing or repeated "/")', setting);
    if (seg.includes("**") && seg !== "**") throw fail(where, '"**" must be a whole path segment (like "team/**")', setting);
    if (!SEGMENT_CHARS.test(seg)) {
      const bad = [...seg].find((c) => !/[a-z0-9._*?-]/.test(c)) ?? "";
      const why = /[A-Z]/.test(bad) ? " (repository names are lowercase)" : /[[\]{}\\!]/.test(bad) ? " (not supported; use * and **)" : "";
      throw fail(where, `character ${JSON.stringify(bad)} cannot match a repository name${why}`, setting);
    }
  }
  return (repo: string) => matchSegments(segments, 0, repo.split("/"), 0, new Map());
}

function matchSegments(pat: string[], pi: number, name: string[], ni: number, memo: Map<number, boolean>): boolean {
  const key = pi * 1024 + ni;
  const known = memo.get(key);
  if (known !== undefined) return known;
  let result: boolean;
  if (pi === pat.length) {
    result = ni === name.length;
  } else if (pat[pi] === "**") {
    // Zero segments, or swallow one and stay on "**".
    result = matchSegments(pat, pi + 1, name, ni, memo) || (ni < name.length && matchSegments(pat, pi, name, ni + 1, memo));
  } else {
    result = ni < name.length && matchSegment(pat[pi]!, name[ni]!) && matchSegments(pat, pi + 1, name, ni + 1, memo);
  }
  memo.set(key, result);
  return result;
}

/** Wildcard match of one segment: the classic greedy scan with one backtrack point, linear in practice. */
function matchSegment(p: string, s: string): boolean {
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === "?" || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === "*") {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** The parsed, validated accessControl: evaluation only, no I/O. */
export class AccessPolicy {
  private readonly patterns: PolicyGroup[];
  private readonly groupsByUser: Map<string, string[]>;
  private readonly admin: Policy;

  constructor(patterns: PolicyGroup[], groupsByUser: Map<string, string[]>, admin: Policy) {
    this.patterns = patterns;
    this.groupsByUser = groupsByUser;
    this.admin = admin;
  }

  /** The groups a user belongs to, per the `groups` section (none for anonymous callers). */
  groupsOf(user: string | null): string[] {
    return user === null ? [] : [...(this.groupsByUser.get(user) ?? [])];
  }

  /**
   * zot's rule: the longest pattern matching the repository decides, through its user and group policies,
   * then its defaultPolicy (any authenticated user, listed or not) or anonymousPolicy (callers without
   * credentials); the adminPolicy adds its actions on every repository. Patterns of equal length: the one
   * with fewer wildcards wins, then the alphabetically first (zot leaves such ties to map order).
   */
  allowed(user: string | null, groups: readonly string[], repo: string, action: Action): boolean {
    const pg = this.longestMatch(repo);
    if (pg !== undefined && this.permitted(pg, user, groups, action)) return true;
    return user !== null && this.admin.actions.has(action) && this.inPolicy(this.admin, user, groups);
  }

  /** Whether the user is in the adminPolicy (by name or group): the registry's admin API is theirs. */
  isAdmin(user: string | null, groups: readonly string[]): boolean {
    return user !== null && this.admin.actions.size > 0 && this.inPolicy(this.admin, user, groups);
  }

  /**
   * Whether listing the catalog is worth doing for this caller (the list itself is filtered per repository):
   * authenticated users may always list; anonymous callers only when some pattern lets them read.
   */
  mayListCatalog(user: string | null): boolean {
    return user !== null || this.patterns.some((p) => p.anonymousPolicy.has("read"));
  }

  private longestMatch(repo: string): PolicyGroup | undefined {
    let best: PolicyGroup | undefined;
    for (const pg of this.patterns) {
      if (!pg.match(repo)) continue;
      if (
        best === undefined ||
        pg.pattern.length > best.pattern.length ||
        (pg.pattern.length === best.pattern.length &&
          (pg.wildcards < best.wildcards || (pg.wildcards === best.wildcards && pg.pattern < best.pattern)))
      ) {
        best = pg;
      }
    }
    return best;
  }

  private permitted(pg: PolicyGroup, user: string | null, groups: readonly string[], action: Action): boolean {
    if (user === null) return pg.anonymousPolicy.has(action);
    if (pg.policies.some((p) => p.actions.has(action) && this.inPolicy(p, user, groups))) return true;
    return pg.defaultPolicy.has(action);
  }

  private inPolicy(p: Policy, user: string, groups: readonly string[]): boolean {
    return p.users.has(user) || groups.some((g) => p.groups.has(g));
  }
}

function parsePolicy(v: unknown, where: string, knownGroups: ReadonlySet<string>): Policy {
  if (!isObject(v)) throw fail(where, "must be an object with users, groups and actions");
  onlyKeys(v, ["users", "groups", "actions"], where);
  const groups = stringList(v.groups, `${where}.groups`);
  for (const g of groups) {
    if (!knownGroups.has(g)) throw fail(`${where}.groups`, `group ${JSON.stringify(g)} is not defined under "groups"`);
  }
  return {
    users: new Set(stringList(v.users, `${where}.users`)),
    groups: new Set(groups),
    actions: actionList(v.actions, `${where}.actions`),
  };
}

/** Parses and validates the JSON of REGISTRY_ACCESSCONTROL; throws ConfigError saying where it is wrong. */
export function parseAccessControl(json: string): AccessPolicy {
  const doc = parseJsonSetting(SETTING, json);
  if (!isObject(doc)) throw fail("", "must be a JSON object with repositories, groups, adminPolicy");
  onlyKeys(doc, ["repositories", "groups", "adminPolicy"], "", ' (zot\'s older form with patterns at the top level: move them under "repositories")');

  const groupsByUser = new Map<string, string[]>();
  const knownGroups = new Set<string>();
  if (doc.groups !== undefined) {
    if (!isObject(doc.groups)) throw fail("groups", 'must be an object like {"team": {"users": ["alice"]}}');
    for (const [name, g] of Object.entries(doc.groups)) {
      const where = `groups ${JSON.stringify(name)}`;
      if (!isObject(g)) throw fail(where, 'must be an object like {"users": ["alice"]}');
      onlyKeys(g, ["users"], where);
      knownGroups.add(name);
      for (const u of stringList(g.users, `${where}.users`)) {
        const list = groupsByUser.get(u) ?? [];
        if (!list.includes(name)) list.push(name);
        groupsByUser.set(u, list);
      }
    }
  }

  if (!isObject(doc.repositories)) {
    throw fail("repositories", 'is required: an object of glob patterns, like {"**": {"defaultPolicy": ["read"]}}');
  }
  const patterns: PolicyGroup[] = [];
  for (const [pattern, v] of Object.entries(doc.repositories)) {
    const where = `repositories ${JSON.stringify(pattern)}`;
    const match = compileGlob(pattern, where);
    if (!isObject(v)) throw fail(where, "must be an object with policies, defaultPolicy, anonymousPolicy");
    onlyKeys(v, ["policies", "defaultPolicy", "anonymousPolicy"], where);
    if (v.policies !== undefined && !Array.isArray(v.policies)) throw fail(`${where}.policies`, "must be a list");
    const policies = ((v.policies ?? []) as unknown[]).map((p, i) => parsePolicy(p, `${where}.policies[${i}]`, knownGroups));
    patterns.push({
      pattern,
      match,
      wildcards: [...pattern].filter((c) => c === "*" || c === "?").length,
      policies,
      defaultPolicy: actionList(v.defaultPolicy, `${where}.defaultPolicy`),
      anonymousPolicy: actionList(v.anonymousPolicy, `${where}.anonymousPolicy`),
    });
  }

  const admin =
    doc.adminPolicy === undefined
      ? { users: new Set<string>(), groups: new Set<string>(), actions: new Set<Action>() }
      : parsePolicy(doc.adminPolicy, "adminPolicy", knownGroups);
  return new AccessPolicy(patterns, groupsByUser, admin);
}
