// The audit log: one JSON line per auditable request, written with console.log at the end of the request by
// the Worker entry (one place, not the handlers), for Workers Logs, `wrangler tail` and Logpush. Auditable:
// every request that changed what the registry holds (push, mount, delete, as the write seam heard it),
// every attempt at a write that failed or was refused, every admin action (POST to the admin API), every
// failed authentication, and every request the access policy denied (403). The line is built from a fixed
// set of fields only: never a header, never the query string (the token endpoint's query and body carry
// passwords and refresh tokens), never a credential. BERTH_LOG_LEVEL does not silence it: an audit log an
// operator can turn down by accident is not one.

import type { MirrorEvent } from "../registry/mirror-events";
import type { RequestInfo } from "../registry/request";
import type { WriteEvent } from "../registry/writes";
import { queryDigest, type RequestOutcome } from "./outcome";

export type AuditAction = "push" | "mount" | "delete" | "fill" | "admin" | "auth-failure" | "denied";
export type AuditResult = "success" | "denied" | "unauthorized" | "failure" | "error";

export interface AuditRecord {
  audit: "berth";
  time: string;
  requestId: string;
  action: AuditAction;
  outcome: AuditResult;
  status: number;
  /** The authenticated user; null for anonymous callers and failed logins (the name tried is not kept). */
  actor: string | null;
  clientAddress: string | null;
  userAgent: string | null;
  method: string;
  /** The path only, never the query. */
  path: string;
  repository: string | null;
  /** The tag or digest the path names (an upload's id for upload requests). */
  reference: string | null;
  /** The digest written or deleted, or named by the upload's ?digest=/?mount=. */
  digest: string | null;
  /** Tags set or removed by the request. */
  tags: string[];
  /** The registry error code of a refusal or failure. */
  error: string | null;
  /** A fill's upstream (the pull-through cache stored what it fetched from there). */
  upstream?: string;
}

function resultOf(status: number): AuditResult {
  if (status < 400) return "success";
  if (status === 401) return "unauthorized";
  if (status === 403) return "denied";
  return status >= 500 ? "error" : "failure";
}

/**
 * Requests that write when they succeed. A PATCH only adds to a session, a plain POST only opens one, and a
 * DELETE of a session only drops what it spooled: none of them changes what the registry holds.
 */
function writeAttempt(o: RequestOutcome): AuditAction | null {
  const { route } = o.route;
  if (o.method === "DELETE" && (route === "manifest" || route === "blob")) return "delete";
  if (o.method === "PUT" && (route === "manifest" || route === "upload")) return "push";
  if (o.method === "POST" && route === "upload") {
    if (o.url.searchParams.has("mount")) return "mount";
    if (o.url.searchParams.has("digest")) return "push";
  }
  if (o.method === "POST" && route === "admin") return "admin";
  return null;
}

function actionOfWrites(events: readonly WriteEvent[]): AuditAction {
  if (events.some((e) => e.action.endsWith(".delete"))) return "delete";
  if (events.every((e) => e.action === "blob.mount")) return "mount";
  return "push";
}

/**
 * A 401 that refused credentials, as opposed to the challenge a client without them gets first: a wrong
 * password or a bad token, a wrong metrics token, any refusal of the token endpoint (whose POST form carries
 * the password in the body).
 */
function failedLogin(o: RequestOutcome): boolean {
  if (o.route.route === "token") return true;
  return o.credentialsPresented && (o.authenticationFailed || o.route.route === "metrics");
}

/** The line for the request, or null when it is not auditable. */
export function auditRecord(o: RequestOutcome): AuditRecord | null {
  let action: AuditAction | null;
  if (o.written.length > 0) action = actionOfWrites(o.written);
  else if (o.status === 401 && failedLogin(o)) action = "auth-failure";
  else action = writeAttempt(o) ?? (o.status === 403 ? "denied" : null);
  if (action === null) return null;
  const digests = o.written.flatMap((e) => ("digest" in e ? [e.digest] : []));
  const tags = [...new Set(o.written.flatMap((e) => ("tag" in e && e.tag !== null ? [e.tag] : e.action === "manifest.delete" ? e.tags : [])))];
  return {
    audit: "berth",
    time: new Date(o.startedAt).toISOString(),
    requestId: o.id,
    action,
    outcome: resultOf(o.status),
    status: o.status,
    actor: o.caller?.user ?? null,
    clientAddress: o.clientAddress,
    userAgent: o.userAgent,
    method: o.method,
    path: o.url.pathname,
    repository: o.route.repository,
    reference: o.route.reference,
    digest: digests[0] ?? (o.route.route === "upload" ? queryDigest(o.url) : null),
    tags,
    error: o.error,
  };
}

/** Writes the request's audit line, if it has one, and returns it. */
export function audit(o: RequestOutcome, write: (line: string) => void = (line) => console.log(line)): AuditRecord | null {
  const record = auditRecord(o);
  if (record !== null) write(JSON.stringify(record));
  return record;
}

/**
 * The line of a fill: the pull-through cache stored a manifest or blob it fetched for this request (a blob's
 * line comes when its bytes are verified, after the answer). Its own line, beside the request's (a pull is
 * not audited): what the bucket gained, from which upstream, for whom.
 */
export function auditFill(
  e: Extract<MirrorEvent, { action: "manifest.fill" | "blob.fill" }>,
  request: RequestInfo,
  path: string,
  write: (line: string) => void = (line) => console.log(line),
): AuditRecord {
  const record: AuditRecord = {
    audit: "berth",
    time: new Date().toISOString(),
    requestId: request.id,
    action: "fill",
    outcome: "success",
    status: 200,
    actor: request.caller.user,
    clientAddress: request.clientAddress,
    userAgent: request.userAgent,
    method: request.method,
    path,
    repository: e.repository,
    reference: e.action === "manifest.fill" ? (e.tag ?? e.digest) : e.digest,
    digest: e.digest,
    tags: e.action === "manifest.fill" && e.tag !== null ? [e.tag] : [],
    error: null,
    upstream: e.upstream,
  };
  write(JSON.stringify(record));
  return record;
}
