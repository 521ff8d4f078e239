// One delivery attempt to one endpoint: a POST of the events in the endpoint's format, with its headers and
// timeout. Any 2xx or 3xx (after redirects) is delivered, as in Distribution; anything else, a timeout or a
// network error is a failure, described without the URL or any header (they may hold credentials).

import type { NotificationEndpoint } from "../config/notifications";
import { cloudEventBody, distributionBody, type Body } from "./formats";
import type { StoredEvent } from "./protocol";

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface Attempt {
  /** How many of the events, from the first, were delivered. */
  delivered: number;
  /** Why the next one was not, or null when all were. */
  error: string | null;
}

/** Most events per Distribution envelope. */
export const ENVELOPE_MAX_EVENTS = 50;

async function post(fetcher: Fetch, endpoint: NotificationEndpoint, body: Body): Promise<string | null> {
  const headers = new Headers();
  for (const [k, v] of endpoint.headers) headers.append(k, v);
  headers.set("Content-Type", body.contentType);
  try {
    const res = await fetcher(endpoint.url, {
      method: "POST",
      headers,
      body: body.body,
      redirect: "follow",
      signal: AbortSignal.timeout(endpoint.timeoutMs),
    });
    // The body is not needed; an unread body holds the connection.
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 400) return null;
    return `HTTP ${res.status}`;
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    if (name === "TimeoutError" || name === "AbortError") return `no answer within ${endpoint.timeoutMs} ms`;
    // Runtime messages of a failed connection may name the URL: keep only the error's class.
    return `request failed (${name || "error"})`;
  }
}

/**
 * Sends the events: one envelope (Distribution; all or nothing), or one CloudEvent after the other,
 * stopping at the first failure (so `delivered` counts the ones that arrived).
 */
export async function deliver(fetcher: Fetch, endpoint: NotificationEndpoint, events: readonly StoredEvent[]): Promise<Attempt> {
  if (events.length === 0) return { delivered: 0, error: null };
  if (endpoint.format === "distribution") {
    const error = await post(fetcher, endpoint, distributionBody(events));
    return { delivered: error === null ? events.length : 0, error };
  }
  for (let i = 0; i < events.length; i++) {
    const error = await post(fetcher, endpoint, cloudEventBody(events[i]!));
    if (error !== null) return { delivered: i, error };
  }
  return { delivered: events.length, error: null };
}

/** Events per delivery request batch of the format (CloudEvents: each is its own request). */
export function batchSize(endpoint: NotificationEndpoint): number {
  return endpoint.format === "distribution" ? ENVELOPE_MAX_EVENTS : 10;
}
