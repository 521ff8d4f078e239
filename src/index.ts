// Berth's Worker entry: every request goes through here. Configuration is parsed once per isolate (a bad
// setting fails every request with a message naming it), the storage layer and the authenticator are built
// from it, the caller is identified, and the route table does the rest. Exports the upload-session Durable
// Object class.

import { parseConfig, type Config } from "./config";
import { Auth, type Identity } from "./http/auth";
import { errorResponse, withCommonHeaders } from "./http/respond";
import { route } from "./http/router";
import type { AccessGuard, RegistryContext } from "./registry/context";
import { UploadHints } from "./registry/upload-hints";
import { createStorage, type Storage } from "./storage";
import { discardBody } from "./streams/body";
import { sessionName, type UploadSessionRpc } from "./uploads/protocol";

/** Refused request bodies are read and dropped up to this size, then cut off. */
const REFUSED_BODY_DRAIN_LIMIT = 64 * 1024 * 1024;

export { UploadSession } from "./uploads/session";

interface Env {
  UPLOAD_SESSIONS: DurableObjectNamespace;
  [setting: string]: unknown;
}

interface Setup {
  env: Env;
  cfg: Config;
  storage: Storage;
  auth: Auth;
  hints: UploadHints;
}

let cached: Setup | null = null;

function setup(env: Env): Setup {
  if (cached?.env !== env) {
    const cfg = parseConfig(env);
    cached = { env, cfg, storage: createStorage(cfg), auth: new Auth(cfg.auth), hints: new UploadHints() };
  }
  return cached;
}

function guardFor(auth: Auth, cfg: Config, id: Identity, url: URL): AccessGuard {
  return {
    requireBase: () => auth.requireBase(id, url),
    require: (repo, action) => auth.require(id, repo, action, url),
    may: (repo, action) => auth.may(id, repo, action),
    canRead: (repo) => auth.canRead(id, repo),
    readsEverything: cfg.auth.mode === "none" && cfg.auth.access === null,
  };
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    try {
      const url = new URL(req.url);
      const { cfg, storage, auth, hints } = setup(env);
      if (auth.tokenPath !== null && url.pathname === auth.tokenPath) return withCommonHeaders(await auth.handleToken(req));
      const id = await auth.authenticate(req, url);
      const ctx: RegistryContext = {
        cfg,
        storage,
        hints,
        url,
        access: guardFor(auth, cfg, id, url),
        session: (repo, uuid) =>
          env.UPLOAD_SESSIONS.get(env.UPLOAD_SESSIONS.idFromName(sessionName(repo, uuid))) as unknown as UploadSessionRpc,
      };
      return withCommonHeaders(await route(req, ctx));
    } catch (e) {
      // A body nobody read (a refused upload chunk, a manifest too large) is drained first, or the client
      // would see its connection closed instead of the error.
      if (req.body) await discardBody(req.body, REFUSED_BODY_DRAIN_LIMIT);
      return errorResponse(e, req.method);
    }
  },
} satisfies ExportedHandler<Env>;
