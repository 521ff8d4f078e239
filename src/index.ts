// Berth's Worker entry: every request and every Cron Trigger comes through here. Configuration is parsed
// once per isolate (a bad setting fails every request with a message naming it), the storage layer and the
// access controller are built from it, the caller is identified, the request's context is put together, and
// the route table does the rest. Exports the Durable Object classes: upload sessions, repository metadata
// writers, the job coordinator and the event outboxes (notifications).

import { parseConfig, type Config } from "./config";
import { createAccessController, type AccessController, type Identity } from "./http/auth";
import { errorResponse, withCommonHeaders } from "./http/respond";
import { route } from "./http/router";
import { outboxName, type EventOutboxRpc } from "./events/protocol";
import { withUi } from "./http/ui";
import type { JobCoordinatorRpc } from "./jobs/protocol";
import { setLogLevel } from "./log";
import type { RepositoryMetadataRpc } from "./metadata/protocol";
import type { AccessGuard, RegistryContext, RequestInfo } from "./registry/context";
import { Notifier } from "./registry/notify";
import { PullRecorder } from "./registry/pulls";
import { readListeners, type ReadListener } from "./registry/reads";
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
export { EventOutbox } from "./events/object";

interface Env {
  UPLOAD_SESSIONS: DurableObjectNamespace;
  JOBS: DurableObjectNamespace;
  REPOSITORY_METADATA: DurableObjectNamespace;
  EVENTS: DurableObjectNamespace;
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
  reads: ReadListener;
}

let cached: Setup | null = null;

function setup(env: Env): Setup {
  if (cached?.env !== env) {
    const cfg = parseConfig(env);
    setLogLevel(cfg.observability.logLevel);
    // Notifications listen at the seams only when an endpoint is configured: otherwise they cost nothing.
    const notifier = cfg.notifications.endpoints.length > 0 ? new Notifier(cfg.notifications, (shard) => outbox(env, shard)) : null;
    const storage = createStorage(cfg.s3);
    // Pull times are recorded only for retention policies to read.
    const pulls = cfg.gc.retention ? new PullRecorder(storage.pulls) : null;
    cached = {
      env,
      cfg,
      storage,
      auth: createAccessController(cfg.auth),
      hints: new UploadHints(),
      writes: notifier ?? NO_LISTENER,
      reads: readListeners(notifier, pulls),
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
    origin: url.origin,
  };
}

/** One of the event outboxes (src/events). */
function outbox(env: Env, shard: number): EventOutboxRpc {
  return env.EVENTS.get(env.EVENTS.idFromName(outboxName(shard))) as unknown as EventOutboxRpc;
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
      const { cfg, storage, auth, hints, writes, reads, fence } = setup(env);
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
        outbox: (shard) => outbox(env, shard),
        waitUntil: (work) => exec.waitUntil(work),
        written: (...events) => writes.record(events, request),
        pulled: (event) => reads.pulled(event, request, (work) => exec.waitUntil(work)),
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
