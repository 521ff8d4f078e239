// REGISTRY_AUTH=token: Docker's token flow. /v2/ takes only Bearer tokens, as Distribution does (clients fetch
// them from the realm, with Basic there); Basic on /v2/ is ignored, so the caller gets the Bearer challenge.
// A token is Berth's own (its key, BERTH_AUTH_TOKEN_ISSUER; re-checked against the policy on every request,
// so a policy change takes effect before the token expires) or an external issuer's (REGISTRY_AUTH_TOKEN_
// ISSUER with its JWKS or certificates; its grants are trusted as issued). Refusals are 401 with the Bearer
// challenge naming the scope needed (and `insufficient_scope` or `invalid_token` when a token was presented),
// or 403 DENIED when the caller is a known user and the policy itself says no.

import type { Action } from "../../../config/access";
import type { AuthConfig, TokenSettings } from "../../../config/auth";
import { OciError } from "../../../oci/errors";
import { adminAllows, policyAllows } from "../access";
import { adminDenied, ANONYMOUS, refused, unauthorized, type AccessController, type Identity } from "../controller";
import { JwtError, parseJwt, verifyJwt } from "../jwt";
import type { TrustedKey } from "../keys";
import { runtimeFor, serviceFor, type AuthRuntime, type Sleep } from "../runtime";
import { challengeScope, grantsCover, readAccessClaim } from "../scope";
import { handleTokenRequest } from "../token-endpoint";

export class TokenAccess implements AccessController {
  readonly tokenPath: string | null;
  readonly readsEverything = false;
  private readonly rt: AuthRuntime;
  private readonly tcfg: TokenSettings;

  constructor(
    private readonly cfg: AuthConfig,
    private readonly opts: { sleep: Sleep; now: () => number },
  ) {
    this.rt = runtimeFor(cfg);
    this.tcfg = cfg.token!;
    this.tokenPath = this.tcfg.signingKey ? "/token" : null;
  }

  async authenticate(req: Request, url: URL): Promise<Identity> {
    const header = req.headers.get("Authorization");
    if (header === null) return ANONYMOUS;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!m) return ANONYMOUS;
    try {
      return await this.verifyBearer(m[1]!, url);
    } catch (e) {
      if (e instanceof JwtError) throw this.unauthorized(e.message, url, { error: "invalid_token" });
      throw e;
    }
  }

  requireBase(id: Identity, url: URL): void {
    if (id.grants === null) throw this.unauthorized("authentication required", url);
  }

  require(id: Identity, repo: string | null, action: Action, url: URL): void {
    if (this.may(id, repo, action)) return;
    if (id.grants === null) throw this.unauthorized("authentication required", url, { repo, action });
    if (id.via === "token" && !this.policy(id, repo, action)) {
      // The policy itself says no: a new token would not help a known user.
      if (id.user !== null) throw new OciError("DENIED", `${refused(repo, action)} is denied for user ${id.user}`);
      throw this.unauthorized("authentication required", url, { repo, action });
    }
    throw this.unauthorized("the token does not grant this access", url, { repo, action, error: "insufficient_scope" });
  }

  may(id: Identity, repo: string | null, action: Action): boolean {
    if (id.grants === null || !grantsCover(id.grants, repo, action)) return false;
    // Berth's own tokens are re-checked: a policy change takes effect before the token expires.
    return id.via === "external-token" || this.policy(id, repo, action);
  }

  /** External tokens: the issuer granted the catalog, so every repository shows, as in Distribution. */
  canRead(id: Identity, repo: string): boolean {
    if (id.via === "external-token") return true;
    if (id.grants === null) return false;
    return this.policy(id, repo, "read");
  }

  requireAdmin(id: Identity, url: URL): void {
    if (adminAllows(this.cfg.access, id.user, id.groups)) return;
    if (id.user === null) this.requireBase(id, url); // a login could help: the challenge
    throw adminDenied();
  }

  handleToken(req: Request): Promise<Response> {
    return handleTokenRequest(req, this.cfg, this.opts.now(), { sleep: this.opts.sleep });
  }

  private policy(id: Identity, repo: string | null, action: Action): boolean {
    return policyAllows("token", this.cfg.access, id.user, id.groups, repo, action);
  }

  /** Parses the token once, chooses the keys by its issuer, and verifies it with them. */
  private async verifyBearer(token: string, url: URL): Promise<Identity> {
    const jwt = parseJwt(token);
    const iss = jwt.claims.iss;
    const own = await this.rt.signingKey();
    let via: Identity["via"];
    let keys: readonly TrustedKey[];
    if (own !== null && iss === this.tcfg.ownIssuer) {
      via = "token";
      keys = [own.publicKey];
    } else if (this.tcfg.external !== null && iss === this.tcfg.external.issuer) {
      via = "external-token";
      keys = await this.rt.externalKeys();
    } else {
      throw new JwtError("untrusted issuer");
    }
    const claims = await verifyJwt(jwt, { keys, issuer: iss as string, audience: serviceFor(this.cfg, url), nowMs: this.opts.now() });
    if (claims.berth_use !== undefined) throw new JwtError("not an access token");
    const grants = readAccessClaim(claims.access);
    if (grants === null) throw new JwtError("malformed access claim");
    const user = typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : null;
    return { user, groups: via === "token" ? (this.cfg.access?.groupsOf(user) ?? []) : [], grants, via };
  }

  /** 401 with the Bearer challenge: the scope needed, and an RFC 6750 error code if any. */
  private unauthorized(
    message: string,
    url: URL,
    opts: { repo?: string | null; action?: Action; error?: "invalid_token" | "insufficient_scope" } = {},
  ): OciError {
    const realm = this.tcfg.realm ?? `${url.origin}/token`;
    let challenge = `Bearer realm="${realm}",service="${serviceFor(this.cfg, url)}"`;
    if (opts.action !== undefined) challenge += `,scope="${challengeScope(opts.repo ?? null, opts.action)}"`;
    if (opts.error !== undefined) challenge += `,error="${opts.error}"`;
    return unauthorized(challenge, message, opts);
  }
}
