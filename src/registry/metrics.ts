// GET /metrics: the registry's counters in the Prometheus text format. Who may scrape: a caller presenting
// `Authorization: Bearer <BERTH_METRICS_TOKEN>`, or one the admin API admits (adminPolicy). With a token set,
// an anonymous caller is refused even where the admin API would be open (REGISTRY_AUTH=none): setting a token
// says the metrics are not public. The scrape first flushes its own isolate's counts, then reads the aggregate
// of every isolate and Durable Object from the metrics object, and the notification counts from the outboxes
// (which keep them in their own state: no extra write per delivery).

import { OUTBOX_SHARDS, type EndpointStats } from "../events/protocol";
import { gaugeSeries, PROMETHEUS_CONTENT_TYPE, renderPrometheus, type GaugeValue } from "../metrics/render";
import { seriesKey, type MetricsBatch } from "../metrics/tally";
import { OciError } from "../oci/errors";
import type { RegistryContext } from "./context";

/** The challenge of a refused scrape when a metrics token is configured. */
export const METRICS_CHALLENGE = 'Bearer realm="berth-metrics"';

function requireScraper(ctx: RegistryContext): void {
  if (ctx.metrics.tokenAccepted) return;
  if (ctx.cfg.observability.metricsToken !== null && ctx.request.caller.anonymous) {
    throw new OciError("UNAUTHORIZED", "the metrics endpoint needs the metrics token (Authorization: Bearer) or an admin", {
      headers: { "WWW-Authenticate": METRICS_CHALLENGE },
    });
  }
  ctx.access.requireAdmin();
}

/** Deliveries, failures and dead letters per endpoint, summed over the outboxes. */
async function notificationSeries(ctx: RegistryContext): Promise<MetricsBatch> {
  if (ctx.cfg.notifications.endpoints.length === 0) return {};
  const parts = await Promise.all(Array.from({ length: OUTBOX_SHARDS }, (_, s) => ctx.outbox(s).stats()));
  const out: MetricsBatch = {};
  const gauges: GaugeValue[] = [];
  for (const ep of ctx.cfg.notifications.endpoints) {
    const all = parts.map((p) => p.endpoints[ep.name]).filter((s): s is EndpointStats => s !== undefined);
    const sum = (f: (s: EndpointStats) => number) => all.reduce((n, s) => n + f(s), 0);
    const endpoint = { endpoint: ep.name };
    out[seriesKey("berth_notification_deliveries_total", endpoint)] = sum((s) => s.delivered);
    out[seriesKey("berth_notification_failures_total", endpoint)] = sum((s) => s.failedAttempts);
    out[seriesKey("berth_notification_dead_letters_total", endpoint)] = sum((s) => s.deadLettered);
    gauges.push({ name: "berth_notification_queued", labels: endpoint, value: sum((s) => s.pending) });
    gauges.push({ name: "berth_notification_dead_letters", labels: endpoint, value: sum((s) => s.dead) });
  }
  return { ...out, ...gaugeSeries(gauges) };
}

export async function scrapeMetrics(ctx: RegistryContext, head: boolean): Promise<Response> {
  requireScraper(ctx);
  await ctx.metrics.flush();
  const [series, notifications] = await Promise.all([ctx.metrics.read(), notificationSeries(ctx)]);
  const headers = { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-store" };
  if (head) return new Response(null, { status: 200, headers });
  return new Response(renderPrometheus({ ...(series ?? {}), ...notifications }), { status: 200, headers });
}
