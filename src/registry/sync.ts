// Periodic sync's admin API (README "Pull-through cache: periodic sync"): `GET /v2/_berth/ext/sync` shows
// the current or last run of every upstream with sync (`?upstream=<name>`: that one's report alone), and
// `POST /v2/_berth/ext/sync` starts a run now for every such upstream (`?upstream=<name>`: for that one),
// answering 202 with the report(s) when a run started, 200 with the running one when it was on already. The
// runs themselves are jobs of the coordinator (src/jobs/sync), never this request.

import type { Upstream } from "../config/upstreams";
import type { JobReport } from "../jobs/protocol";
import { OciError } from "../oci/errors";
import { type RegistryContext, json } from "./context";

const KIND = "sync";

/** The upstreams the request names: the one of `?upstream=`, else every one with sync. */
function targets(ctx: RegistryContext): Upstream[] {
  for (const k of ctx.url.searchParams.keys()) {
    if (k !== "upstream") throw new OciError("UNSUPPORTED", `unknown parameter ${JSON.stringify(k.slice(0, 64))} (known: upstream)`, { status: 400 });
  }
  const all = ctx.cfg.mirror.upstreams;
  const synced = all.filter((u) => u.sync !== null);
  const name = ctx.url.searchParams.get("upstream");
  if (name === null) return synced;
  const u = all.find((x) => x.name === name);
  if (!u) {
    const known = all.length === 0 ? "none is configured (BERTH_UPSTREAMS)" : `known: ${all.map((x) => x.name).join(", ")}`;
    throw new OciError("UNSUPPORTED", `no upstream named ${JSON.stringify(name.slice(0, 64))}; ${known}`, { status: 404 });
  }
  if (!u.sync) throw new OciError("UNSUPPORTED", `upstream ${u.name} has no periodic sync: set its pollInterval (and content) in BERTH_UPSTREAMS`, { status: 400 });
  return [u];
}

const idle = (u: Upstream) => ({ kind: KIND, state: "idle", result: { upstream: u.name } });

export async function syncStatus(ctx: RegistryContext): Promise<Response> {
  const list = targets(ctx);
  const reports = await Promise.all(list.map(async (u) => (await ctx.jobs().status(KIND, u.name)) ?? idle(u)));
  return json(ctx.url.searchParams.has("upstream") ? reports[0] : { upstreams: reports });
}

export async function startSync(ctx: RegistryContext): Promise<Response> {
  const list = targets(ctx);
  if (list.length === 0) throw new OciError("UNSUPPORTED", "no upstream has periodic sync: set pollInterval (and content) on one in BERTH_UPSTREAMS", { status: 400 });
  const answers: { started: boolean; report: JobReport }[] = [];
  for (const u of list) {
    const r = await ctx.jobs().start(KIND, { upstream: u.name });
    if ("error" in r) throw new OciError("UNSUPPORTED", r.error, { status: 400 });
    answers.push(r);
  }
  const status = answers.some((a) => a.started) ? 202 : 200;
  return json(ctx.url.searchParams.has("upstream") ? answers[0]!.report : { upstreams: answers.map((a) => a.report) }, { status });
}
