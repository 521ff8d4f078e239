// REGISTRY_AUTH=htpasswd: HTTP Basic on every request, checked against REGISTRY_AUTH_HTPASSWD. Callers without
// credentials are anonymous: REGISTRY_ACCESSCONTROL may let them read, otherwise they get the Basic challenge
// (401), as does `GET /v2/`. A known user the policy refuses gets 403 DENIED.

import type { Action } from "../../../config/access";
import type { AuthConfig } from "../../../config/auth";
import { OciError } from "../../../oci/errors";
import { adminAllows, policyAllows } from "../access";
import { adminDenied, ANONYMOUS, refused, unauthorized, type AccessController, type Identity } from "../controller";
import { parseBasic } from "../htpasswd";
import { runtimeFor, type AuthRuntime, type Sleep } from "../runtime";
import { handleTokenRequest } from "../token-endpoint";

export class HtpasswdAccess implements AccessController {
  readonly tokenPath = null;
  readonly readsEverything = false;
  private readonly rt: AuthRuntime;
  private readonly challenge: string;

  constructor(
    private readonly cfg: AuthConfig,
    private readonly opts: { sleep: Sleep; now: () => number },
  ) {
    this.rt = runtimeFor(cfg);
    this.challenge = `Basic realm="${cfg.htpasswdRealm}"`;
  }

  async authenticate(req: Request, url: URL): Promise<Identity> {
    const header = req.headers.get("Authorization");
    if (header === null) return ANONYMOUS;
    const creds = parseBasic(header);
    // skopeo, podman and buildah (containers/image) answer a Basic challenge without credentials with
    // `Basic Og==` (empty user and password): that names nobody, so it is an anonymous caller, or their
    // anonymous pulls of public repositories would fail as a wrong login (found by test/e2e/auth-clients).
    if (creds !== null && creds.user === "" && creds.password === "") return ANONYMOUS;
    if (creds === null || !(await this.rt.passwords.verify(creds.user, creds.password, this.opts.now()))) {
      await this.opts.sleep(this.cfg.failDelayMs);
      throw unauthorized(this.challenge, "authentication failed");
    }
    return { user: creds.user, groups: this.cfg.access?.groupsOf(creds.user) ?? [], grants: null, via: "basic" };
  }

  requireBase(id: Identity): void {
    if (id.user === null) throw unauthorized(this.challenge, "authentication required");
  }

  require(id: Identity, repo: string | null, action: Action): void {
    if (this.may(id, repo, action)) return;
    if (id.user === null) throw unauthorized(this.challenge, "authentication required", { repo, action });
    throw new OciError("DENIED", `${refused(repo, action)} is denied for user ${id.user}`);
  }

  may(id: Identity, repo: string | null, action: Action): boolean {
    return policyAllows("htpasswd", this.cfg.access, id.user, id.groups, repo, action);
  }

  canRead(id: Identity, repo: string): boolean {
    return this.may(id, repo, "read");
  }

  requireAdmin(id: Identity): void {
    if (adminAllows(this.cfg.access, id.user, id.groups)) return;
    if (id.user === null) this.requireBase(id); // a login could help: the challenge
    throw adminDenied();
  }

  handleToken(req: Request): Promise<Response> {
    return handleTokenRequest(req, this.cfg, this.opts.now(), { sleep: this.opts.sleep });
  }
}
