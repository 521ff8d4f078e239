// The two wire formats of a delivery, rendered from stored events: Distribution's envelope
// (application/vnd.docker.distribution.events.v2+json, `{"events": [...]}`, several events per request) and
// CloudEvents 1.0 in structured mode over HTTP (application/cloudevents+json, one event per request), whose
// `type` contains "image" and whose `data` carries repository, tag, digest, mediaType and registryUrl: the
// fields Argo CD Image Updater's CloudEvents webhook reads (and Flux's generic receivers ignore). Also which
// events an endpoint wants (its ignore rules).

import type { NotificationEndpoint } from "../config/notifications";
import type { RegistryEvent, StoredEvent } from "./protocol";

export const DISTRIBUTION_EVENTS_TYPE = "application/vnd.docker.distribution.events.v2+json";
export const CLOUDEVENTS_TYPE = "application/cloudevents+json; charset=utf-8";
/** Distribution's media type for blob events (it does not know a blob's own type either). */
export const BLOB_MEDIA_TYPE = "application/octet-stream";
/** Prefix of every CloudEvents type Berth sends: `<prefix>.<kind>.<action>`, e.g. berth.image.manifest.push. */
export const CLOUDEVENTS_TYPE_PREFIX = "berth.image";

export interface Body {
  contentType: string;
  body: string;
}

/** One Distribution envelope for the events. */
export function distributionBody(events: readonly StoredEvent[]): Body {
  return { contentType: DISTRIBUTION_EVENTS_TYPE, body: JSON.stringify({ events: events.map((e) => e.event) }) };
}

/** One structured-mode CloudEvent. */
export function cloudEvent(stored: StoredEvent): Record<string, unknown> {
  const { event: e, kind, origin } = stored;
  const t = e.target;
  const data: Record<string, unknown> = {
    action: e.action,
    repository: t.repository,
    registryUrl: e.request.host,
  };
  if (t.tag !== undefined) data.tag = t.tag;
  if (t.digest !== undefined) data.digest = t.digest;
  if (t.mediaType !== undefined) data.mediaType = t.mediaType;
  if (t.size !== undefined) data.size = t.size;
  if (t.url !== undefined) data.url = t.url;
  if (t.fromRepository !== undefined) data.fromRepository = t.fromRepository;
  if (e.actor.name !== undefined) data.actor = e.actor.name;
  const ce: Record<string, unknown> = {
    specversion: "1.0",
    id: e.id,
    source: `${origin}/v2/${t.repository}`,
    type: `${CLOUDEVENTS_TYPE_PREFIX}.${kind}.${e.action}`,
    time: e.timestamp,
    datacontenttype: "application/json",
    data,
  };
  // Only "repo:tag": Argo CD Image Updater reads a subject with a colon as repository and tag, so a digest
  // (sha256:…) there would pass for a tag.
  if (t.tag !== undefined) ce.subject = `${t.repository}:${t.tag}`;
  return ce;
}

export function cloudEventBody(stored: StoredEvent): Body {
  return { contentType: CLOUDEVENTS_TYPE, body: JSON.stringify(cloudEvent(stored)) };
}

/** Whether the endpoint wants the event at all (Distribution's ignore rules, plus Berth's). */
export function wants(endpoint: NotificationEndpoint, e: RegistryEvent, kind: StoredEvent["kind"]): boolean {
  if (endpoint.disabled) return false;
  if (endpoint.ignoredActions.includes(e.action)) return false;
  const mt = e.target.mediaType?.toLowerCase();
  if (mt !== undefined && endpoint.ignoredMediaTypes.includes(mt)) return false;
  if (endpoint.ignoreUntagged && e.target.tag === undefined) return false;
  if (e.action === "pull" && kind === "blob" && !endpoint.blobPulls) return false;
  return true;
}
