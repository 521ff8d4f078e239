// The admin API of notifications, over every event outbox: `GET /v2/_berth/ext/events/dead` lists the dead
// letters (events an endpoint refused maxattempts times), `POST /v2/_berth/ext/events/replay` puts them back
// in their endpoints' queues (delivery starts at once), `GET /v2/_berth/ext/events/stats` shows each
// endpoint's queue, dead letters, deliveries and backoff, and the pulls counted. Query parameters:
// `endpoint` (one endpoint's), `id` (replay one event), `n` (at most this many per outbox, default 100).

import { OUTBOX_SHARDS, type DeadLetter, type EndpointStats } from "../events/protocol";
import { OciError } from "../oci/errors";
import { type RegistryContext, json } from "./context";

const DEFAULT_N = 100;
const MAX_N = 1000;

function options(ctx: RegistryContext): { endpoint?: string; id?: string; limit: number } {
  const q = ctx.url.searchParams;
  const raw = q.get("n");
  const limit = raw === null ? DEFAULT_N : Number(raw);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_N) {
    throw new OciError("UNSUPPORTED", `n must be a whole number from 1 to ${MAX_N}`, { status: 400 });
  }
  const endpoint = q.get("endpoint") ?? undefined;
  if (endpoint !== undefined && !ctx.cfg.notifications.endpoints.some((e) => e.name === endpoint)) {
    throw new OciError("UNSUPPORTED", "no such notification endpoint", { status: 404 });
  }
  return { endpoint, id: q.get("id") ?? undefined, limit };
}

const shards = () => Array.from({ length: OUTBOX_SHARDS }, (_, i) => i);

export async function deadLetters(ctx: RegistryContext): Promise<Response> {
  const opts = options(ctx);
  const parts = await Promise.all(shards().map((s) => ctx.outbox(s).dead(opts)));
  const dead: DeadLetter[] = parts.flatMap((p) => p.dead).sort((a, b) => a.deadAt.localeCompare(b.deadAt));
  return json({ dead, more: parts.some((p) => p.more) });
}

export async function replay(ctx: RegistryContext): Promise<Response> {
  const opts = options(ctx);
  const parts = await Promise.all(shards().map((s) => ctx.outbox(s).replay(opts)));
  return json({ replayed: parts.reduce((n, p) => n + p.replayed, 0), more: parts.some((p) => p.more) });
}

export async function eventStats(ctx: RegistryContext): Promise<Response> {
  const parts = await Promise.all(shards().map((s) => ctx.outbox(s).stats()));
  const endpoints: Record<string, EndpointStats> = {};
  for (const ep of ctx.cfg.notifications.endpoints) {
    const all = parts.map((p) => p.endpoints[ep.name]).filter((s): s is EndpointStats => s !== undefined);
    const retries = all.map((s) => s.retryAt).filter((t): t is string => t !== null).sort();
    const last = all.find((s) => s.lastError !== null);
    endpoints[ep.name] = {
      pending: all.reduce((n, s) => n + s.pending, 0),
      dead: all.reduce((n, s) => n + s.dead, 0),
      delivered: all.reduce((n, s) => n + s.delivered, 0),
      failures: Math.max(0, ...all.map((s) => s.failures)),
      failedAttempts: all.reduce((n, s) => n + s.failedAttempts, 0),
      deadLettered: all.reduce((n, s) => n + s.deadLettered, 0),
      lastError: last?.lastError ?? null,
      retryAt: retries[0] ?? null,
    };
  }
  const pulls = parts.reduce((a, p) => ({ manifests: a.manifests + p.pulls.manifests, blobs: a.blobs + p.pulls.blobs }), { manifests: 0, blobs: 0 });
  return json({ endpoints, pulls });
}
