// The route table of the Distribution API: which handler serves which method and path. Names and references
// arrive raw (not URL-decoded) and are validated here, before any handler or storage call sees them.
// A known path with a method it does not support answers 405 UNSUPPORTED; an unknown path 404.

import { IttyRouter, type IRequest } from "itty-router";
import { OciError } from "../oci/errors";
import { parseDigestSegment, validateRepositoryName } from "../oci/names";
import { deleteBlob } from "../registry/blobs";
import { listRepositories } from "../registry/catalog";
import { type RegistryContext, json } from "../registry/context";
import { deleteManifest, putManifest } from "../registry/manifests";
import { pullManifest, pullTagList } from "../registry/mirror";
import { pullBlob } from "../registry/mirror-blobs";
import { deadLetters, eventStats, replay } from "../registry/events";
import { health } from "../registry/health";
import { jobStatus, startJob } from "../registry/jobs";
import { scrapeMetrics } from "../registry/metrics";
import { gcStatus, startGc } from "../registry/gc";
import { pullReferrers } from "../registry/mirror-referrers";
import { startSync, syncStatus } from "../registry/sync";
import { getSmallBlob } from "../registry/ui-blob";
import { cancelUpload, getUploadStatus, patchUpload, putUpload, startUpload } from "../registry/uploads";

type Handler = (req: IRequest, ctx: RegistryContext) => Promise<Response> | Response;

const repoOf = (req: IRequest): string => validateRepositoryName(String(req.params.name ?? ""));
const param = (req: IRequest, key: string): string => String(req.params[key] ?? "");

function unsupported(req: IRequest): never {
  throw new OciError("UNSUPPORTED", `${req.method} is not supported on this endpoint`, { status: 405 });
}

const base: Handler = (_req, ctx) => {
  ctx.access.requireBase();
  return json({});
};

// Each handler below checks access right after validating the name, before any storage call, so a refusal
// never reveals whether a repository or blob exists.

const manifests: Handler = (req, ctx) => {
  const repo = repoOf(req);
  const ref = param(req, "reference");
  switch (req.method) {
    case "GET":
    case "HEAD":
      ctx.access.require(repo, "read");
      return pullManifest(ctx, repo, ref, req, req.method === "HEAD"); // local, or through the pull-through cache
    case "PUT":
      ctx.access.require(repo, "create"); // moving an existing tag also needs "update" (checked by the handler)
      return putManifest(ctx, repo, ref, req);
    case "DELETE":
      ctx.access.require(repo, "delete");
      return deleteManifest(ctx, repo, ref);
    default:
      return unsupported(req);
  }
};

const uploadSession: Handler = (req, ctx) => {
  const repo = repoOf(req);
  const uuid = param(req, "uuid");
  if (["GET", "PATCH", "PUT", "DELETE"].includes(req.method)) ctx.access.require(repo, "create");
  switch (req.method) {
    case "GET":
      return getUploadStatus(ctx, repo, uuid);
    case "PATCH":
      return patchUpload(ctx, repo, uuid, req);
    case "PUT":
      return putUpload(ctx, repo, uuid, req);
    case "DELETE":
      return cancelUpload(ctx, repo, uuid);
    default:
      return unsupported(req);
  }
};

const blobs: Handler = (req, ctx) => {
  const repo = repoOf(req);
  const digest = parseDigestSegment(param(req, "digest"));
  switch (req.method) {
    case "HEAD":
    case "GET":
      ctx.access.require(repo, "read");
      return pullBlob(ctx, repo, digest, req, req.method === "HEAD"); // local, or through the pull-through cache
    case "DELETE":
      ctx.access.require(repo, "delete");
      return deleteBlob(ctx, repo, digest);
    default:
      return unsupported(req);
  }
};

/** The repository of the request, once the caller may read it. */
function readable(req: IRequest, ctx: RegistryContext): string {
  const repo = repoOf(req);
  ctx.access.require(repo, "read");
  return repo;
}

/** The repository of an upload, once the caller may push to it. */
function writable(req: IRequest, ctx: RegistryContext): string {
  const repo = repoOf(req);
  ctx.access.require(repo, "create");
  return repo;
}

/** The admin API of background jobs (registry/jobs.ts): admins only, checked before anything else. */
const jobs: Handler = (req, ctx) => {
  if (req.method !== "GET" && req.method !== "POST") return unsupported(req);
  ctx.access.requireAdmin();
  const kind = param(req, "kind");
  return req.method === "POST" ? startJob(ctx, kind) : jobStatus(ctx, kind);
};

const gc: Handler = (req, ctx) => {
  if (req.method !== "GET" && req.method !== "POST") return unsupported(req);
  ctx.access.requireAdmin();
  return req.method === "POST" ? startGc(ctx) : gcStatus(ctx);
};

/** Periodic sync of upstreams (registry/sync.ts): admins only, checked before anything else. */
const sync: Handler = (req, ctx) => {
  if (req.method !== "GET" && req.method !== "POST") return unsupported(req);
  ctx.access.requireAdmin();
  return req.method === "POST" ? startSync(ctx) : syncStatus(ctx);
};

/** The admin API of notifications (registry/events.ts): admins only, checked before anything else. */
const events: Handler = (req, ctx) => {
  const op = param(req, "op");
  const ops: Record<string, (ctx: RegistryContext) => Promise<Response>> = { "GET dead": deadLetters, "POST replay": replay, "GET stats": eventStats };
  const handler = ops[`${req.method} ${op}`];
  if (handler) return (ctx.access.requireAdmin(), handler(ctx));
  if (["dead", "replay", "stats"].includes(op)) return unsupported(req);
  throw new OciError("UNSUPPORTED", "no such endpoint in the registry API", { status: 404 });
};

const only =
  (methods: string[], h: Handler): Handler =>
  (req, ctx) =>
    methods.includes(req.method) ? h(req, ctx) : unsupported(req);

// Order matters: the greedy `:name+` would otherwise let `/blobs/:digest` claim upload paths.
const router = IttyRouter<IRequest, [RegistryContext], Response>()
  .all("/v2", only(["GET", "HEAD"], base))
  .all("/health", only(["GET", "HEAD"], (req, ctx) => health(ctx, req.method === "HEAD")))
  .all("/metrics", only(["GET", "HEAD"], (req, ctx) => scrapeMetrics(ctx, req.method === "HEAD")))
  .all("/v2/_berth/ext/jobs/:kind", jobs)
  .all("/v2/_berth/ext/gc", gc)
  .all("/v2/_berth/ext/sync", sync)
  .all("/v2/_berth/ext/events/:op", events)
  .all("/v2/_catalog", only(["GET"], (_req, ctx) => (ctx.access.require(null, "read"), listRepositories(ctx))))
  .all("/v2/_berth/ext/blobs/:name+/:digest", only(["GET"], (req, ctx) => getSmallBlob(ctx, readable(req, ctx), parseDigestSegment(param(req, "digest"))))) // the web UI reads image configs here (blob GET redirects cross-origin)
  .all("/v2/:name+/tags/list", only(["GET"], (req, ctx) => pullTagList(ctx, readable(req, ctx))))
  .all("/v2/:name+/referrers/:digest", only(["GET"], (req, ctx) => pullReferrers(ctx, readable(req, ctx), parseDigestSegment(param(req, "digest")))))
  .all("/v2/:name+/manifests/:reference", manifests)
  .all("/v2/:name+/blobs/uploads", only(["POST"], (req, ctx) => startUpload(ctx, writable(req, ctx), req)))
  .all("/v2/:name+/blobs/uploads/:uuid", uploadSession)
  .all("/v2/:name+/blobs/:digest", blobs);

export async function route(req: Request, ctx: RegistryContext): Promise<Response> {
  if (ctx.cfg.maintenance.readOnly && req.method !== "GET" && req.method !== "HEAD") {
    // Distribution's storage.maintenance.readonly: pulls work, every write is refused before anything else.
    throw new OciError("UNSUPPORTED", "the registry is in read-only mode (REGISTRY_STORAGE_MAINTENANCE_READONLY): writes are refused", { status: 405 });
  }
  refuseMirrorWrite(req, ctx);
  const res = await router.fetch(req as IRequest, ctx);
  if (res) return res;
  throw new OciError("UNSUPPORTED", "no such endpoint in the registry API", { status: 404 });
}

/** A repository path's name (raw); null for the other endpoints. */
const REPOSITORY_PATH = /^\/v2\/(.+?)\/(?:manifests|blobs)\//;

/** Nobody writes into a pull-through cache's names (Distribution's proxy mode answers the same). */
function refuseMirrorWrite(req: Request, ctx: RegistryContext): void {
  if (req.method === "GET" || req.method === "HEAD" || !ctx.pullThrough.upstreams.enabled) return;
  const name = REPOSITORY_PATH.exec(new URL(req.url).pathname)?.[1];
  if (name !== undefined && ctx.pullThrough.upstreams.isMirrored(name)) {
    throw new OciError("UNSUPPORTED", `${name} is a pull-through cache of an upstream registry: pushes and deletes are refused`, { status: 405 });
  }
}
