// REGISTRY_AUTH unset: a deployed registry is never open by accident. Everyone is anonymous (credentials are
// not looked at); reads pass where REGISTRY_ACCESSCONTROL lets anonymous callers read (everywhere without a
// policy), and every write is refused with a DENIED that tells the operator to choose a mode.

import type { Action } from "../../../config/access";
import type { AuthConfig } from "../../../config/auth";
import { OciError } from "../../../oci/errors";
import { policyAllows } from "../access";
import { adminDenied, ANONYMOUS, type AccessController, type Identity } from "../controller";
import type { Sleep } from "../runtime";
import { handleTokenRequest } from "../token-endpoint";

export class UnsetAccess implements AccessController {
  readonly tokenPath = null;
  // Anyone may read, but nothing may be written, so nothing is ever mounted either.
  readonly readsEverything = false;

  constructor(
    private readonly cfg: AuthConfig,
    private readonly opts: { sleep: Sleep; now: () => number },
  ) {}

  async authenticate(): Promise<Identity> {
    return ANONYMOUS;
  }

  requireBase(): void {}

  require(id: Identity, repo: string | null, action: Action): void {
    if (this.may(id, repo, action)) return;
    throw new OciError(
      "DENIED",
      "this registry has no authentication configured, so it refuses writes: set REGISTRY_AUTH to htpasswd or token (or none, to allow anonymous writes on purpose)",
    );
  }

  may(id: Identity, repo: string | null, action: Action): boolean {
    return policyAllows("unset", this.cfg.access, id.user, id.groups, repo, action);
  }

  canRead(id: Identity, repo: string): boolean {
    return this.may(id, repo, "read");
  }

  /** Nobody: without authentication nobody can be told apart. */
  requireAdmin(): void {
    throw adminDenied();
  }

  handleToken(req: Request): Promise<Response> {
    return handleTokenRequest(req, this.cfg, this.opts.now(), { sleep: this.opts.sleep });
  }
}
