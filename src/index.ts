// Berth's Worker entry: every request and every Cron Trigger comes through here. Configuration is parsed
// once per isolate (a bad setting fails every request with a message naming it), the storage layer and the
// access controller are built from it, the caller is identified, the request's context is put together, and
// the route table does the rest. When the answer is known, this is also the one place that writes the
// request's audit line (http/audit.ts) and counts its metrics (http/observe.ts, flushed in batches to the
// metrics object). Exports the Durable Object classes: upload sessions, repository metadata writers, the job
// coordinator, the event outboxes (notifications) and the metrics object.

import { parseConfig, type Config } from "./config";
import { usesPullTimes } from "./config/retention";
import { ANONYMOUS, accessGuard, createAccessController, type AccessController, type Identity } from "./http/auth";
import { audit, auditFill } from "./http/audit";
import { countMirror, countRequest, dataPoint, type DataPointSink } from "./http/observe";
import { routeOf, type RequestOutcome } from "./http/outcome";
import { errorResponse, withCommonHeaders } from "./http/respond";
import { route } from "./http/router";
import { outboxName, type EventOutboxRpc } from "./events/protocol";
import { withUi } from "./http/ui";
import type { JobCoordinatorRpc } from "./jobs/protocol";
import { describeError, log, setLogLevel } from "./log";
import { isolateFlusher, isolateTally } from "./metrics/flush";
import { metricsObject } from "./metrics/protocol";
import type { BlobFillRpc } from "./metadata/fills";
import type { RepositoryMetadataRpc } from "./metadata/protocol";
import type { RegistryContext, RequestInfo } from "./registry/context";
import { Notifier } from "./registry/notify";
import { PullRecorder } from "./registry/pulls";
import { readListeners, type ReadListener } from "./registry/reads";
import { UploadHints } from "./registry/upload-hints";
import { NO_LISTENER, type WriteEvent, type WriteListener } from "./registry/writes";
import type { ReadEvent } from "./registry/reads";
import { OciError } from "./oci/errors";
import { timingSafeEqual } from "./oci/digest";
import { createStorage, edgeScope, type Storage } from "./storage";
import { NO_EDGE_CACHE, workersEdgeCache } from "./storage/edge-cache";
import { SweepFence } from "./storage/sweep-fence";
import { discardBody } from "./streams/body";
import { sessionName, type UploadSessionRpc } from "./uploads/protocol";
import { workerdHashing } from "./uploads/runtime";
import { NO_UPSTREAMS, Upstreams } from "./upstream";

/** Refused request bodies are read and dropped up to this size, then cut off. */
const REFUSED_BODY_DRAIN_LIMIT = 64 * 1024 * 1024;

export { UploadSession } from "./uploads/session";
export { JobCoordinator } from "./jobs/coordinator";
export { RepositoryMetadata } from "./metadata/object";
export { EventOutbox } from "./events/object";
export { MetricsObject } from "./metrics/object";

interface Env {
  UPLOAD_SESSIONS: DurableObjectNamespace;
  JOBS: DurableObjectNamespace;
  REPOSITORY_METADATA: DurableObjectNamespace;
  EVENTS: DurableObjectNamespace;
  METRICS?: DurableObjectNamespace;
  /** A Workers Analytics Engine dataset, when bound: one data point per request (README "Metrics"). */
  METRICS_DATASET?: DataPointSink;
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
  upstreams: Upstreams;
}

let cached: Setup | null = null;

function setup(env: Env): Setup {
  if (cached?.env !== env) {
    const cfg = parseConfig(env);
    setLogLevel(cfg.observability.logLevel);
    // This isolate's counts go to the metrics object in batches (metrics/flush.ts), never one write per request.
    isolateFlusher.useSender(metricsObject(env) === null ? null : (batch) => metricsObject(env)!.add(batch));
    // Notifications listen at the seams only when an endpoint is configured: otherwise they cost nothing.
    const notifier = cfg.notifications.endpoints.length > 0 ? new Notifier(cfg.notifications, (shard) => outbox(env, shard)) : null;
    const storage = createStorage(cfg.s3, (cfg.edgeCache && workersEdgeCache(edgeScope(cfg.s3))) || NO_EDGE_CACHE);
    // Pull times are recorded only for retention policies that read them.
    const pulls = usesPullTimes(cfg.gc.retention) ? new PullRecorder(storage.pulls) : null;
    cached = {
      env,
      cfg,
      storage,
      auth: createAccessController(cfg.auth),
      hints: new UploadHints(),
      writes: notifier ?? NO_LISTENER,
      reads: readListeners(notifier, pulls),
      fence: new SweepFence(() => coordinator(env)),
      upstreams: cfg.mirror.upstreams.length > 0 ? new Upstreams(cfg.mirror, (url, init) => fetch(url, init)) : NO_UPSTREAMS,
    };
  }
  return cached;
}

function requestInfo(req: Request, url: URL, id: Identity, requestId: string): RequestInfo {
  return {
    id: requestId,
    caller: { user: id.user, groups: id.groups, anonymous: id.user === null },
    clientAddress: req.headers.get("cf-connecting-ip"),
    userAgent: req.headers.get("user-agent"),
    method: req.method,
    host: url.host,
    origin: url.origin,
  };
}

/** Whether a scrape of /metrics presents `Authorization: Bearer <BERTH_METRICS_TOKEN>` (compared in constant time). */
function metricsTokenPresented(req: Request, token: string | null): boolean {
  const header = req.headers.get("Authorization");
  if (token === null || header === null || !/^bearer /i.test(header)) return false;
  return timingSafeEqual(header.slice(7).trim(), token);
}

/** What one request showed on its way, for its audit line and metrics (http/outcome.ts). */
interface Seen {
  /** How far it got: a failure while identifying the caller is a failed login. */
  phase: "setup" | "authenticate" | "route";
  requestId: string;
  caller: RequestInfo["caller"] | null;
  error: string | null;
  written: WriteEvent[];
  pulled: ReadEvent[];
}

async function serve(req: Request, url: URL, env: Env, exec: ExecutionContext, seen: Seen): Promise<Response> {
  const { cfg, storage, auth, hints, writes, reads, fence, upstreams } = setup(env);
  seen.phase = "authenticate";
  if (auth.tokenPath !== null && url.pathname === auth.tokenPath) return withCommonHeaders(await auth.handleToken(req));
  // A scraper's bearer token is the metrics token, not a registry credential: it never reaches the auth mode.
  const scraper = url.pathname === "/metrics" && metricsTokenPresented(req, cfg.observability.metricsToken);
  const id = scraper ? ANONYMOUS : await auth.authenticate(req, url);
  seen.phase = "route";
  const request = requestInfo(req, url, id, seen.requestId);
  seen.caller = request.caller;
  const ctx: RegistryContext = {
    cfg,
    storage,
    hints,
    url,
    request,
    access: accessGuard(auth, id, url),
    session: (repo, uuid) =>
      env.UPLOAD_SESSIONS.get(env.UPLOAD_SESSIONS.idFromName(sessionName(repo, uuid))) as unknown as UploadSessionRpc,
    metadata: (repo) =>
      env.REPOSITORY_METADATA.get(env.REPOSITORY_METADATA.idFromName(repo)) as unknown as RepositoryMetadataRpc,
    jobs: () => coordinator(env),
    fence,
    pullThrough: {
      upstreams,
      hashing: workerdHashing,
      fills: (repo) => env.REPOSITORY_METADATA.get(env.REPOSITORY_METADATA.idFromName(repo)) as unknown as BlobFillRpc,
      observed: (event) => {
        try {
          if (event.action !== "stale") auditFill(event, request, url.pathname);
          countMirror(isolateTally, event);
          isolateFlusher.soon((work) => exec.waitUntil(work));
        } catch (e) {
          log.warn(`observing a pull-through fill failed: ${describeError(e)}`);
        }
      },
    },
    outbox: (shard) => outbox(env, shard),
    waitUntil: (work) => exec.waitUntil(work),
    written: (...events) => {
      seen.written.push(...events);
      return writes.record(events, request);
    },
    pulled: (event) => {
      seen.pulled.push(event);
      reads.pulled(event, request, (work) => exec.waitUntil(work));
    },
    metrics: {
      tokenAccepted: scraper,
      flush: () => isolateFlusher.flush(),
      read: async () => (await metricsObject(env)?.read()) ?? null,
    },
  };
  return withCommonHeaders(await route(req, ctx));
}

/** The request's audit line and metrics; never fails the answer. */
function observe(req: Request, url: URL, res: Response, seen: Seen, startedAt: number, env: Env, exec: ExecutionContext): void {
  try {
    const outcome: RequestOutcome = {
      id: seen.requestId,
      startedAt,
      durationMs: Date.now() - startedAt,
      method: req.method,
      url,
      route: routeOf(url.pathname, cached?.auth.tokenPath ?? null),
      status: res.status,
      error: seen.error,
      caller: seen.caller,
      clientAddress: req.headers.get("cf-connecting-ip"),
      userAgent: req.headers.get("user-agent"),
      credentialsPresented: req.headers.has("Authorization"),
      authenticationFailed: seen.phase === "authenticate" && seen.error !== null,
      written: seen.written,
      pulled: seen.pulled,
    };
    const line = audit(outcome);
    countRequest(isolateTally, outcome);
    if (env.METRICS_DATASET) dataPoint(env.METRICS_DATASET, outcome, line?.action ?? null);
    isolateFlusher.soon((work) => exec.waitUntil(work));
  } catch (e) {
    log.warn(`observing a request failed: ${describeError(e)}`);
  }
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
    const startedAt = Date.now();
    const url = new URL(req.url);
    const requestId = req.headers.get("cf-ray") ?? crypto.randomUUID();
    const seen: Seen = { phase: "setup", requestId, caller: null, error: null, written: [], pulled: [] };
    let res: Response;
    try {
      res = await serve(req, url, env, exec, seen);
    } catch (e) {
      seen.error = e instanceof OciError ? e.code : "UNKNOWN"; // what errorResponse answers for anything else
      // A body nobody read (a refused upload chunk, a manifest too large) is drained first, or the client
      // would see its connection closed instead of the error.
      if (req.body) await discardBody(req.body, REFUSED_BODY_DRAIN_LIMIT);
      res = errorResponse(e, req.method);
    }
    // Without a valid configuration there is nothing to count with, and no caller was identified.
    if (seen.phase !== "setup") observe(req, url, res, seen, startedAt, env, exec);
    return res;
  },

  /** Cron Triggers (wrangler.toml [triggers]): start each scheduled job; the coordinator runs it in steps. */
  async scheduled(_controller: ScheduledController, env: Env, exec: ExecutionContext): Promise<void> {
    setup(env); // a bad setting fails here, loudly, as it fails every request
    exec.waitUntil(coordinator(env).tick());
  },
} satisfies ExportedHandler<Env>);
