// @ts-check
// The registry client of Berth's UI: the public Distribution API (/v2/) and Berth's /v2/_berth/ext/ routes,
// same origin, with the registry's own authentication. The mode is learned from the challenge of GET /v2/:
// none (200), htpasswd (Basic: the credentials go on every request) or token (Bearer: tokens from the realm,
// one per scope, obtained with a refresh token after sign-in, anonymously before). Every fetch is made with
// `credentials: "omit"`: the browser then never shows its own login dialog for a 401 and never reuses HTTP
// credentials it cached elsewhere; the Authorization header is set here. The session (the Basic header, or the
// refresh token — never the password in token mode) lives in sessionStorage: it ends with the tab.

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const IMAGE_CONFIGS = ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];
const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
const SESSION_KEY = "berth.session";
const CLIENT_ID = "berth-ui";
/** Requests to the registry at once (a page of tags asks for one manifest per row). */
const PARALLEL = 6;

/** An answer that is not what was asked: the spec's error code and message when the registry sent one. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {{ kind: "none" } | { kind: "basic", realm: string } | { kind: "token", realm: string, service: string }} AuthMode
 * @typedef {{ user: string, basic?: string, refresh?: string }} Session
 * @typedef {{ type: string, name: string, actions: string[] }} Grant
 * @typedef {{ mediaType: string, digest: string, size: number, artifactType?: string, annotations?: Record<string, string>, platform?: Platform }} Descriptor
 * @typedef {{ architecture: string, os: string, variant?: string, "os.version"?: string }} Platform
 * @typedef {{ schemaVersion: number, mediaType?: string, artifactType?: string, config?: Descriptor, layers?: Descriptor[], manifests?: Descriptor[], subject?: Descriptor, annotations?: Record<string, string> }} Manifest
 * @typedef {{ digest: string, mediaType: string, size: number, manifest: Manifest }} FetchedManifest
 */

/** Parses `Bearer realm="…",service="…"` into the scheme and its parameters. @param {string} header */
export function parseChallenge(header) {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  /** @type {Record<string, string>} */
  const params = {};
  if (!m) return { scheme: "", params };
  for (const p of (m[2] ?? "").matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) params[(p[1] ?? "").toLowerCase()] = p[2] ?? "";
  return { scheme: (m[1] ?? "").toLowerCase(), params };
}

/** The `access` claim of a JWT, read without verifying (the registry verifies; this only shapes the UI). @param {string} jwt */
function grantsOf(jwt) {
  try {
    const part = (jwt.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return Array.isArray(claims.access) ? /** @type {Grant[]} */ (claims.access) : [];
  } catch {
    return [];
  }
}

/** @param {Response} res */
async function errorOf(res) {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    const e = body?.errors?.[0];
    if (e?.code) code = String(e.code);
    if (e?.message) message = String(e.message);
  } catch {
    // not the spec's error body
  }
  return new ApiError(res.status, code, message);
}

/** The scope a request needs in token mode, from its path. @param {string} path */
function scopeOf(path) {
  const p = path.split("?")[0] ?? "";
  if (p === "/v2/_catalog") return "registry:catalog:*";
  const ext = /^\/v2\/_berth\/ext\/blobs\/(.+)\/[^/]+$/.exec(p);
  const m = ext ?? /^\/v2\/(.+?)\/(?:tags|manifests|blobs|referrers)\//.exec(p);
  // Reads and deletes of a repository share one token: its grant also tells whether delete is allowed.
  return m ? `repository:${m[1]}:pull,delete` : "";
}

export class Registry {
  constructor() {
    /** @type {AuthMode | null} */
    this.mode = null;
    /** @type {Session | null} */
    this.session = null;
    try {
      const s = sessionStorage.getItem(SESSION_KEY);
      if (s) this.session = JSON.parse(s);
    } catch {
      // storage off: the session lasts until the page is reloaded
    }
    /** @type {Map<string, { token: string, expires: number, grants: Grant[] }>} */
    this.tokens = new Map();
    /** @type {Map<string, Promise<{ token: string, grants: Grant[] } | null>>} */
    this.pendingTokens = new Map();
    /** @type {Map<string, Promise<FetchedManifest>>} manifests by digest (content-addressed: never stale) */
    this.byDigest = new Map();
    /** @type {Map<string, Promise<unknown>>} image configs by digest */
    this.configs = new Map();
    this.running = 0;
    /** @type {(() => void)[]} */
    this.waiting = [];
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    /** Requests under way; `onBusy` hears when that changes between none and some. */
    this.inflight = 0;
    /** @type {(busy: boolean) => void} */
    this.onBusy = () => {};
  }

  /** @param {number} delta */
  busy(delta) {
    const was = this.inflight > 0;
    this.inflight += delta;
    if (was !== this.inflight > 0) this.onBusy(this.inflight > 0);
  }

  /** Learns the authentication mode from GET /v2/. */
  async init() {
    const res = await fetch("/v2/", { credentials: "omit", cache: "no-store" });
    if (res.status === 401) {
      const { scheme, params } = parseChallenge(res.headers.get("WWW-Authenticate") ?? "");
      if (scheme === "bearer" && params.realm) this.mode = { kind: "token", realm: params.realm, service: params.service ?? location.host };
      else this.mode = { kind: "basic", realm: params.realm ?? "" };
    } else if (res.ok) {
      this.mode = { kind: "none" };
      this.setSession(null);
    } else {
      throw await errorOf(res);
    }
    await res.body?.cancel();
    // A stored session of the other mode (the registry was reconfigured) is dropped.
    if (this.session && ((this.mode.kind === "basic" && !this.session.basic) || (this.mode.kind === "token" && !this.session.refresh))) this.setSession(null);
  }

  /** Whether signing in means anything here. */
  get canSignIn() {
    return this.mode !== null && this.mode.kind !== "none";
  }

  get user() {
    return this.session?.user ?? null;
  }

  /** @param {() => void} fn */
  onChange(fn) {
    this.listeners.add(fn);
  }

  /** @param {Session | null} s */
  setSession(s) {
    this.session = s;
    this.tokens.clear();
    try {
      if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
      else sessionStorage.removeItem(SESSION_KEY);
    } catch {
      // memory only
    }
    for (const fn of this.listeners) fn();
  }

  /**
   * Signs in; throws ApiError (401: wrong user name or password). The password is used once here; in token
   * mode only the refresh token the registry hands back is kept.
   * @param {string} user @param {string} password
   */
  async signIn(user, password) {
    const mode = this.mode;
    if (mode === null || mode.kind === "none") throw new ApiError(400, "UNSUPPORTED", "this registry has no sign-in");
    if (mode.kind === "basic") {
      const basic = `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)))}`;
      const res = await fetch("/v2/", { credentials: "omit", cache: "no-store", headers: { Authorization: basic } });
      if (!res.ok) throw await errorOf(res);
      await res.body?.cancel();
      this.setSession({ user, basic });
      return;
    }
    const form = new URLSearchParams({ grant_type: "password", username: user, password, service: mode.service, client_id: CLIENT_ID, access_type: "offline", scope: "registry:catalog:*" });
    const res = await fetch(mode.realm, { method: "POST", credentials: "omit", cache: "no-store", body: form });
    if (!res.ok) throw await errorOf(res);
    const body = await res.json();
    if (typeof body.refresh_token !== "string") throw new ApiError(500, "UNKNOWN", "the token server sent no refresh token");
    this.setSession({ user, refresh: body.refresh_token });
    const token = body.access_token ?? body.token;
    if (typeof token === "string") this.tokens.set("registry:catalog:*", { token, expires: Date.now() + ((body.expires_in ?? 60) - 10) * 1000, grants: grantsOf(token) });
  }

  signOut() {
    this.setSession(null);
  }

  /**
   * A token for `scope` (token mode), from the cache or the realm. @param {string} scope @param {boolean} fresh
   * @returns {Promise<{ token: string, grants: Grant[] } | null>}
   */
  async token(scope, fresh = false) {
    if (this.mode?.kind !== "token") return null;
    const hit = this.tokens.get(scope);
    if (hit && !fresh && hit.expires > Date.now()) return hit;
    // One request per scope, however many rows of a page ask at once.
    let pending = this.pendingTokens.get(scope);
    if (!pending) {
      pending = this.fetchToken(scope).finally(() => this.pendingTokens.delete(scope));
      this.pendingTokens.set(scope, pending);
    }
    return pending;
  }

  /** @param {string} scope */
  async fetchToken(scope) {
    const mode = this.mode;
    if (mode?.kind !== "token") return null;
    let res;
    if (this.session?.refresh) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: this.session.refresh, service: mode.service, client_id: CLIENT_ID });
      if (scope) form.set("scope", scope);
      res = await fetch(mode.realm, { method: "POST", credentials: "omit", cache: "no-store", body: form });
      if (res.status === 401) {
        // The refresh token was revoked (a new password, a removed user) or expired.
        this.setSession(null);
        throw new ApiError(401, "UNAUTHORIZED", "your session has ended; sign in again");
      }
    } else {
      const q = new URLSearchParams({ service: mode.service });
      if (scope) q.set("scope", scope);
      res = await fetch(`${mode.realm}?${q}`, { credentials: "omit", cache: "no-store" });
    }
    if (!res.ok) throw await errorOf(res);
    const body = await res.json();
    const token = String(body.access_token ?? body.token ?? "");
    const entry = { token, expires: Date.now() + Math.max(10, (body.expires_in ?? 60) - 10) * 1000, grants: grantsOf(token) };
    this.tokens.set(scope, entry);
    return entry;
  }

  /**
   * Whether the caller may delete in `repo`: true or false when the registry's token says so (token mode),
   * null when only trying will tell (the answer then explains a refusal). @param {string} repo
   */
  async mayDelete(repo) {
    if (this.mode?.kind !== "token") return null;
    const t = await this.token(`repository:${repo}:pull,delete`);
    return (t?.grants ?? []).some((g) => g.type === "repository" && g.name === repo && (g.actions.includes("delete") || g.actions.includes("*")));
  }

  /** Waits for one of PARALLEL slots. */
  async slot() {
    if (this.running < PARALLEL) {
      this.running++;
      return;
    }
    await new Promise((r) => this.waiting.push(() => r(undefined)));
  }

  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  /**
   * A request to the registry with this session's credentials; throws ApiError unless 2xx.
   * @param {string} path @param {RequestInit & { signal?: AbortSignal }} [init]
   */
  async request(path, init = {}) {
    this.busy(1);
    await this.slot();
    try {
      const scope = scopeOf(path);
      for (let attempt = 0; ; attempt++) {
        const headers = new Headers(init.headers);
        if (this.mode?.kind === "basic" && this.session?.basic) headers.set("Authorization", this.session.basic);
        if (this.mode?.kind === "token") {
          const t = await this.token(scope, attempt > 0);
          if (t) headers.set("Authorization", `Bearer ${t.token}`);
        }
        const res = await fetch(path, { cache: "no-store", ...init, headers, credentials: "omit" });
        if (res.ok) return res;
        // An expired token: one more try with a new one.
        if (res.status === 401 && this.mode?.kind === "token" && attempt === 0 && /invalid_token/.test(res.headers.get("WWW-Authenticate") ?? "")) continue;
        if (res.status === 401 && this.mode?.kind === "basic" && this.session) {
          // Basic credentials that no longer work (a new password, a removed user): the session is over.
          await res.body?.cancel();
          this.setSession(null);
          throw new ApiError(401, "UNAUTHORIZED", "your session has ended (the password may have changed); sign in again");
        }
        throw await errorOf(res);
      }
    } finally {
      this.release();
      this.busy(-1);
    }
  }

  /**
   * Repository names after `last` (a page of the catalog) and whether more follow.
   * @param {string} last @param {number} n @param {AbortSignal} [signal]
   */
  async catalogPage(last, n, signal) {
    const q = new URLSearchParams({ n: String(n) });
    if (last) q.set("last", last);
    const res = await this.request(`/v2/_catalog?${q}`, { signal });
    const body = await res.json();
    return { names: /** @type {string[]} */ (body.repositories ?? []), more: res.headers.has("Link") };
  }

  /**
   * Every tag of `repo`, a registry page (1,000 names) at a time: names only, so 5,000 tags are ~100 KB.
   * `onPage` hears the names so far after each page (`done` on the last), so the first page can show at once.
   * @param {string} repo @param {AbortSignal} [signal] @param {(sofar: string[], done: boolean) => void} [onPage]
   */
  async allTags(repo, signal, onPage) {
    /** @type {string[]} */
    const tags = [];
    let path = `/v2/${repo}/tags/list?n=1000`;
    for (let i = 0; i < 1000; i++) {
      const res = await this.request(path, { signal });
      const body = await res.json();
      tags.push(...(body.tags ?? []));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("Link") ?? "");
      if (!next || !next[1]) break;
      onPage?.(tags.slice(), false);
      const u = new URL(next[1], location.origin);
      path = u.pathname + u.search;
    }
    onPage?.(tags, true);
    return tags;
  }

  /**
   * A manifest by tag or digest. By digest it is remembered (content-addressed); by tag it is asked every time.
   * @param {string} repo @param {string} ref @param {AbortSignal} [signal] @returns {Promise<FetchedManifest>}
   */
  manifest(repo, ref, signal) {
    const byDigest = ref.includes(":");
    const key = `${repo}@${ref}`;
    if (byDigest) {
      const hit = this.byDigest.get(key);
      if (hit) return hit;
    }
    const p = (async () => {
      const res = await this.request(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT }, signal });
      const text = await res.text();
      const manifest = /** @type {Manifest} */ (JSON.parse(text));
      const digest = res.headers.get("Docker-Content-Digest") ?? (byDigest ? ref : "");
      const mediaType = manifest.mediaType ?? (res.headers.get("Content-Type") ?? "").split(";")[0] ?? "";
      const fetched = { digest, mediaType, size: new TextEncoder().encode(text).byteLength, manifest };
      if (digest) this.byDigest.set(`${repo}@${digest}`, Promise.resolve(fetched));
      return fetched;
    })();
    if (byDigest) {
      this.byDigest.set(key, p);
      p.catch(() => this.byDigest.delete(key));
    }
    return p;
  }

  /** An image config (through Berth's small-blob route: blob GET redirects to the bucket). @param {string} repo @param {string} digest */
  config(repo, digest) {
    const key = `${repo}@${digest}`;
    let p = this.configs.get(key);
    if (!p) {
      p = this.request(`/v2/_berth/ext/blobs/${repo}/${digest}`, { cache: "default" }).then((r) => r.json());
      this.configs.set(key, p);
      p.catch(() => this.configs.delete(key));
    }
    return p;
  }

  /** The referrers of a manifest (OCI 1.1). @param {string} repo @param {string} digest @param {AbortSignal} [signal] */
  async referrers(repo, digest, signal) {
    const res = await this.request(`/v2/${repo}/referrers/${digest}`, { signal });
    const body = await res.json();
    return /** @type {Descriptor[]} */ (body.manifests ?? []);
  }

  /** Deletes a tag or (by digest) a manifest. @param {string} repo @param {string} ref */
  async remove(repo, ref) {
    const res = await this.request(`/v2/${repo}/manifests/${ref}`, { method: "DELETE" });
    await res.body?.cancel();
    for (const k of [...this.byDigest.keys()]) if (k === `${repo}@${ref}`) this.byDigest.delete(k);
  }
}

/** @param {string} mt */
export const isIndex = (mt) => mt === OCI_INDEX || mt === DOCKER_LIST;

/**
 * What a manifest is: an image, a multi-arch index, or an artifact (with its artifactType: the manifest's own,
 * else its config's media type, as the referrers API reports it).
 * @param {FetchedManifest} m @returns {{ kind: "image" | "index" | "artifact", artifactType?: string }}
 */
export function kindOf(m) {
  if (isIndex(m.mediaType) || Array.isArray(m.manifest.manifests)) {
    return m.manifest.artifactType ? { kind: "artifact", artifactType: m.manifest.artifactType } : { kind: "index" };
  }
  if (m.manifest.artifactType) return { kind: "artifact", artifactType: m.manifest.artifactType };
  const cfg = m.manifest.config?.mediaType ?? "";
  if (cfg === "" || IMAGE_CONFIGS.includes(cfg)) return { kind: "image" };
  return { kind: "artifact", artifactType: cfg };
}

/** `linux/arm64/v8` @param {Platform | undefined} p */
export function platformName(p) {
  if (!p) return "";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/") + (p["os.version"] ? ` (${p["os.version"]})` : "");
}
