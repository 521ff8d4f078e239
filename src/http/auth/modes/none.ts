// REGISTRY_AUTH=none: everyone is anonymous (credentials are not looked at) and may do anything, unless
// REGISTRY_ACCESSCONTROL says otherwise, whose anonymousPolicy then decides; its refusals are DENIED, since
// no login could help.

import type { Action } from "../../../config/access";
import type { AuthConfig } from "../../../config/auth";
import { OciError } from "../../../oci/errors";
import { policyAllows } from "../access";
import { ANONYMOUS, refused, type AccessController, type Identity } from "../controller";
import type { Sleep } from "../runtime";
import { handleTokenRequest } from "../token-endpoint";

export class NoneAccess implements AccessController {
  readonly tokenPath = null;
  readonly readsEverything: boolean;

  constructor(
    private readonly cfg: AuthConfig,
    private readonly opts: { sleep: Sleep; now: () => number },
  ) {
    this.readsEverything = cfg.access === null;
  }

  async authenticate(): Promise<Identity> {
    return ANONYMOUS;
  }

  requireBase(): void {}

  require(id: Identity, repo: string | null, action: Action): void {
    if (this.may(id, repo, action)) return;
    throw new OciError("DENIED", `${refused(repo, action)} is denied by the access policy`);
  }

  may(id: Identity, repo: string | null, action: Action): boolean {
    return policyAllows("none", this.cfg.access, id.user, id.groups, repo, action);
  }

  canRead(id: Identity, repo: string): boolean {
    return this.may(id, repo, "read");
  }

  /** Everyone, as with every other action (a local or private registry). */
  requireAdmin(): void {}

  handleToken(req: Request): Promise<Response> {
    return handleTokenRequest(req, this.cfg, this.opts.now(), { sleep: this.opts.sleep });
  }
}
