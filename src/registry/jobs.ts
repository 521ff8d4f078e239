// The admin API of background jobs: `POST /v2/_berth/ext/jobs/<kind>` starts a run (202 with its report; 200
// with the running one's if a run of that kind is already on), `GET /v2/_berth/ext/jobs/<kind>` shows the
// current or last run's report. Query parameters of the POST are the job's parameters. The work itself runs
// in the job coordinator (src/jobs), never in this request.

import { OciError } from "../oci/errors";
import { type RegistryContext, json } from "./context";

const KIND_RE = /^[a-z][a-z0-9-]{0,63}$/;

export async function startJob(ctx: RegistryContext, kind: string): Promise<Response> {
  checkKind(kind);
  const params: Record<string, unknown> = {};
  for (const [k, v] of ctx.url.searchParams) params[k] = v;
  const r = await ctx.jobs().start(kind, params);
  if ("error" in r) throw new OciError("UNSUPPORTED", r.error, { status: r.error.startsWith("unknown job") ? 404 : 400 });
  return json(r.report, { status: r.started ? 202 : 200 });
}

export async function jobStatus(ctx: RegistryContext, kind: string): Promise<Response> {
  checkKind(kind);
  const report = await ctx.jobs().status(kind);
  return json(report ?? { kind, state: "idle" });
}

function checkKind(kind: string): void {
  if (!KIND_RE.test(kind)) throw new OciError("UNSUPPORTED", "no such job", { status: 404 });
}
