// Authentication to an upstream registry: anonymous, HTTP Basic, or Docker's token flow, whichever the
// upstream's challenge (WWW-Authenticate on a 401) asks for. Bearer tokens are fetched from the challenge's
// realm with its service and the request's scope (Basic credentials to the realm when configured, else
// anonymous), and cached per scope until shortly before they expire; what scheme an origin wants is
// remembered, so a warm pull sends its credentials with the first request. Credentials and tokens are only
// ever put in request headers: never in a message, a log line or an answer.

/** How this module reaches the network (globalThis.fetch in the Worker; a fake in unit tests). */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

/** Tokens are refreshed this long before they expire, so one is never sent as it runs out. */
const EXPIRY_MARGIN_MS = 10_000;
/** Docker's token spec: a token without expires_in is valid for 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKENS = 1_000;

/** Parses WWW-Authenticate (RFC 7235: `Bearer realm="…",service="…",scope="…"`); null for an unknown scheme. */
export function parseChallenge(header: string | null): Challenge | null {
  if (!header) return null;
  const m = /^\s*(basic|bearer)\b\s*(.*)$/is.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([a-z_][a-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/gi)) {
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
  }
  return { scheme: m[1]!.toLowerCase() as Challenge["scheme"], params };
}

export class UpstreamAuth {
  /** What each origin asked for last. */
  private readonly schemes = new Map<string, Challenge>();
  private readonly tokens = new Map<string, { header: string; until: number }>();

  constructor(
    private readonly credentials: { username: string; password: string } | null,
    private readonly fetch: Fetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Authorization header to send to `origin` for `scope` before any challenge, when one is known. */
  known(origin: string, scope: string): string | null {
    const c = this.schemes.get(origin);
    if (!c) return null;
    if (c.scheme === "basic") return this.basic();
    const t = this.tokens.get(tokenKey(c, scope));
    if (t && t.until > this.now()) return t.header;
    return null;
  }

  /** The token sent for `scope` was refused: the next answer fetches a new one. */
  forget(origin: string, scope: string): void {
    const c = this.schemes.get(origin);
    if (c) this.tokens.delete(tokenKey(c, scope));
  }

  /**
   * The Authorization header that answers a 401 from `origin` (its WWW-Authenticate), or null when it cannot
   * be answered (no credentials for Basic, an unknown scheme, the token endpoint refused).
   */
  async answer(origin: string, header: string | null, scope: string): Promise<string | null> {
    const c = parseChallenge(header);
    if (!c) return null;
    this.schemes.set(origin, c);
    if (c.scheme === "basic") return this.basic();
    return this.token(c, scope);
  }

  private basic(): string | null {
    if (!this.credentials) return null;
    const raw = `${this.credentials.username}:${this.credentials.password}`;
    return `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(raw)))}`;
  }

  private async token(c: Challenge, scope: string): Promise<string | null> {
    const realm = c.params.realm;
    if (!realm) return null;
    const key = tokenKey(c, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.until > this.now()) return cached.header;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      return null;
    }
    if (c.params.service) url.searchParams.set("service", c.params.service);
    url.searchParams.set("scope", scope);
    const basic = this.basic();
    const res = await this.fetch(url.toString(), { method: "GET", headers: basic ? { Authorization: basic } : {} });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    const body = (await res.json().catch(() => null)) as { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown } | null;
    const token = typeof body?.token === "string" ? body.token : typeof body?.access_token === "string" ? body.access_token : null;
    if (!token) return null;
    const seconds = typeof body?.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof body?.issued_at === "string" ? Date.parse(body.issued_at) : NaN;
    // The issue time is the upstream's clock; ours decides when a token is too old, so never trust a future one.
    const from = Number.isFinite(issued) ? Math.min(issued, this.now()) : this.now();
    const header = `Bearer ${token}`;
    if (this.tokens.size >= MAX_TOKENS) this.tokens.clear();
    this.tokens.set(key, { header, until: from + seconds * 1000 - EXPIRY_MARGIN_MS });
    return header;
  }
}

function tokenKey(c: Challenge, scope: string): string {
  return `${c.params.realm ?? ""} ${c.params.service ?? ""} ${scope}`;
}
