// Berth's Worker entry: every request and every Cron Trigger comes through here. Configuration is parsed
// once per isolate (a bad setting fails every request with a message naming it), the storage layer and the
// access controller are built from it, the caller is identified, the request's context is put together, and
// the route table does the rest. Exports the Durable Object classes: upload sessions, repository metadata
// writers and the job coordinator.

import { parseConfig, type Config } from "./config";
import { createAccessController, type AccessController, type Identity } from "./http/auth";
import { errorResponse, withCommonHeaders } from "./http/respond";
import { route } from "./http/router";
import { withUi } from "./http/ui";
import type { JobCoordinatorRpc } from "./jobs/protocol";
import type { RepositoryMetadataRpc } from "./metadata/protocol";
import type { AccessGuard, RegistryContext, RequestInfo } from "./registry/context";
import { UploadHints } from "./registry/upload-hints";
import { NO_LISTENER, type WriteListener } from "./registry/writes";
import { createStorage, type Storage } from "./storage";
import { SweepFence } from "./storage/sweep-fence";
import { discardBody } from "./streams/body";
import { sessionName, type UploadSessionRpc } from "./uploads/protocol";

/** Refused request bodies are read and dropped up to this size, then cut off. */
const REFUSED_BODY_DRAIN_LIMIT = 64 * 1024 * 1024;

export { UploadSession } from "./uploads/session";
export { JobCoordinator } from "./jobs/coordinator";
export { RepositoryMetadata } from "./metadata/object";

interface Env {
  UPLOAD_SESSIONS: DurableObjectNamespace;
  JOBS: DurableObjectNamespace;
  REPOSITORY_METADATA: DurableObjectNamespace;
  [setting: string]: unknown;
}

interface Setup {
  env: Env;
  cfg: Config;
  storage: Storage;
  auth: AccessController;
  hints: UploadHints;
  writes: WriteListener;
  fence: SweepFence;
}

let cached: Setup | null = null;

function setup(env: Env): Setup {
  if (cached?.env !== env) {
    const cfg = parseConfig(env);
    cached = {
      env,
      cfg,
      storage: createStorage(cfg.s3),
      auth: createAccessController(cfg.auth),
      hints: new UploadHints(),
      writes: NO_LISTENER,
      fence: new SweepFence(() => coordinator(env)),
    };
  }
  return cached;
}

function guardFor(auth: AccessController, id: Identity, url: URL): AccessGuard {
  return {
    requireBase: () => auth.requireBase(id, url),
    require: (repo, action) => auth.require(id, repo, action, url),
    may: (repo, action) => auth.may(id, repo, action),
    canRead: (repo) => auth.canRead(id, repo),
    readsEverything: auth.readsEverything,
    requireAdmin: () => auth.requireAdmin(id, url),
  };
}

function requestInfo(req: Request, url: URL, id: Identity): RequestInfo {
  return {
    id: req.headers.get("cf-ray") ?? crypto.randomUUID(),
    caller: { user: id.user, groups: id.groups, anonymous: id.user === null },
    clientAddress: req.headers.get("cf-connecting-ip"),
    userAgent: req.headers.get("user-agent"),
    method: req.method,
    host: url.host,
  };
}

/** The one job coordinator of this registry's bucket. */
function coordinator(env: Env): JobCoordinatorRpc {
  return env.JOBS.get(env.JOBS.idFromName("coordinator")) as unknown as JobCoordinatorRpc;
}

// withUi: the web UI outside /v2/ (BERTH_UI) and CORS on /v2/ (BERTH_CORS_ORIGINS), see http/ui.ts.
export default withUi({
  async fetch(req: Request, env: Env, exec: ExecutionContext): Promise<Response> {
    try {
      const url = new URL(req.url);
      const { cfg, storage, auth, hints, writes, fence } = setup(env);
      if (auth.tokenPath !== null && url.pathname === auth.tokenPath) return withCommonHeaders(await auth.handleToken(req));
      const id = await auth.authenticate(req, url);
      const request = requestInfo(req, url, id);
      const ctx: RegistryContext = {
        cfg,
        storage,
        hints,
        url,
        request,
        access: guardFor(auth, id, url),
        session: (repo, uuid) =>
          env.UPLOAD_SESSIONS.get(env.UPLOAD_SESSIONS.idFromName(sessionName(repo, uuid))) as unknown as UploadSessionRpc,
        metadata: (repo) =>
          env.REPOSITORY_METADATA.get(env.REPOSITORY_METADATA.idFromName(repo)) as unknown as RepositoryMetadataRpc,
        jobs: () => coordinator(env),
        fence,
        waitUntil: (work) => exec.waitUntil(work),
        written: (event) => writes.record(event, request),
      };
      return withCommonHeaders(await route(req, ctx));
    } catch (e) {
      // A body nobody read (a refused upload chunk, a manifest too large) is drained first, or the client
      // would see its connection closed instead of the error.
      if (req.body) await discardBody(req.body, REFUSED_BODY_DRAIN_LIMIT);
      return errorResponse(e, req.method);
    }
  },

  /** Cron Triggers (wrangler.toml [triggers]): start each scheduled job; the coordinator runs it in steps. */
  async scheduled(_controller: ScheduledController, env: Env, exec: ExecutionContext): Promise<void> {
    setup(env); // a bad setting fails here, loudly, as it fails every request
    exec.waitUntil(coordinator(env).tick());
  },
} satisfies ExportedHandler<Env>);
