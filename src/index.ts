// Berth's Worker entry: every request goes through here. Configuration is parsed once per isolate (a bad
// setting fails every request with a message naming it), the storage layer is built from it, and the
// route table does the rest. Exports the upload-session Durable Object class.

import { parseConfig, type Config } from "./config";
import { errorResponse, withCommonHeaders } from "./http/respond";
import { route } from "./http/router";
import type { RegistryContext } from "./registry/context";
import { createStorage, type Storage } from "./storage";
import { sessionName, type UploadSessionRpc } from "./uploads/protocol";

export { UploadSession } from "./uploads/session";

interface Env {
  UPLOAD_SESSIONS: DurableObjectNamespace;
  [setting: string]: unknown;
}

let cached: { env: Env; cfg: Config; storage: Storage } | null = null;

function setup(env: Env): { cfg: Config; storage: Storage } {
  if (cached?.env !== env) {
    const cfg = parseConfig(env);
    cached = { env, cfg, storage: createStorage(cfg) };
  }
  return cached;
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    try {
      const url = new URL(req.url);
      const { cfg, storage } = setup(env);
      const ctx: RegistryContext = {
        cfg,
        storage,
        url,
        session: (repo, uuid) =>
          env.UPLOAD_SESSIONS.get(env.UPLOAD_SESSIONS.idFromName(sessionName(repo, uuid))) as unknown as UploadSessionRpc,
      };
      return withCommonHeaders(await route(req, ctx));
    } catch (e) {
      return errorResponse(e, req.method);
    }
  },
} satisfies ExportedHandler<Env>;
