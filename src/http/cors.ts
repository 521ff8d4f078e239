// Cross-origin access to the registry API for browser UIs served elsewhere (BERTH_CORS_ORIGINS), e.g. Joxit's
// docker-registry-ui. Only /v2/ routes, only for the listed origins: a preflight (OPTIONS with
// Access-Control-Request-Method) is answered 204 here, before authentication, and every other answer on /v2/
// gets Access-Control-Allow-Origin and the exposed headers. Any other origin, and every other path, gets no
// CORS header at all, so without the setting nothing changes. Berth's own UI is same-origin and needs none.

import type { UiConfig } from "../config/ui";

export const ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
/** What clients send: credentials, content negotiation, uploads (chunk ranges) and ranged blob reads. */
export const ALLOW_HEADERS = "Authorization, Accept, Content-Type, Content-Range, Range, If-None-Match, Docker-Content-Digest";
/** What a browser UI needs to read from answers (the CORS-safelisted ones aside). */
export const EXPOSE_HEADERS = [
  "Docker-Content-Digest",
  "Docker-Distribution-API-Version",
  "Docker-Upload-UUID",
  "Link",
  "Location",
  "Range",
  "Content-Range",
  "Content-Length",
  "WWW-Authenticate",
  "OCI-Chunk-Min-Length",
  "OCI-Chunk-Max-Length",
  "OCI-Filters-Applied",
  "OCI-Subject",
].join(", ");
/** Seconds a browser may reuse a preflight answer (Chromium caps it at 7200). */
export const MAX_AGE = "600";

/** The registry API's paths: /v2 and everything below it. */
export function isApiPath(pathname: string): boolean {
  return pathname === "/v2" || pathname.startsWith("/v2/");
}

export type CorsDecision =
  /** No CORS headers: no Origin, an origin not listed, or not an API path. */
  | { kind: "none" }
  /** A preflight from a listed origin: answer 204 with preflightHeaders, without going further. */
  | { kind: "preflight"; origin: string }
  /** A request from a listed origin: serve it, then add corsHeaders. */
  | { kind: "actual"; origin: string };

/** What to do about CORS for a request (pure: method, path, and the Origin / Access-Control-Request-Method headers). */
export function corsDecision(
  cfg: Pick<UiConfig, "corsOrigins">,
  method: string,
  pathname: string,
  origin: string | null,
  requestMethod: string | null,
): CorsDecision {
  if (origin === null || cfg.corsOrigins.length === 0 || !isApiPath(pathname)) return { kind: "none" };
  // Origin is serialized by the browser (lower-case scheme and host, no default port): compare as is.
  if (!cfg.corsOrigins.includes(origin)) return { kind: "none" };
  if (method === "OPTIONS" && requestMethod !== null) return { kind: "preflight", origin };
  return { kind: "actual", origin };
}

/** Headers of the 204 answer to an allowed preflight. */
export function preflightHeaders(origin: string): Record<string, string> {
  return {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Allow-Methods": ALLOW_METHODS,
    "Access-Control-Allow-Headers": ALLOW_HEADERS,
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": EXPOSE_HEADERS,
    "Access-Control-Max-Age": MAX_AGE,
    Vary: "Origin",
  };
}

/** Headers added to an answer to a listed origin. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": EXPOSE_HEADERS,
    Vary: "Origin",
  };
}

/** The preflight answer, or null when the request is not an allowed preflight. */
export function preflightResponse(decision: CorsDecision): Response | null {
  if (decision.kind !== "preflight") return null;
  return new Response(null, { status: 204, headers: preflightHeaders(decision.origin) });
}

/** `res` with the CORS headers the decision calls for (unchanged when none). */
export function withCors(decision: CorsDecision, res: Response): Response {
  if (decision.kind !== "actual") return res;
  const out = new Response(res.body, res);
  for (const [k, v] of Object.entries(corsHeaders(decision.origin))) {
    if (k === "Vary") out.headers.append(k, v);
    else out.headers.set(k, v);
  }
  return out;
}
