// The one place where errors become HTTP responses, and the headers every response carries. An OciError is
// answered with its status and the spec's `{"errors":[…]}` body; anything else is a fault of ours: it is
// logged (message only — never headers, so no credentials) and answered as a bare 500 UNKNOWN.

import { ConfigError } from "../config/values";
import { describeError, log } from "../log";
import { OciError } from "../oci/errors";

export const API_VERSION_HEADER = { "Docker-Distribution-API-Version": "registry/2.0" } as const;

export function errorResponse(e: unknown, method: string): Response {
  const err = toOciError(e);
  const headers = new Headers({ ...API_VERSION_HEADER, ...err.headers, "Content-Type": "application/json" });
  if (method === "HEAD") return new Response(null, { status: err.status, headers });
  return new Response(JSON.stringify({ errors: [err.toBody()] }), { status: err.status, headers });
}

function toOciError(e: unknown): OciError {
  if (e instanceof OciError) return e;
  if (e instanceof ConfigError) {
    // The operator's mistake, answered to whoever asks (no caller can be authenticated without a valid
    // configuration): name the setting, and keep its value and the reason (which may quote a bucket or an
    // endpoint) for the log, where the operator looks.
    log.error(e.message);
    return new OciError("UNKNOWN", `configuration error: ${e.setting} is not valid; the Worker's log (wrangler tail) says why`);
  }
  log.error(`internal error: ${describeError(e)}`);
  return new OciError("UNKNOWN", "internal server error");
}

/** Adds the API version header to a handler's response. */
export function withCommonHeaders(res: Response): Response {
  const out = new Response(res.body, res);
  for (const [k, v] of Object.entries(API_VERSION_HEADER)) out.headers.set(k, v);
  return out;
}
