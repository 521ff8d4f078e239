// The one entry point of authentication and access control for the router: who is calling
// (`authenticate`), whether they may do what they ask (`requireBase`, `require`, `may`, `canRead`), and Berth's
// token endpoint (`tokenPath`, `handleToken`). Refusals are OciErrors: UNAUTHORIZED (401, with the
// WWW-Authenticate challenge clients rely on) when logging in could help, DENIED (403) when the caller is
// known and the policy says no.
//
// Modes: `htpasswd` takes HTTP Basic on every request. `token` takes only Bearer tokens on /v2/, as
// Distribution does (clients fetch them from the realm, with Basic there); Basic on /v2/ is ignored, so the
// caller gets the Bearer challenge. `none` lets everyone in (REGISTRY_ACCESSCONTROL still applies, to
// anonymous callers). `unset` (no REGISTRY_AUTH) serves reads and refuses writes, saying why.
// Nothing here logs a credential, a token or an Authorization header.

import type { Action } from "../../config/access";
import { OciError } from "../../oci/errors";
import { policyAllows } from "./access";
import type { AuthConfig } from "../../config/auth";
import { parseBasic } from "./htpasswd";
import { JwtError, parseJwt, verifyJwt } from "./jwt";
import type { TrustedKey } from "./keys";
import { realSleep, runtimeFor, serviceFor, type AuthRuntime, type Sleep } from "./runtime";
import { challengeScope, dockerActionFor, grantsCover, readAccessClaim, type Access } from "./scope";
import { handleTokenRequest } from "./token-endpoint";

export type { AuthConfig } from "../../config/auth";
export { parseAuthConfig } from "../../config/auth";
export type { Action } from "../../config/access";
export type { Access } from "./scope";

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

const ANONYMOUS: Identity = Object.freeze({ user: null, groups: [], grants: null, via: "anonymous" }) as Identity;

export class Auth {
  /** "/token" when Berth issues tokens (route GET and POST there to handleToken), else null. */
  readonly tokenPath: string | null;
  private readonly rt: AuthRuntime;
  private readonly sleep: Sleep;
  private readonly now: () => number;

  constructor(
    private readonly cfg: AuthConfig,
    opts: { sleep?: Sleep; now?: () => number } = {},
  ) {
    this.rt = runtimeFor(cfg);
    this.sleep = opts.sleep ?? realSleep;
    this.now = opts.now ?? Date.now;
    this.tokenPath = cfg.mode === "token" && cfg.token?.signingKey ? "/token" : null;
  }

  /** Identifies the caller. Wrong Basic credentials: 401 after the fail delay; a bad token: 401 invalid_token. */
  async authenticate(req: Request, url: URL): Promise<Identity> {
    const header = req.headers.get("Authorization");
    if (header === null || this.cfg.mode === "none" || this.cfg.mode === "unset") return ANONYMOUS;
    if (this.cfg.mode === "htpasswd") {
      const creds = parseBasic(header);
      // skopeo, podman and buildah (containers/image) answer a Basic challenge without credentials with
      // `Basic Og==` (empty user and password): that names nobody, so it is an anonymous caller, or their
      // anonymous pulls of public repositories would fail as a wrong login (found by test/e2e/auth-clients).
      if (creds !== null && creds.user === "" && creds.password === "") return ANONYMOUS;
      if (creds === null || !(await this.rt.passwords.verify(creds.user, creds.password, this.now()))) {
        await this.sleep(this.cfg.failDelayMs);
        throw this.unauthorized("authentication failed", url);
      }
      return { user: creds.user, groups: this.groupsOf(creds.user), grants: null, via: "basic" };
    }
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!m) return ANONYMOUS;
    try {
      return await this.verifyBearer(m[1]!, url);
    } catch (e) {
      if (e instanceof JwtError) throw this.unauthorized(e.message, url, { error: "invalid_token" });
      throw e;
    }
  }

  /** `GET /v2/`: in htpasswd and token modes, callers without credentials get the challenge. */
  requireBase(id: Identity, url: URL): void {
    if (this.cfg.mode === "htpasswd" && id.user === null) throw this.unauthorized("authentication required", url);
    if (this.cfg.mode === "token" && id.grants === null) throw this.unauthorized("authentication required", url);
  }

  /**
   * Throws unless `id` may do `action` on `repo` (null: the catalog, which then filters with canRead).
   * 401 with a challenge for the scope needed when a login or a better token could help; 403 DENIED otherwise.
   */
  require(id: Identity, repo: string | null, action: Action, url: URL): void {
    if (this.may(id, repo, action)) return;
    const what = repo === null ? "the catalog" : `${action} on repository ${repo}`;
    switch (this.cfg.mode) {
      case "unset":
        throw new OciError(
          "DENIED",
          "this registry has no authentication configured, so it refuses writes: set REGISTRY_AUTH to htpasswd or token (or none, to allow anonymous writes on purpose)",
        );
      case "none":
        throw new OciError("DENIED", `${what} is denied by the access policy`);
      case "htpasswd":
        if (id.user === null) throw this.unauthorized("authentication required", url, { repo, action });
        throw new OciError("DENIED", `${what} is denied for user ${id.user}`);
      case "token": {
        if (id.grants === null) throw this.unauthorized("authentication required", url, { repo, action });
        if (id.via === "token" && !this.policy(id, repo, action)) {
          // The policy itself says no: a new token would not help a known user.
          if (id.user !== null) throw new OciError("DENIED", `${what} is denied for user ${id.user}`);
          throw this.unauthorized("authentication required", url, { repo, action });
        }
        throw this.unauthorized("the token does not grant this access", url, { repo, action, error: "insufficient_scope" });
      }
    }
  }

  /** Like require, without throwing (e.g. whether a cross-repository mount may read its source). */
  may(id: Identity, repo: string | null, action: Action): boolean {
    if (this.cfg.mode !== "token") return this.policy(id, repo, action);
    if (id.grants === null || !grantsCover(id.grants, repo, action)) return false;
    // Berth's own tokens are re-checked: a policy change takes effect before the token expires.
    return id.via === "external-token" || this.policy(id, repo, action);
  }

  /**
   * Whether `repo` shows in the catalog for `id` (after require(id, null, "read") passed). External tokens:
   * the issuer granted the catalog, so every repository shows, as in Distribution.
   */
  canRead(id: Identity, repo: string): boolean {
    if (this.cfg.mode === "token" && id.via === "external-token") return true;
    if (this.cfg.mode === "token" && id.grants === null) return false;
    return this.policy(id, repo, "read");
  }

  /** Serves Berth's token endpoint (at tokenPath). */
  handleToken(req: Request): Promise<Response> {
    return handleTokenRequest(req, this.cfg, this.now(), { sleep: this.sleep });
  }

  private policy(id: Identity, repo: string | null, action: Action): boolean {
    return policyAllows(this.cfg.mode, this.cfg.access, id.user, id.groups, repo, action);
  }

  private groupsOf(user: string | null): string[] {
    return this.cfg.access?.groupsOf(user) ?? [];
  }

  /** Parses the token once, chooses the keys by its issuer, and verifies it with them. */
  private async verifyBearer(token: string, url: URL): Promise<Identity> {
    const tcfg = this.cfg.token!;
    const service = serviceFor(this.cfg, url);
    const jwt = parseJwt(token);
    const iss = jwt.claims.iss;
    const own = await this.rt.signingKey();
    let via: Identity["via"];
    let keys: readonly TrustedKey[];
    if (own !== null && iss === tcfg.ownIssuer) {
      via = "token";
      keys = [own.publicKey];
    } else if (tcfg.external !== null && iss === tcfg.external.issuer) {
      via = "external-token";
      keys = await this.rt.externalKeys();
    } else {
      throw new JwtError("untrusted issuer");
    }
    const claims = await verifyJwt(jwt, { keys, issuer: iss as string, audience: service, nowMs: this.now() });
    if (claims.berth_use !== undefined) throw new JwtError("not an access token");
    const grants = readAccessClaim(claims.access);
    if (grants === null) throw new JwtError("malformed access claim");
    const user = typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : null;
    return { user, groups: via === "token" ? this.groupsOf(user) : [], grants, via };
  }

  /** 401 with the mode's challenge; for token mode, the scope needed and an RFC 6750 error code if any. */
  private unauthorized(
    message: string,
    url: URL,
    opts: { repo?: string | null; action?: Action; error?: "invalid_token" | "insufficient_scope" } = {},
  ): OciError {
    let challenge: string;
    if (this.cfg.mode === "token") {
      const realm = this.cfg.token?.realm ?? `${url.origin}/token`;
      challenge = `Bearer realm="${realm}",service="${serviceFor(this.cfg, url)}"`;
      if (opts.action !== undefined) challenge += `,scope="${challengeScope(opts.repo ?? null, opts.action)}"`;
      if (opts.error !== undefined) challenge += `,error="${opts.error}"`;
    } else {
      challenge = `Basic realm="${this.cfg.htpasswdRealm}"`;
    }
    const detail =
      opts.action === undefined
        ? undefined
        : opts.repo === null || opts.repo === undefined
          ? [{ Type: "registry", Name: "catalog", Action: "*" }]
          : [{ Type: "repository", Name: opts.repo, Action: dockerActionFor(opts.action) }];
    return new OciError("UNAUTHORIZED", message, { headers: { "WWW-Authenticate": challenge }, detail });
  }
}
