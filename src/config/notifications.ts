// Webhook notifications (REGISTRY_NOTIFICATIONS): Distribution's `notifications` section as JSON, parsed and
// validated once like every other setting. Endpoints keep Distribution's names (name, url, headers, timeout,
// threshold, backoff, ignoredmediatypes, ignore, disabled) and gain Berth's own: format (the Distribution
// envelope or CloudEvents), maxbackoff and maxattempts (delivery is durable here, so retries need a cap and
// an end: the dead-letter list), and blobpulls. Credentials in headers are never written in the JSON itself:
// a header value {"secret": "NAME"} is read from the Worker secret NAME, and a header whose name looks like a
// credential must be given that way. No header value is ever echoed in a message.

import { ConfigError, parseGoDuration, show, type Env } from "./values";

const SETTING = "REGISTRY_NOTIFICATIONS";

export type EventAction = "push" | "pull" | "mount" | "delete";
export const EVENT_ACTIONS: readonly EventAction[] = ["push", "pull", "mount", "delete"];

export type EndpointFormat = "distribution" | "cloudevents";

export interface NotificationEndpoint {
  name: string;
  url: string;
  /** Sent with every delivery (values of secret headers resolved from the Worker's secrets). */
  headers: readonly [string, string][];
  format: EndpointFormat;
  /** Per delivery request, ms. */
  timeoutMs: number;
  /** Consecutive failures retried at once before backing off (Distribution's threshold). */
  threshold: number;
  /** The first backoff once the threshold is reached, ms; doubled per further failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Attempts per event before it goes to the dead-letter list. */
  maxAttempts: number;
  /** Media types (lower-case) never sent (ignoredmediatypes and ignore.mediatypes together). */
  ignoredMediaTypes: readonly string[];
  ignoredActions: readonly EventAction[];
  /** ignore.untagged: events that name no tag are not sent (e.g. for Argo CD Image Updater, which needs one). */
  ignoreUntagged: boolean;
  /** Send an event per blob pull (off by default: blob pulls are only counted). */
  blobPulls: boolean;
  disabled: boolean;
}

export interface NotificationsConfig {
  /** Every configured endpoint, disabled ones included (their queued events wait, untouched). */
  endpoints: readonly NotificationEndpoint[];
}

export const NO_NOTIFICATIONS: NotificationsConfig = { endpoints: [] };

const ENDPOINT_KEYS = [
  "name", "url", "headers", "timeout", "threshold", "backoff", "maxbackoff", "maxattempts",
  "ignoredmediatypes", "ignore", "disabled", "format", "blobpulls",
];
const MAX_ENDPOINTS = 16;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Header names whose values are credentials: they must come from a Worker secret. */
const CREDENTIAL_HEADER_RE = /auth|secret|token|key|cookie|signature|password|session/i;
/** Query parameters that would put a credential in the URL, which is configuration text (and logs). */
const CREDENTIAL_PARAM_RE = /^(secret|token|key|password|signature|auth.*|access_token|api[-_]?key)$/i;
/** Headers Berth sets itself. */
const RESERVED_HEADERS = new Set(["content-type", "content-length", "host", "transfer-encoding", "connection"]);

function fail(field: string, message: string): never {
  throw new ConfigError(SETTING, `${field}: ${message}`);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function checkKeys(o: Obj, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(field, `unknown key ${show(k)} (known: ${allowed.join(", ")})`);
  }
}

/** A Go duration string ("500ms", "1s", "10m") within bounds, in ms. */
function duration(v: unknown, field: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "string") fail(field, `must be a Go duration string like "500ms" or "2s"`);
  let ms: number;
  try {
    ms = parseGoDuration(v);
  } catch (e) {
    fail(field, (e as Error).message);
  }
  if (!(ms >= min && ms <= max)) fail(field, `must be between ${min}ms and ${max / 1000}s, got ${show(v)}`);
  return ms;
}

function integer(v: unknown, field: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) fail(field, `must be a whole number from ${min} to ${max}`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") fail(field, "must be true or false");
  return v;
}

function strings(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string" && s.trim() !== "")) fail(field, "must be a list of strings");
  return v.map((s: string) => s.trim().toLowerCase());
}

function parseUrl(v: unknown, field: string): string {
  if (typeof v !== "string" || v.trim() === "") fail(field, "is required: the endpoint's http(s) URL");
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    fail(field, "is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") fail(field, "must be an http or https URL");
  if (u.username !== "" || u.password !== "") fail(field, 'must not contain credentials: send them in a header from a Worker secret ({"secret": "NAME"})');
  for (const p of u.searchParams.keys()) {
    if (CREDENTIAL_PARAM_RE.test(p)) fail(field, `must not carry a credential in ?${p}=: send it in a header from a Worker secret (e.g. X-Webhook-Secret)`);
  }
  return u.toString();
}

function parseHeaders(v: unknown, field: string, env: Env): [string, string][] {
  if (v === undefined) return [];
  if (!isObj(v)) fail(field, 'must be an object of header names to values, e.g. {"X-Webhook-Secret": {"secret": "HOOK_SECRET"}}');
  const out: [string, string][] = [];
  for (const [name, raw] of Object.entries(v)) {
    const where = `${field}.${name}`;
    if (!HEADER_NAME_RE.test(name)) fail(field, `${show(name)} is not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) fail(where, "is set by Berth itself");
    if (isObj(raw)) {
      checkKeys(raw, ["secret"], where);
      const secret = raw.secret;
      if (typeof secret !== "string" || !SECRET_NAME_RE.test(secret)) fail(where, 'secret must name a Worker secret, like {"secret": "HOOK_SECRET"}');
      const value = env[secret];
      if (typeof value !== "string" || value.trim() === "") fail(where, `the Worker secret ${secret} is not set (wrangler secret put ${secret})`);
      if (/[\r\n\x00]/.test(value)) fail(where, `the Worker secret ${secret} contains a line break or NUL`);
      out.push([name, value.trim()]);
      continue;
    }
    if (CREDENTIAL_HEADER_RE.test(name)) {
      fail(where, `looks like a credential, so its value must come from a Worker secret: {"secret": "NAME"} (wrangler secret put NAME), never from the configuration text`);
    }
    // Distribution's form is a list of values; a plain string is accepted too.
    const values = typeof raw === "string" ? [raw] : raw;
    if (!Array.isArray(values) || values.length === 0 || !values.every((s) => typeof s === "string")) {
      fail(where, 'must be a string, a list of strings, or {"secret": "NAME"}');
    }
    for (const s of values as string[]) {
      if (/[\r\n\x00]/.test(s)) fail(where, "contains a line break or NUL");
      out.push([name, s]);
    }
  }
  return out;
}

function parseEndpoint(v: unknown, i: number, env: Env): NotificationEndpoint {
  const field = `endpoints[${i}]`;
  if (!isObj(v)) fail(field, "must be an object");
  checkKeys(v, ENDPOINT_KEYS, field);
  if (typeof v.name !== "string" || !NAME_RE.test(v.name)) fail(`${field}.name`, "is required: 1 to 64 letters, digits, '.', '_' or '-'");
  const f = `endpoints[${i}] (${v.name})`;
  const format = v.format ?? "distribution";
  if (format !== "distribution" && format !== "cloudevents") fail(`${f}.format`, `must be "distribution" or "cloudevents"`);
  let ignoredActions: EventAction[] = [];
  let ignoredMediaTypes = strings(v.ignoredmediatypes, `${f}.ignoredmediatypes`);
  let ignoreUntagged = false;
  if (v.ignore !== undefined) {
    if (!isObj(v.ignore)) fail(`${f}.ignore`, "must be an object with mediatypes and actions");
    checkKeys(v.ignore, ["mediatypes", "actions", "untagged"], `${f}.ignore`);
    ignoredMediaTypes = [...new Set([...ignoredMediaTypes, ...strings(v.ignore.mediatypes, `${f}.ignore.mediatypes`)])];
    for (const a of strings(v.ignore.actions, `${f}.ignore.actions`)) {
      if (!EVENT_ACTIONS.includes(a as EventAction)) fail(`${f}.ignore.actions`, `${show(a)} is not one of ${EVENT_ACTIONS.join(", ")}`);
      ignoredActions.push(a as EventAction);
    }
    ignoredActions = [...new Set(ignoredActions)];
    ignoreUntagged = bool(v.ignore.untagged, `${f}.ignore.untagged`);
  }
  const backoffMs = duration(v.backoff, `${f}.backoff`, 1000, 1, 3_600_000);
  const maxBackoffMs = duration(v.maxbackoff, `${f}.maxbackoff`, 600_000, 1, 86_400_000);
  if (maxBackoffMs < backoffMs) fail(`${f}.maxbackoff`, "must not be shorter than backoff");
  return {
    name: v.name,
    url: parseUrl(v.url, `${f}.url`),
    headers: parseHeaders(v.headers, `${f}.headers`, env),
    format,
    // Distribution's defaults: timeout 1s, threshold 10, backoff 1s.
    timeoutMs: duration(v.timeout, `${f}.timeout`, 1000, 1, 60_000),
    threshold: integer(v.threshold, `${f}.threshold`, 10, 1, 100),
    backoffMs,
    maxBackoffMs,
    maxAttempts: integer(v.maxattempts, `${f}.maxattempts`, 50, 1, 1000),
    ignoredMediaTypes,
    ignoredActions,
    ignoreUntagged,
    blobPulls: bool(v.blobpulls, `${f}.blobpulls`),
    disabled: bool(v.disabled, `${f}.disabled`),
  };
}

/** Parses REGISTRY_NOTIFICATIONS; throws ConfigError naming the field (never a header's value). */
export function parseNotifications(env: Env): NotificationsConfig {
  const v = env[SETTING];
  if (v === undefined || v === null || (typeof v === "string" && v.trim() === "")) return NO_NOTIFICATIONS;
  if (typeof v !== "string") throw new ConfigError(SETTING, `must be a JSON string, got ${typeof v}`);
  let doc: unknown;
  try {
    doc = JSON.parse(v);
  } catch (e) {
    throw new ConfigError(SETTING, `is not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(doc)) throw new ConfigError(SETTING, 'must be a JSON object like {"endpoints": [{"name": "hook", "url": "https://…"}]}');
  checkKeys(doc, ["endpoints"], "notifications");
  if (doc.endpoints === undefined) return NO_NOTIFICATIONS;
  if (!Array.isArray(doc.endpoints)) fail("endpoints", "must be a list");
  if (doc.endpoints.length > MAX_ENDPOINTS) fail("endpoints", `at most ${MAX_ENDPOINTS} endpoints`);
  const endpoints = doc.endpoints.map((e, i) => parseEndpoint(e, i, env));
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (seen.has(e.name)) fail("endpoints", `the name ${show(e.name)} is used twice`);
    seen.add(e.name);
  }
  return { endpoints };
}
