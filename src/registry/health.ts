// GET and HEAD /health: whether the registry can serve, like Distribution's storage-driver health check. One
// cheap request to the bucket (a listing of at most one key), remembered per isolate for a few seconds so a
// load balancer polling every second costs the bucket little. 200 with the checks as JSON when all pass, 503
// with the failing one otherwise. The answer never says more than which check failed (no bucket name, no
// endpoint): the reason goes to the log.

import { describeError, log } from "../log";
import { json, type RegistryContext } from "./context";

/** A result is reused this long (ms). */
const CACHE_MS = 5_000;

interface Check {
  name: string;
  ok: boolean;
  /** When the check ran (ISO 8601). */
  checkedAt: string;
  error?: string;
}

let last: { at: number; check: Check } | null = null;

async function storageCheck(ctx: RegistryContext, now: number): Promise<Check> {
  if (last && now - last.at < CACHE_MS) return last.check;
  let check: Check;
  try {
    await ctx.storage.ping();
    check = { name: "storage", ok: true, checkedAt: new Date(now).toISOString() };
  } catch (e) {
    log.error(`health: storage check failed: ${describeError(e)}`);
    check = { name: "storage", ok: false, checkedAt: new Date(now).toISOString(), error: "the bucket did not answer as expected" };
  }
  last = { at: now, check };
  return check;
}

export async function health(ctx: RegistryContext, head: boolean): Promise<Response> {
  const checks = [await storageCheck(ctx, Date.now())];
  const ok = checks.every((c) => c.ok);
  const res = json({ status: ok ? "ok" : "unavailable", checks }, { status: ok ? 200 : 503, headers: { "Cache-Control": "no-store" } });
  return head ? new Response(null, { status: res.status, headers: res.headers }) : res;
}

/** Forgets the remembered result (tests). */
export function forgetHealth(): void {
  last = null;
}
