// Berth's own token server (`/token`), per the Docker registry token spec: GET with Basic credentials (or
// none, for anonymous pulls) and `service`/`scope`/`offline_token`, and the OAuth2 POST form (`grant_type`
// password or refresh_token). The token's `access` holds the intersection of what was asked and what the
// policy grants — never more, and asking for more is not an error. Failed logins are answered 401 after the
// fail delay.

import { encode as b64url } from "jose/base64url";
import type { AuthConfig } from "../../config/auth";
import { timingSafeEqual } from "../../oci/digest";
import { OciError } from "../../oci/errors";
import { readLimited } from "../../streams/body";
import { errorResponse } from "../respond";
import { policyAllows } from "./access";
import { parseBasic } from "./htpasswd";
import { JwtError, newJti, signJwt, verifyJwt } from "./jwt";
import { realSleep, runtimeFor, serviceFor, type AuthRuntime, type Sleep } from "./runtime";
import { formatScope, grantScopes, parseScopes, type Access } from "./scope";

/** Audience of refresh tokens: distinct, so a refresh token is never accepted as an access token. */
export function refreshAudience(service: string): string {
  return `refresh:${service}`;
}

/** Ties a refresh token to the user's current htpasswd entry: a new password or a removed user revokes it. */
async function entryFingerprint(hash: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`berth-refresh\u0000${hash}`));
  return b64url(new Uint8Array(d).slice(0, 16));
}

const MAX_FORM_BYTES = 64 * 1024;

async function readForm(req: Request): Promise<URLSearchParams> {
  const type = (req.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new OciError("UNSUPPORTED", "the token endpoint takes POST bodies as application/x-www-form-urlencoded", { status: 400 });
  }
  const body = await readLimited(req, MAX_FORM_BYTES, "token request");
  return new URLSearchParams(new TextDecoder().decode(body));
}

interface Subject {
  user: string | null;
  /** The refresh token to hand back unchanged (refresh_token grant). */
  refreshToken?: string;
}

/** Who is asking, per the request form; throws a 401 (after the fail delay) when credentials are wrong. */
async function authenticateTokenRequest(
  req: Request,
  params: URLSearchParams,
  cfg: AuthConfig,
  rt: AuthRuntime,
  service: string,
  now: number,
  sleep: Sleep,
): Promise<Subject> {
  const failed = async (): Promise<never> => {
    await sleep(cfg.failDelayMs);
    throw new OciError("UNAUTHORIZED", "authentication failed", {
      headers: { "WWW-Authenticate": `Basic realm="${cfg.htpasswdRealm}"` },
    });
  };
  if (req.method === "GET") {
    const header = req.headers.get("Authorization");
    if (header === null) return { user: null };
    const creds = parseBasic(header);
    if (creds === null || !(await rt.passwords.verify(creds.user, creds.password, now))) return failed();
    return { user: creds.user };
  }
  const grant = params.get("grant_type");
  if (grant === "password") {
    const user = params.get("username");
    const password = params.get("password");
    if (user === null || password === null || !(await rt.passwords.verify(user, password, now))) return failed();
    return { user };
  }
  if (grant === "refresh_token") {
    const token = params.get("refresh_token") ?? "";
    const key = await rt.signingKey();
    try {
      const claims = await verifyJwt(token, {
        keys: [key!.publicKey],
        issuer: cfg.token!.ownIssuer,
        audience: refreshAudience(service),
        nowMs: now,
      });
      const user = claims.sub;
      const hash = typeof user === "string" ? rt.passwords.hashOf(user) : undefined;
      if (claims.berth_use !== "refresh" || hash === undefined || typeof claims.pwh !== "string") return failed();
      if (!timingSafeEqual(claims.pwh, await entryFingerprint(hash))) return failed();
      return { user: user as string, refreshToken: token };
    } catch (e) {
      if (e instanceof JwtError) return failed();
      throw e;
    }
  }
  throw new OciError("UNSUPPORTED", 'grant_type must be "password" or "refresh_token"', { status: 400 });
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function issue(req: Request, cfg: AuthConfig, now: number, sleep: Sleep): Promise<Response> {
  const rt = runtimeFor(cfg);
  const key = cfg.mode === "token" ? await rt.signingKey() : null;
  if (key === null || cfg.token === null) {
    throw new OciError("UNSUPPORTED", "this registry does not issue tokens", { status: 404 });
  }
  if (req.method !== "GET" && req.method !== "POST") {
    throw new OciError("UNSUPPORTED", `${req.method} is not supported on the token endpoint`, { status: 405 });
  }
  const url = new URL(req.url);
  const params = req.method === "GET" ? url.searchParams : await readForm(req);
  const service = serviceFor(cfg, url);
  const asked = params.get("service");
  if (asked !== null && asked !== service) {
    throw new OciError("UNSUPPORTED", `this token endpoint issues tokens for service "${service}" only`, { status: 400 });
  }
  const scopes = parseScopes(params.getAll("scope"));
  const subject = await authenticateTokenRequest(req, params, cfg, rt, service, now, sleep);

  const user = subject.user;
  const groups = cfg.access?.groupsOf(user) ?? [];
  const access: Access[] = grantScopes(
    scopes,
    (repo, action) => policyAllows(cfg.mode, cfg.access, user, groups, repo, action),
    () => policyAllows(cfg.mode, cfg.access, user, groups, null, "read"),
  );
  const iat = Math.floor(now / 1000);
  const ttl = cfg.token.ttlSeconds;
  const token = await signJwt(
    { iss: cfg.token.ownIssuer, sub: user ?? "", aud: service, exp: iat + ttl, nbf: iat, iat, jti: newJti(), access },
    key,
  );

  const body: Record<string, unknown> = { token, access_token: token, expires_in: ttl, issued_at: rfc3339(iat) };
  const wantsRefresh =
    params.get("offline_token") === "true" || (req.method === "POST" && params.get("access_type") === "offline");
  if (subject.refreshToken !== undefined) {
    body.refresh_token = subject.refreshToken;
  } else if (wantsRefresh && user !== null) {
    const hash = rt.passwords.hashOf(user)!;
    body.refresh_token = await signJwt(
      {
        iss: cfg.token.ownIssuer,
        sub: user,
        aud: refreshAudience(service),
        exp: iat + cfg.token.refreshTtlSeconds,
        nbf: iat,
        iat,
        jti: newJti(),
        berth_use: "refresh",
        pwh: await entryFingerprint(hash),
      },
      key,
    );
  }
  // The OAuth2 form requires the granted scope in the answer.
  if (req.method === "POST") body.scope = access.map(formatScope).join(" ");
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", Pragma: "no-cache" },
  });
}

/**
 * Answers one token request. `now` is the current time in ms; `opts.sleep` replaces the fail-delay pause
 * (tests). Errors come back in the registry's error shape: 401 UNAUTHORIZED for wrong credentials, 400 for a
 * malformed request, 404 when Berth does not issue tokens.
 */
export async function handleTokenRequest(
  req: Request,
  cfg: AuthConfig,
  now: number,
  opts: { sleep?: Sleep } = {},
): Promise<Response> {
  try {
    return await issue(req, cfg, now, opts.sleep ?? realSleep);
  } catch (e) {
    return errorResponse(e, req.method);
  }
}
