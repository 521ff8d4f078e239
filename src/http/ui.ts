// The front door of the Worker: Berth's web UI (static files in ui/public, served through the ASSETS binding;
// wrangler.toml runs the Worker first so this code decides) and CORS on the registry API. Wraps the registry's
// fetch handler: /v2/ goes to it (with a CORS preflight answered here, and CORS headers added, for the origins of
// BERTH_CORS_ORIGINS). Outside /v2/, a GET or HEAD of one of the UI's files is answered from the assets while
// BERTH_UI is on; everything else (the token endpoint, /health, any path the UI has no file for) goes to the
// registry, so the UI never shadows a route of the registry's. With BERTH_UI=false (or no ASSETS binding)
// everything goes to the registry, which answers 404 outside its routes.

import { parseUiConfig, type UiConfig } from "../config/ui";
import type { Env } from "../config/values";
import { corsDecision, isApiPath, preflightResponse, withCors } from "./cors";

/**
 * Headers of every UI file. The UI is plain same-origin modules and a stylesheet: nothing inline, nothing from
 * elsewhere, no framing (a registry's delete buttons must not be clickjacked).
 */
export const UI_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
};

/** A Worker's handler object; C is its ExecutionContext (left generic: unit tests run without Workers types). */
interface Handler<E, C> {
  fetch(req: Request, env: E, ctx: C): Promise<Response>;
}

interface AssetsBinding {
  fetch(req: Request): Promise<Response>;
}

const parsed = new WeakMap<object, UiConfig>();

/** BERTH_UI / BERTH_CORS_ORIGINS for this env, parsed once; null when invalid (the registry then reports it). */
function uiConfigOf(env: Env): UiConfig | null {
  let cfg = parsed.get(env);
  if (cfg === undefined) {
    try {
      cfg = parseUiConfig(env);
    } catch {
      return null; // parseConfig throws the same ConfigError and every request reports it, naming the setting
    }
    parsed.set(env, cfg);
  }
  return cfg;
}

function assetsOf(env: Env): AssetsBinding | null {
  const a = env.ASSETS as Partial<AssetsBinding> | undefined;
  return a !== null && typeof a === "object" && typeof a.fetch === "function" ? (a as AssetsBinding) : null;
}

/** One UI file from the assets, with the UI's security headers; null when the UI has no such file. */
export async function serveUiFile(req: Request, assets: AssetsBinding): Promise<Response | null> {
  if (req.method !== "GET" && req.method !== "HEAD") return null;
  const res = await assets.fetch(req);
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  const out = new Response(res.body, res);
  for (const [k, v] of Object.entries(UI_HEADERS)) out.headers.set(k, v);
  return out;
}

/** Wraps the registry's handler with the UI and CORS (see the top of this file); its other handlers stay as they are. */
export function withUi<E extends Env, C, H extends Handler<E, C>>(inner: H & Handler<E, C>): H {
  return {
    ...inner,
    async fetch(req: Request, env: E, ctx: C): Promise<Response> {
      const cfg = uiConfigOf(env);
      if (cfg === null) return inner.fetch(req, env, ctx);
      const url = new URL(req.url);
      if (isApiPath(url.pathname)) {
        const cors = corsDecision(cfg, req.method, url.pathname, req.headers.get("Origin"), req.headers.get("Access-Control-Request-Method"));
        return preflightResponse(cors) ?? withCors(cors, await inner.fetch(req, env, ctx));
      }
      const assets = cfg.enabled ? assetsOf(env) : null;
      return (assets !== null ? await serveUiFile(req, assets) : null) ?? inner.fetch(req, env, ctx);
    },
  };
}
