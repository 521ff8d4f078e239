// Pull-through cache settings: which upstream registries Berth mirrors, and for which local names. Two forms,
// parsed into one list of upstreams:
//  - Distribution's proxy settings (REGISTRY_PROXY_REMOTEURL, _USERNAME, _PASSWORD, _TTL): the whole registry
//    caches one upstream, and every push is refused, as Distribution does;
//  - BERTH_UPSTREAMS (JSON list): several upstreams, each caching under its own local prefix, reached by that
//    prefix, by `?ns=` (its `namespaces`), or as the `default` for names nothing else claims. zot's sync fields
//    drive periodic sync (src/jobs/sync), parsed and checked here.
// A bad field fails with its path (`BERTH_UPSTREAMS: [1].ttl: …`); passwords are read from named secrets and
// never echoed.

import { nameGrammarError } from "../oci/names";
import { compileGlob } from "./access";
import { parseRetentionObject, type RetentionConfig } from "./retention";
import { ConfigError, parseGoDuration, parseJsonSetting, read, readDuration, readUrl, type Env } from "./values";

const SETTING = "BERTH_UPSTREAMS";

/** zot's sync `content` entry: what a periodic sync copies. */
export interface SyncContent {
  /** Upstream repository glob (zot's `prefix`). */
  prefix: string;
  tagsRegex: RegExp | null;
  tagsSemver: boolean;
  destination: string | null;
  stripPrefix: boolean;
}

export interface Upstream {
  name: string;
  /** Base URLs (no trailing slash), tried in order when one fails. */
  urls: string[];
  /** Local repositories `<prefix>/<upstream repository>` are its cache; "" when it caches the whole registry. */
  prefix: string;
  /** Upstream host names it answers for through `?ns=` (lowercase). */
  namespaces: string[];
  /** Also serves names that match no local repository and no prefix (dockerd's registry-mirrors). */
  default: boolean;
  /** Credentials for the upstream; the password (or token) came from a secret. */
  credentials: { username: string; password: string } | null;
  /** A cached tag is served this long before the upstream is asked again, ms (0: asked every time). */
  ttlMs: number;
  /** Docker Hub: single-segment names gain `library/`. */
  dockerHub: boolean;
  /** Pull on demand (a miss is fetched); false: only periodic sync fills the cache. */
  onDemand: boolean;
  /** Periodic sync (zot's fields, run by src/jobs/sync); null when `pollInterval` is not set. */
  sync: { pollIntervalMs: number; content: SyncContent[]; maxRetries: number; retryDelayMs: number } | null;
}

export interface MirrorConfig {
  upstreams: Upstream[];
  /** REGISTRY_PROXY_REMOTEURL: the whole registry is a cache of upstreams[0]; every push is refused. */
  wholeRegistry: boolean;
  /** REGISTRY_PROXY_TTL: how long proxied content is kept before it is evicted, ms (enforced by proxyEviction). */
  evictAfterMs: number | null;
}

const NO_MIRROR: MirrorConfig = { upstreams: [], wholeRegistry: false, evictAfterMs: null };

const DOCKER_HUB_HOSTS = new Set(["registry-1.docker.io", "docker.io", "index.docker.io", "registry.hub.docker.com"]);
const DEFAULT_TTL_MS = 10 * 60_000;
const PROXY_TTL_DEFAULT_MS = 168 * 3600_000;
const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const HOST_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;
const FIELDS = ["name", "urls", "prefix", "namespaces", "default", "credentials", "ttl", "onDemand", "pollInterval", "content", "maxRetries", "retryDelay"];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const quote = (v: string) => JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);

function fail(at: string, why: string): never {
  throw new ConfigError(SETTING, `${at}: ${why}`);
}

function only(o: Obj, allowed: readonly string[], at: string): void {
  const bad = Object.keys(o).find((k) => !allowed.includes(k));
  if (bad !== undefined) fail(at, `unknown field ${quote(bad)} (known: ${allowed.join(", ")})`);
}

function text(v: unknown, at: string): string {
  if (typeof v !== "string" || v.trim() === "") fail(at, "must be a non-empty string");
  return v.trim();
}

function flag(v: unknown, at: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") fail(at, "must be true or false");
  return v;
}

function durationOf(v: unknown, at: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "string") fail(at, 'must be a Go duration string like "10m" or "1h"');
  try {
    const ms = parseGoDuration(v);
    if (ms < 0) fail(at, "must not be negative");
    return ms;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    return fail(at, (e as Error).message);
  }
}

function upstreamUrl(v: unknown, at: string): string {
  const s = text(v, at);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return fail(at, "is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") fail(at, "must be an http or https URL");
  if (u.username !== "" || u.password !== "") fail(at, "must not contain credentials: use `credentials` with a secret");
  if (u.search !== "" || u.hash !== "") fail(at, "must not have a query or fragment");
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
}

function credentialsOf(v: unknown, at: string, env: Env): Upstream["credentials"] {
  if (v === undefined || v === null) return null;
  if (!isObj(v)) fail(at, 'must be an object {"username": "…", "secret": "WORKER_SECRET_NAME"}');
  only(v, ["username", "secret"], at);
  const username = text(v.username, `${at}.username`);
  const name = text(v.secret, `${at}.secret`);
  if (!SECRET_NAME_RE.test(name)) fail(`${at}.secret`, "must name a Worker secret (letters, digits, _)");
  const password = read(env, name);
  if (password === undefined) fail(`${at}.secret`, `names ${name}, which is not set (wrangler secret put ${name})`);
  return { username, password };
}

function contentOf(v: unknown, at: string): SyncContent {
  if (!isObj(v)) fail(at, "must be an object");
  only(v, ["prefix", "tags", "destination", "stripPrefix"], at);
  let tagsRegex: RegExp | null = null;
  let tagsSemver = false;
  if (v.tags !== undefined) {
    if (!isObj(v.tags)) fail(`${at}.tags`, "must be an object");
    only(v.tags, ["regex", "semver"], `${at}.tags`);
    if (v.tags.regex !== undefined) {
      const src = text(v.tags.regex, `${at}.tags.regex`);
      try {
        tagsRegex = new RegExp(src);
      } catch {
        fail(`${at}.tags.regex`, `is not a valid regular expression: ${quote(src)}`);
      }
    }
    tagsSemver = flag(v.tags.semver, `${at}.tags.semver`, false);
  }
  const destination = v.destination === undefined ? null : text(v.destination, `${at}.destination`).replace(/^\/+|\/+$/g, "");
  if (destination && nameGrammarError(destination)) fail(`${at}.destination`, nameGrammarError(destination)!);
  const prefix = text(v.prefix, `${at}.prefix`);
  // The glob is compiled again by the sync job; a bad one fails here, where the setting is read.
  compileGlob(prefix.replace(/^\/+|\/+$/g, ""), `${at}.prefix`, SETTING);
  return { prefix, tagsRegex, tagsSemver, destination, stripPrefix: flag(v.stripPrefix, `${at}.stripPrefix`, false) };
}

function syncOf(o: Obj, at: string): Upstream["sync"] {
  const content = o.content === undefined ? [] : o.content;
  if (!Array.isArray(content)) fail(`${at}.content`, "must be a list");
  const parsed = content.map((c, i) => contentOf(c, `${at}.content[${i}]`));
  const maxRetries = o.maxRetries ?? 0;
  if (typeof maxRetries !== "number" || !Number.isSafeInteger(maxRetries) || maxRetries < 0 || maxRetries > 100) {
    fail(`${at}.maxRetries`, "must be a whole number from 0 to 100");
  }
  const retryDelayMs = durationOf(o.retryDelay, `${at}.retryDelay`, 0);
  if (o.pollInterval === undefined) return null;
  const pollIntervalMs = durationOf(o.pollInterval, `${at}.pollInterval`, 0);
  if (pollIntervalMs < 60_000) fail(`${at}.pollInterval`, "must be at least 1m");
  return { pollIntervalMs, content: parsed, maxRetries, retryDelayMs };
}

function upstreamOf(v: unknown, at: string, env: Env): Upstream {
  if (!isObj(v)) fail(at, "must be an object");
  only(v, FIELDS, at);
  const name = text(v.name, `${at}.name`);
  if (!NAME_RE.test(name)) fail(`${at}.name`, `must be letters, digits, ".", "_" or "-", got ${quote(name)}`);
  if (!Array.isArray(v.urls) || v.urls.length === 0) fail(`${at}.urls`, 'must be a non-empty list, e.g. ["https://registry-1.docker.io"]');
  const urls = v.urls.map((u, i) => upstreamUrl(u, `${at}.urls[${i}]`));
  const prefix = text(v.prefix, `${at}.prefix`).replace(/^\/+|\/+$/g, "");
  const bad = nameGrammarError(prefix);
  if (bad) fail(`${at}.prefix`, `must be a repository name, e.g. "hub": ${bad}`);
  const namespaces = v.namespaces === undefined ? [] : v.namespaces;
  if (!Array.isArray(namespaces)) fail(`${at}.namespaces`, 'must be a list of host names, e.g. ["docker.io"]');
  const hosts = namespaces.map((n, i) => {
    const h = text(n, `${at}.namespaces[${i}]`).toLowerCase();
    if (!HOST_RE.test(h)) fail(`${at}.namespaces[${i}]`, `must be a host name, got ${quote(h)}`);
    return h;
  });
  return {
    name,
    urls,
    prefix,
    namespaces: hosts,
    default: flag(v.default, `${at}.default`, false),
    credentials: credentialsOf(v.credentials, `${at}.credentials`, env),
    ttlMs: durationOf(v.ttl, `${at}.ttl`, DEFAULT_TTL_MS),
    dockerHub: urls.some((u) => DOCKER_HUB_HOSTS.has(new URL(u).hostname)),
    onDemand: flag(v.onDemand, `${at}.onDemand`, true),
    sync: syncOf(v, at),
  };
}

/** Two upstreams must not claim the same thing: names, prefixes (nor one inside another), namespaces. */
function checkDisjoint(list: Upstream[]): void {
  list.forEach((u, i) => {
    list.slice(0, i).forEach((o, j) => {
      if (o.name === u.name) fail(`[${i}].name`, `${quote(u.name)} is also the name of [${j}]`);
      if (o.prefix === u.prefix || o.prefix.startsWith(`${u.prefix}/`) || u.prefix.startsWith(`${o.prefix}/`)) {
        fail(`[${i}].prefix`, `${quote(u.prefix)} overlaps the prefix ${quote(o.prefix)} of [${j}]`);
      }
      const ns = u.namespaces.find((n) => o.namespaces.includes(n));
      if (ns !== undefined) fail(`[${i}].namespaces`, `${quote(ns)} is also a namespace of [${j}]`);
    });
  });
  const defaults = list.filter((u) => u.default);
  if (defaults.length > 1) fail(`[${list.indexOf(defaults[1]!)}].default`, `only one upstream may be the default (${quote(defaults[0]!.name)} is)`);
}

/**
 * REGISTRY_PROXY_TTL as Distribution means it: in proxy mode, cached content is evicted once it is older than
 * the ttl (default 168h; 0 keeps everything). Berth does it with a retention policy the collector applies on
 * its runs: a tag not confirmed within the ttl is removed (proxy mode asks the upstream on every pull by tag,
 * and an unchanged answer renews the tag now and then, so a tag in use is kept; while the upstream is down
 * nothing is confirmed, and, as in Distribution, it goes ttl after it last was), then manifests untagged for
 * longer than the ttl, then the blobs only they named. null outside proxy mode or with ttl 0; config/gc.ts
 * uses it only when BERTH_RETENTION is not set (the operator's policies are used instead).
 */
export function proxyEviction(mirror: MirrorConfig): RetentionConfig | null {
  const ms = mirror.wholeRegistry ? mirror.evictAfterMs : null;
  if (ms === null || ms === 0) return null;
  const ttl = `${Math.max(1, Math.round(ms / 1000))}s`;
  return parseRetentionObject({ delay: ttl, policies: [{ repositories: ["**"], deleteUntagged: true, keepTags: [{ pushedWithin: ttl }] }] });
}

function parseProxy(env: Env): MirrorConfig {
  const url = readUrl(env, "REGISTRY_PROXY_REMOTEURL", true)!;
  const username = read(env, "REGISTRY_PROXY_USERNAME");
  const password = read(env, "REGISTRY_PROXY_PASSWORD");
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(username === undefined ? "REGISTRY_PROXY_USERNAME" : "REGISTRY_PROXY_PASSWORD", "must be set together with the other one");
  }
  const evictAfterMs = readDuration(env, "REGISTRY_PROXY_TTL", PROXY_TTL_DEFAULT_MS, 0, Number.MAX_SAFE_INTEGER, "a duration, 0 or more");
  const upstream: Upstream = {
    name: "proxy",
    urls: [url],
    prefix: "",
    namespaces: [],
    default: true,
    credentials: username === undefined ? null : { username, password: password! },
    // Distribution's proxy asks the upstream for every manifest by tag (its ttl evicts cached content instead).
    ttlMs: 0,
    dockerHub: DOCKER_HUB_HOSTS.has(new URL(url).hostname),
    onDemand: true,
    sync: null,
  };
  return { upstreams: [upstream], wholeRegistry: true, evictAfterMs };
}

export function parseUpstreams(env: Env): MirrorConfig {
  const json = read(env, SETTING);
  const proxy = read(env, "REGISTRY_PROXY_REMOTEURL");
  if (proxy !== undefined && json !== undefined) {
    throw new ConfigError(SETTING, "cannot be combined with REGISTRY_PROXY_REMOTEURL (which makes the whole registry one upstream's cache)");
  }
  if (proxy !== undefined) return parseProxy(env);
  if (json === undefined) return NO_MIRROR;
  const v = parseJsonSetting(SETTING, json);
  if (!Array.isArray(v)) throw new ConfigError(SETTING, 'must be a JSON list of upstreams, e.g. [{"name": "hub", "urls": ["https://registry-1.docker.io"], "prefix": "hub"}]');
  const upstreams = v.map((u, i) => upstreamOf(u, `[${i}]`, env));
  checkDisjoint(upstreams);
  return { upstreams, wholeRegistry: false, evictAfterMs: null };
}
