// The policy decision of each auth mode: REGISTRY_ACCESSCONTROL (parsed and compiled by config/access.ts) when
// it is configured, else the mode's defaults. Pure; the access controllers (modes/) and the token endpoint's
// grants both ask here, so a token never carries more than a request with Basic credentials would be allowed.

import type { AccessPolicy, Action } from "../../config/access";
import type { AuthMode } from "../../config/auth";

/**
 * The policy decision for a caller, whatever the mode: REGISTRY_ACCESSCONTROL when configured, else the
 * defaults — in htpasswd and token modes authenticated callers may do everything and anonymous ones nothing;
 * `none` lets everyone do everything; `unset` (no REGISTRY_AUTH) allows reads only. `repo` null means the
 * registry-level catalog (each repository in it is then filtered with "read").
 */
export function policyAllows(
  mode: AuthMode,
  access: AccessPolicy | null,
  user: string | null,
  groups: readonly string[],
  repo: string | null,
  action: Action,
): boolean {
  if (mode === "unset" && action !== "read") return false;
  const anonymousMode = mode === "none" || mode === "unset";
  const who = anonymousMode ? null : user;
  if (access === null) return anonymousMode || who !== null;
  if (repo === null) return action === "read" && access.mayListCatalog(who);
  return access.allowed(who, anonymousMode ? [] : groups, repo, action);
}

/**
 * Whether a caller of the htpasswd or token mode is an administrator (the admin API is theirs): a user in the
 * adminPolicy, or without REGISTRY_ACCESSCONTROL any authenticated user (who may already delete anything).
 */
export function adminAllows(access: AccessPolicy | null, user: string | null, groups: readonly string[]): boolean {
  return access === null ? user !== null : access.isAdmin(user, groups);
}
