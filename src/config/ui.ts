// Settings of the web UI and of cross-origin access to the registry API: BERTH_UI (the Worker serves its own
// UI at the root of the host; off, `/` answers 404 as a bare registry does) and BERTH_CORS_ORIGINS (browser
// UIs on other origins, e.g. Joxit's docker-registry-ui, allowed to call /v2/; without it, no CORS headers).

import { ConfigError, readBool, read, show, type Env } from "./values";

export interface UiConfig {
  /** BERTH_UI: serve the web UI at `/` (default true). */
  enabled: boolean;
  /** BERTH_CORS_ORIGINS: origins (scheme://host[:port], lower-case, no default port) allowed to call /v2/. */
  corsOrigins: readonly string[];
}

const CORS = "BERTH_CORS_ORIGINS";

/** Parses BERTH_UI and BERTH_CORS_ORIGINS; throws ConfigError naming the setting for a bad value. */
export function parseUiConfig(env: Env): UiConfig {
  const raw = read(env, CORS);
  const corsOrigins: string[] = [];
  if (raw !== undefined) {
    for (const item of raw.split(",")) {
      const s = item.trim();
      if (s === "") continue; // "a, b," and "a,,b" are forgiven
      const o = parseOrigin(s);
      if (!corsOrigins.includes(o)) corsOrigins.push(o);
    }
  }
  return { enabled: readBool(env, "BERTH_UI", true), corsOrigins };
}

/**
 * One origin as a browser sends it in the Origin header: `http(s)://host[:port]`, nothing after it (a single
 * trailing slash is forgiven). Returned in the browser's spelling (lower-case host, default port dropped) so
 * a plain string comparison with the Origin header decides. `*` is refused: the list is an allowlist.
 */
export function parseOrigin(s: string): string {
  const bad = (why: string): ConfigError =>
    new ConfigError(CORS, `${show(s)} is not an origin (${why}); give comma-separated origins like https://ui.example.com or http://127.0.0.1:8080`);
  if (s === "*") throw bad("a wildcard is not accepted: list each origin");
  const m = /^(https?):\/\/([^/?#@\s]+?)\/?$/i.exec(s);
  if (!m) {
    if (!/^https?:\/\//i.test(s)) throw bad("it must start with http:// or https://");
    throw bad("it must be only scheme://host[:port], with no path, query, fragment or credentials");
  }
  let u: URL;
  try {
    u = new URL(`${m[1]}://${m[2]}`);
  } catch {
    throw bad("the host is not valid");
  }
  if (u.hostname === "" || u.username !== "" || u.password !== "") throw bad("the host is not valid");
  return u.origin;
}
