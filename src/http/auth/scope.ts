// Docker token scopes (`repository:<name>:pull,push`, `registry:catalog:*`): parsing what clients ask the
// token endpoint for, formatting what the registry's 401 challenge asks for, and translating between Docker's
// actions (pull, push, delete, *) and the access-control actions of zot's policies (read, create, update,
// delete). Names are checked with the registry's own grammar, so a token can never name a path that the
// router would refuse.

import { ACTIONS, type Action } from "../../config/access";
import { OciError } from "../../oci/errors";
import { validateRepositoryName } from "../../oci/names";

/** One entry of a token's `access` claim (Docker's JWT form). */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** A parsed scope: a resource and the Docker actions asked for, deduplicated, in request order. */
export interface Scope {
  type: "repository" | "registry";
  name: string;
  actions: string[];
}

/** Docker actions a token may carry for a repository, in canonical order. */
const REPOSITORY_ACTIONS = ["pull", "push", "delete"] as const;
type DockerAction = (typeof REPOSITORY_ACTIONS)[number];

/**
 * Which Docker action covers a policy action in a token: pull → read, push → create and update (one Docker
 * action for both: clients only ever ask for "push"), delete → delete. "*" covers everything.
 */
export function dockerActionFor(action: Action): DockerAction {
  switch (action) {
    case "read":
      return "pull";
    case "create":
    case "update":
      return "push";
    case "delete":
      return "delete";
  }
}

/** The policy actions a Docker action stands for (push → create + update; * → all). */
export function policyActionsFor(dockerAction: string): Action[] {
  switch (dockerAction) {
    case "pull":
      return ["read"];
    case "push":
      return ["create", "update"];
    case "delete":
      return ["delete"];
    case "*":
      return [...ACTIONS];
    default:
      return [];
  }
}

const MAX_SCOPE_LENGTH = 1024;
/** Real clients ask for one to three; the cap keeps tokens far below what verification accepts. */
const MAX_SCOPES = 50;
const ACTION_RE = /^[a-z*]*$/;
const TYPE_RE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;

function invalid(raw: string, why: string): OciError {
  const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
  return new OciError("UNSUPPORTED", `invalid scope ${shown}: ${why}`, { status: 400 });
}

/**
 * Parses one `type:name:actions` scope. The name may itself hold one ":" (a host port, per the grammar), so
 * the type ends at the first ":" and the actions start after the last. A resource class (`repository(plugin)`)
 * is deprecated and ignored, as Distribution does. Returns null for resource types Berth has nothing to grant
 * on (the token then simply does not mention them); throws OciError 400 for malformed input and
 * NAME_INVALID for a repository name outside the registry's grammar.
 */
export function parseScope(raw: string): Scope | null {
  if (raw.length > MAX_SCOPE_LENGTH) throw invalid(raw, `longer than ${MAX_SCOPE_LENGTH} characters`);
  const first = raw.indexOf(":");
  const last = raw.lastIndexOf(":");
  if (first <= 0 || last === first) throw invalid(raw, "expected type:name:actions");
  const typeWithClass = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actionList = raw.slice(last + 1);
  if (!TYPE_RE.test(typeWithClass)) throw invalid(raw, "malformed resource type");
  const actions: string[] = [];
  for (const a of actionList.split(",")) {
    if (!ACTION_RE.test(a)) throw invalid(raw, "actions must be lowercase words or *");
    if (a !== "" && !actions.includes(a)) actions.push(a);
  }
  const type = typeWithClass.replace(/\(.*\)$/, "");
  if (type === "repository") {
    validateRepositoryName(name);
    return { type, name, actions };
  }
  if (type === "registry") {
    if (name !== "catalog") return null;
    return { type, name, actions };
  }
  return null;
}

/**
 * Every scope of a token request: GET repeats `scope`, the OAuth2 POST form packs several into one value
 * separated by spaces; both are accepted in either place. Scopes for the same resource are merged.
 */
export function parseScopes(values: readonly string[]): Scope[] {
  const out: Scope[] = [];
  for (const value of values) {
    for (const part of value.split(" ")) {
      if (part === "") continue;
      const s = parseScope(part);
      if (s === null) continue;
      const same = out.find((o) => o.type === s.type && o.name === s.name);
      if (same) {
        for (const a of s.actions) if (!same.actions.includes(a)) same.actions.push(a);
      } else if (out.length >= MAX_SCOPES) {
        throw new OciError("UNSUPPORTED", `too many scopes in one token request (at most ${MAX_SCOPES})`, { status: 400 });
      } else {
        out.push(s);
      }
    }
  }
  return out;
}

/** `type:name:a,b` — the form of a challenge's scope and of the OAuth2 response's `scope`. */
export function formatScope(s: { type: string; name: string; actions: readonly string[] }): string {
  return `${s.type}:${s.name}:${s.actions.join(",")}`;
}

/**
 * What the challenge asks for when `action` on `repo` (null: the catalog) was refused. Writes ask for
 * "pull,push" as Distribution and docker do, so one token serves the whole push.
 */
export function challengeScope(repo: string | null, action: Action): string {
  if (repo === null) return "registry:catalog:*";
  switch (action) {
    case "read":
      return `repository:${repo}:pull`;
    case "create":
    case "update":
      return `repository:${repo}:pull,push`;
    case "delete":
      return `repository:${repo}:delete`;
  }
}

/**
 * The granted part of a request: for each scope, the Docker actions `may(action)` allows, never more than
 * asked. "*" on a repository is expanded into the concrete actions granted (so a token never carries more
 * than the policy allows today); push is granted when the caller may create or update (the registry checks
 * which one each request needs). Resources with nothing granted are left out.
 */
export function grantScopes(
  scopes: readonly Scope[],
  mayRepo: (repo: string, action: Action) => boolean,
  mayCatalog: () => boolean,
): Access[] {
  const out: Access[] = [];
  for (const s of scopes) {
    if (s.type === "registry") {
      if (s.actions.includes("*") && mayCatalog()) out.push({ type: "registry", name: s.name, actions: ["*"] });
      continue;
    }
    const wanted = new Set<DockerAction>();
    for (const a of s.actions) {
      if (a === "*") REPOSITORY_ACTIONS.forEach((d) => wanted.add(d));
      else if ((REPOSITORY_ACTIONS as readonly string[]).includes(a)) wanted.add(a as DockerAction);
    }
    const granted = REPOSITORY_ACTIONS.filter(
      (d) => wanted.has(d) && policyActionsFor(d).some((p) => mayRepo(s.name, p)),
    );
    if (granted.length > 0) out.push({ type: "repository", name: s.name, actions: granted });
  }
  return out;
}

/** Whether a token's `access` claim covers `action` on `repo` (null: the catalog). */
export function grantsCover(grants: readonly Access[], repo: string | null, action: Action): boolean {
  if (repo === null) {
    return grants.some((g) => g.type === "registry" && g.name === "catalog" && g.actions.includes("*"));
  }
  const needed = dockerActionFor(action);
  return grants.some(
    (g) =>
      g.type.replace(/\(.*\)$/, "") === "repository" &&
      g.name === repo &&
      (g.actions.includes(needed) || g.actions.includes("*")),
  );
}

/**
 * A token's `access` claim, checked for shape: anything malformed makes the whole token invalid rather than
 * being half-understood. Returns null when the claim is not a well-formed list.
 */
export function readAccessClaim(v: unknown): Access[] | null {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return null;
  const out: Access[] = [];
  for (const e of v) {
    if (typeof e !== "object" || e === null) return null;
    const { type, name, actions } = e as Record<string, unknown>;
    if (typeof type !== "string" || typeof name !== "string") return null;
    if (actions !== undefined && actions !== null && !Array.isArray(actions)) return null;
    const list = (actions ?? []) as unknown[];
    if (!list.every((a) => typeof a === "string")) return null;
    out.push({ type, name, actions: list as string[] });
  }
  return out;
}
