// Authentication and access control, as the router uses them: createAccessController builds the one
// AccessController of the configured REGISTRY_AUTH mode (controller.ts says what it answers; modes/ holds one
// module per mode). Modes: `htpasswd` takes HTTP Basic on every request; `token` takes Bearer tokens on /v2/
// (Berth's own, from its token endpoint, or an external issuer's); `none` lets everyone in
// (REGISTRY_ACCESSCONTROL still applies, to anonymous callers); `unset` (no REGISTRY_AUTH) serves reads and
// refuses writes, saying why. Nothing here logs a credential, a token or an Authorization header.

import type { AuthConfig } from "../../config/auth";
import type { AccessGuard } from "../../registry/context";
import type { AccessController, ControllerOptions, Identity } from "./controller";
import { HtpasswdAccess } from "./modes/htpasswd";
import { NoneAccess } from "./modes/none";
import { TokenAccess } from "./modes/token";
import { UnsetAccess } from "./modes/unset";
import { realSleep } from "./runtime";

export type { Action } from "../../config/access";
export type { AuthConfig } from "../../config/auth";
export { parseAuthConfig } from "../../config/auth";
export type { AccessController, ControllerOptions, Identity } from "./controller";
export { ANONYMOUS } from "./controller";
export type { Access } from "./scope";

/** The access controller of `cfg.auth`'s mode. `opts` replaces the fail-delay pause and the clock (tests). */
export function createAccessController(cfg: AuthConfig, opts: ControllerOptions = {}): AccessController {
  const o = { sleep: opts.sleep ?? realSleep, now: opts.now ?? Date.now };
  switch (cfg.mode) {
    case "unset":
      return new UnsetAccess(cfg, o);
    case "none":
      return new NoneAccess(cfg, o);
    case "htpasswd":
      return new HtpasswdAccess(cfg, o);
    case "token":
      return new TokenAccess(cfg, o);
  }
}

/** The controller's decisions bound to one caller and request URL: what handlers ask (RegistryContext.access). */
export function accessGuard(auth: AccessController, id: Identity, url: URL): AccessGuard {
  return {
    requireBase: () => auth.requireBase(id, url),
    require: (repo, action) => auth.require(id, repo, action, url),
    may: (repo, action) => auth.may(id, repo, action),
    canRead: (repo) => auth.canRead(id, repo),
    readsEverything: auth.readsEverything,
    requireAdmin: () => auth.requireAdmin(id, url),
  };
}
