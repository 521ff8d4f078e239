// The route table of the Distribution API: which handler serves which method and path. Names and references
// arrive raw (not URL-decoded) and are validated here, before any handler or storage call sees them.
// A known path with a method it does not support answers 405 UNSUPPORTED; an unknown path 404.

import { IttyRouter, type IRequest } from "itty-router";
import { OciError } from "../oci/errors";
import { parseDigestSegment, validateRepositoryName } from "../oci/names";
import { deleteBlob, getBlob, headBlob } from "../registry/blobs";
import { listRepositories } from "../registry/catalog";
import { type RegistryContext, json } from "../registry/context";
import { deleteManifest, getManifest, putManifest } from "../registry/manifests";
import { listReferrers } from "../registry/referrers";
import { listTags } from "../registry/tags";
import { cancelUpload, getUploadStatus, patchUpload, putUpload, startUpload } from "../registry/uploads";

type Handler = (req: IRequest, ctx: RegistryContext) => Promise<Response> | Response;

const repoOf = (req: IRequest): string => validateRepositoryName(String(req.params.name ?? ""));
const param = (req: IRequest, key: string): string => String(req.params[key] ?? "");

function unsupported(req: IRequest): never {
  throw new OciError("UNSUPPORTED", `${req.method} is not supported on this endpoint`, { status: 405 });
}

const base: Handler = () => json({});

const manifests: Handler = (req, ctx) => {
  const repo = repoOf(req);
  const ref = param(req, "reference");
  switch (req.method) {
    case "GET":
    case "HEAD":
      return getManifest(ctx, repo, ref, req, req.method === "HEAD");
    case "PUT":
      return putManifest(ctx, repo, ref, req);
    case "DELETE":
      return deleteManifest(ctx, repo, ref);
    default:
      return unsupported(req);
  }
};

const uploadSession: Handler = (req, ctx) => {
  const repo = repoOf(req);
  const uuid = param(req, "uuid");
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
      return headBlob(ctx, repo, digest);
    case "GET":
      return getBlob(ctx, repo, digest, req);
    case "DELETE":
      return deleteBlob(ctx, repo, digest);
    default:
      return unsupported(req);
  }
};

const only =
  (methods: string[], h: Handler): Handler =>
  (req, ctx) =>
    methods.includes(req.method) ? h(req, ctx) : unsupported(req);

// Order matters: the greedy `:name+` would otherwise let `/blobs/:digest` claim upload paths.
const router = IttyRouter<IRequest, [RegistryContext], Response>()
  .all("/v2", only(["GET", "HEAD"], base))
  .all("/v2/_catalog", only(["GET"], (_req, ctx) => listRepositories(ctx)))
  .all("/v2/:name+/tags/list", only(["GET"], (req, ctx) => listTags(ctx, repoOf(req))))
  .all("/v2/:name+/referrers/:digest", only(["GET"], (req, ctx) => listReferrers(ctx, repoOf(req), parseDigestSegment(param(req, "digest")))))
  .all("/v2/:name+/manifests/:reference", manifests)
  .all("/v2/:name+/blobs/uploads", only(["POST"], (req, ctx) => startUpload(ctx, repoOf(req), req)))
  .all("/v2/:name+/blobs/uploads/:uuid", uploadSession)
  .all("/v2/:name+/blobs/:digest", blobs);

export async function route(req: Request, ctx: RegistryContext): Promise<Response> {
  const res = await router.fetch(req as IRequest, ctx);
  if (res) return res;
  throw new OciError("UNSUPPORTED", "no such endpoint in the registry API", { status: 404 });
}
