// What the router asks of authentication and access control, whatever the mode: who is calling
// (`authenticate`), whether they may do what they ask (`requireBase`, `require`, `may`, `canRead`,
// `readsEverything`), and Berth's token endpoint (`tokenPath`, `handleToken`). One implementation per
// REGISTRY_AUTH mode (modes/), chosen once by createAccessController (index.ts), so each mode's rules read in
// one place. Refusals are OciErrors: UNAUTHORIZED (401, with the WWW-Authenticate challenge clients rely on)
// when logging in could help, DENIED (403) when the caller is known and the policy says no.
// Nothing here logs a credential, a token or an Authorization header.

import type { Action } from "../../config/access";
import { OciError } from "../../oci/errors";
import type { Sleep } from "./runtime";
import { dockerActionFor, type Access } from "./scope";

export interface Identity {
  /** The authenticated user (a token's `sub`), or null for anonymous callers. */
  user: string | null;
  /** The user's groups from REGISTRY_ACCESSCONTROL (none for external tokens). */
  groups: string[];
  /** A bearer token's `access` claim; null when no token was presented (Basic or anonymous). */
  grants: Access[] | null;
  /** How the caller was identified: Berth's own tokens are re-checked against the policy, external ones not. */
  via: "anonymous" | "basic" | "token" | "external-token";
}

export const ANONYMOUS: Identity = Object.freeze({ user: null, groups: [], grants: null, via: "anonymous" }) as Identity;

export interface AccessController {
  /** "/token" when Berth issues tokens (route GET and POST there to handleToken), else null. */
  readonly tokenPath: string | null;
  /** True when anyone may read any repository, so a blob found anywhere may be mounted (mount without `from`). */
  readonly readsEverything: boolean;
  /** Identifies the caller. Wrong Basic credentials: 401 after the fail delay; a bad token: 401 invalid_token. */
  authenticate(req: Request, url: URL): Promise<Identity>;
  /** `GET /v2/`: throws the login challenge when the mode needs credentials. */
  requireBase(id: Identity, url: URL): void;
  /**
   * Throws unless `id` may do `action` on `repo` (null: the catalog, which then filters with canRead).
   * 401 with a challenge for the scope needed when a login or a better token could help; 403 DENIED otherwise.
   */
  require(id: Identity, repo: string | null, action: Action, url: URL): void;
  /** Like require, without throwing (e.g. whether a cross-repository mount may read its source). */
  may(id: Identity, repo: string | null, action: Action): boolean;
  /** Whether `repo` shows in the catalog for `id` (after require(id, null, "read") passed). */
  canRead(id: Identity, repo: string): boolean;
  /** The admin API: throws the mode's login challenge when a login could help, else DENIED, unless `id` is an admin. */
  requireAdmin(id: Identity, url: URL): void;
  /** Serves Berth's token endpoint (at tokenPath); 404 in modes that issue no tokens. */
  handleToken(req: Request): Promise<Response>;
}

/** What the controllers take besides the configuration; tests replace the pause and the clock. */
export interface ControllerOptions {
  /** The fail-delay pause. */
  sleep?: Sleep;
  /** The current time, ms. */
  now?: () => number;
}

/** The refusal of the admin API to a caller who is known, or whom a login would not help. */
export function adminDenied(): OciError {
  return new OciError("DENIED", "the admin API is for users in the access control's adminPolicy");
}

/** The thing refused, in a DENIED message. */
export function refused(repo: string | null, action: Action): string {
  return repo === null ? "the catalog" : `${action} on repository ${repo}`;
}

/**
 * 401 UNAUTHORIZED with `challenge` as WWW-Authenticate; when the refusal is about an action, its detail
 * names the resource and Docker action, as Distribution's does.
 */
export function unauthorized(challenge: string, message: string, what: { repo?: string | null; action?: Action } = {}): OciError {
  const detail =
    what.action === undefined
      ? undefined
      : what.repo === null || what.repo === undefined
        ? [{ Type: "registry", Name: "catalog", Action: "*" }]
        : [{ Type: "repository", Name: what.repo, Action: dockerActionFor(what.action) }];
  return new OciError("UNAUTHORIZED", message, { headers: { "WWW-Authenticate": challenge }, detail });
}
