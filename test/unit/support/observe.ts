// What the Worker entry does when a request is answered (src/index.ts: observe), for requests through the
// TestRegistry: the outcome built from what the request showed (the write and read seams it used, its status,
// the caller), its audit line kept, its metrics counted in the registry's Tally. The pieces are the real
// ones (http/outcome.ts, audit.ts, observe.ts); only the assembling is repeated here.
import { auditRecord, type AuditRecord } from "../../../src/http/audit";
import { countRequest } from "../../../src/http/observe";
import { routeOf, type RequestOutcome } from "../../../src/http/outcome";
import type { Tally } from "../../../src/metrics/tally";
import type { RegistryContext } from "../../../src/registry/context";
import type { ReadEvent } from "../../../src/registry/reads";
import type { WriteEvent } from "../../../src/registry/writes";

export interface Observed {
  tally: Tally;
  /** Audit lines, as JSON text, in order. */
  audit: string[];
}

type Send = (ctx: RegistryContext) => Promise<Response>;

/** Sends through `send` with the seams wrapped, then audits and counts the request as the Worker does. */
export async function observedCall(ctx: RegistryContext, into: Observed, method: string, path: string, headers: Headers, send: Send): Promise<Response> {
  const written: WriteEvent[] = [];
  const pulled: ReadEvent[] = [];
  const wrapped: RegistryContext = {
    ...ctx,
    // Called as methods of the per-request context (some tests read `this.request`): `this` is passed on.
    written(this: RegistryContext, ...events: WriteEvent[]) {
      written.push(...events);
      return ctx.written.apply(this, events);
    },
    pulled(this: RegistryContext, event: ReadEvent) {
      pulled.push(event);
      ctx.pulled.call(this, event);
    },
  };
  const res = await send(wrapped);
  const url = new URL(path, ctx.url);
  const outcome: RequestOutcome = {
    id: ctx.request.id,
    startedAt: Date.UTC(2026, 11, 2, 12),
    durationMs: 12,
    method,
    url,
    route: routeOf(url.pathname, null),
    status: res.status,
    error: res.status >= 400 && res.headers.get("Content-Type") === "application/json" ? await errorCode(res) : null,
    caller: ctx.request.caller,
    clientAddress: ctx.request.clientAddress,
    userAgent: headers.get("user-agent"),
    credentialsPresented: headers.has("Authorization"),
    authenticationFailed: false,
    written,
    pulled,
  };
  const line = auditRecord(outcome);
  if (line) into.audit.push(JSON.stringify(line));
  countRequest(into.tally, outcome);
  return res;
}

async function errorCode(res: Response): Promise<RequestOutcome["error"]> {
  const text = await res.clone().text();
  if (text === "") return null;
  return (JSON.parse(text) as { errors?: { code: RequestOutcome["error"] }[] }).errors?.[0]?.code ?? null;
}

export type { AuditRecord };
