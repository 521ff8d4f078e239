// The one place where errors become HTTP responses, and the headers every response carries. An OciError is
// answered with its status and the spec's `{"errors":[…]}` body; anything else is a fault of ours, answered
// 500 in the same form with FAULT_CODE (see oci/errors.ts): a RegistryFault with its message, anything
// unexpected logged (message only — never headers, so no credentials) and answered "internal server error".

import { ConfigError } from "../config/values";
import { describeError, log } from "../log";
import { FAULT_CODE, OciError, RegistryFault } from "../oci/errors";

export const API_VERSION_HEADER = { "Docker-Distribution-API-Version": "registry/2.0" } as const;

export function errorResponse(e: unknown, method: string): Response {
  if (e instanceof OciError) return answer(e.status, e.toBody(), e.headers, method);
  const fault = toFault(e);
  return answer(fault.status, { code: FAULT_CODE, message: fault.message }, {}, method);
}

function answer(status: number, body: { code: string; message: string }, extra: Record<string, string>, method: string): Response {
  const headers = new Headers({ ...API_VERSION_HEADER, ...extra, "Content-Type": "application/json" });
  if (method === "HEAD") return new Response(null, { status, headers });
  return new Response(JSON.stringify({ errors: [body] }), { status, headers });
}

function toFault(e: unknown): RegistryFault {
  if (e instanceof RegistryFault) return e;
  if (e instanceof ConfigError) {
    // The operator's mistake, answered to whoever asks (no caller can be authenticated without a valid
    // configuration): name the setting, and keep its value and the reason (which may quote a bucket or an
    // endpoint) for the log, where the operator looks.
    log.error(e.message);
    return new RegistryFault(`configuration error: ${e.setting} is not valid; the Worker's log (wrangler tail) says why`);
  }
  log.error(`internal error: ${describeError(e)}`);
  return new RegistryFault("internal server error");
}

/** Adds the API version header to a handler's response. */
export function withCommonHeaders(res: Response): Response {
  const out = new Response(res.body, res);
  for (const [k, v] of Object.entries(API_VERSION_HEADER)) out.headers.set(k, v);
  return out;
}
