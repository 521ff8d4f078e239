// What is known about a request once it is answered, for the audit log (audit.ts) and the metrics
// (observe.ts): which route it took, the repository and reference its path names, who asked, what it wrote
// and pulled (heard at the write and read seams), how it ended. The route is read from the path with the
// router's own patterns, in its order, so route labels are a small fixed set whatever clients send.

import type { ReadEvent } from "../registry/reads";
import type { Caller } from "../registry/request";
import type { WriteEvent } from "../registry/writes";

export type RouteName =
  | "base"
  | "catalog"
  | "tags"
  | "referrers"
  | "manifest"
  | "blob"
  | "upload"
  | "token"
  | "health"
  | "metrics"
  | "admin"
  | "ui_blob"
  | "other";

export interface RouteOf {
  route: RouteName;
  repository: string | null;
  /** A manifest's tag or digest, a blob's digest, an upload session's id. */
  reference: string | null;
}

// The router's patterns (http/router.ts), most specific first as it orders them.
const PATTERNS: [RegExp, RouteName][] = [
  [/^\/v2\/?$/, "base"],
  [/^\/v2\/_berth\/ext\/blobs\/(.+)\/([^/]+)$/, "ui_blob"],
  [/^\/v2\/_berth\/ext\//, "admin"],
  [/^\/v2\/_catalog$/, "catalog"],
  [/^\/v2\/(.+)\/tags\/list$/, "tags"],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, "referrers"],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, "manifest"],
  [/^\/v2\/(.+)\/blobs\/uploads\/?()$/, "upload"],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, "upload"],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, "blob"],
];

/** Longest repository or reference text kept (names are at most 255 characters; anything longer is not one). */
const MAX_TEXT = 256;

const cut = (s: string | undefined): string | null => (s === undefined || s === "" ? null : s.slice(0, MAX_TEXT));

export function routeOf(pathname: string, tokenPath: string | null): RouteOf {
  if (pathname === "/health") return { route: "health", repository: null, reference: null };
  if (pathname === "/metrics") return { route: "metrics", repository: null, reference: null };
  if (tokenPath !== null && pathname === tokenPath) return { route: "token", repository: null, reference: null };
  for (const [re, route] of PATTERNS) {
    const m = re.exec(pathname);
    if (m) return { route, repository: cut(m[1]), reference: cut(m[2]) };
  }
  return { route: "other", repository: null, reference: null };
}

/** A digest named in an upload's query (`?digest=`, `?mount=`): only when it looks like one, never other query text. */
export function queryDigest(url: URL): string | null {
  const d = url.searchParams.get("digest") ?? url.searchParams.get("mount");
  return d !== null && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{1,256}$/.test(d) ? d : null;
}

export interface RequestOutcome {
  /** The request's id (Cloudflare's Ray ID, or a random one). */
  id: string;
  /** Arrival time, ms since the epoch. */
  startedAt: number;
  durationMs: number;
  method: string;
  url: URL;
  route: RouteOf;
  status: number;
  /** The registry error code of the answer (UNKNOWN for a fault of ours), when it was an error. */
  error: string | null;
  /** The authenticated caller; null when authentication failed or never ran. */
  caller: Caller | null;
  clientAddress: string | null;
  userAgent: string | null;
  /** The request carried an Authorization header (whose value is never kept). */
  credentialsPresented: boolean;
  /** The refusal came from identifying the caller (wrong password, bad token), not from the access policy. */
  authenticationFailed: boolean;
  written: readonly WriteEvent[];
  pulled: readonly ReadEvent[];
}
