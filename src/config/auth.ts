// The authentication and access-control settings, parsed and validated once like every other setting
// (config/index.ts calls parseAuthConfig; the parsers of the policy, the htpasswd file and the keys are
// access.ts, htpasswd.ts and keys.ts beside it). Names follow Distribution's environment overrides where it
// has them (REGISTRY_AUTH, REGISTRY_AUTH_HTPASSWD, REGISTRY_AUTH_TOKEN_*), zot's accessControl for policies,
// and BERTH_AUTH_* for what only Berth has (its own token issuer, the fail delay). Secrets — the htpasswd file
// and the signing key — are never echoed in an error.
//
// A Worker deployed without REGISTRY_AUTH is not silently open: it serves reads and refuses every write with a
// message telling the operator to choose a mode ("unset").

import { parseAccessControl, type AccessPolicy } from "./access";
import { parseHtpasswd } from "./htpasswd";
import { parseCertBundle, parseJwks, parsePrivateKey, type PrivateKeySpec, type PublicKeySpec } from "./keys";
import { ConfigError, SECOND, read, readDuration, type Env } from "./values";

export type AuthMode = "unset" | "none" | "htpasswd" | "token";

export interface TokenSettings {
  /** Where clients get tokens (the challenge's realm); null: Berth's own `/token` on the request's origin. */
  realm: string | null;
  /** The audience of tokens and the challenge's service; null: the request's host. */
  service: string | null;
  /** Berth's own signing key; null when Berth only accepts an external issuer's tokens. */
  signingKey: PrivateKeySpec | null;
  /** `iss` of the tokens Berth signs. */
  ownIssuer: string;
  /** Lifetime of access tokens, seconds. */
  ttlSeconds: number;
  /** Lifetime of refresh tokens (the "identity token" docker keeps after login), seconds. */
  refreshTtlSeconds: number;
  /** An external token issuer whose tokens are accepted, as Distribution's auth.token. */
  external: { issuer: string; keys: PublicKeySpec[] } | null;
}

export interface AuthConfig {
  mode: AuthMode;
  /** htpasswd users: name → bcrypt hash (htpasswd mode; token mode's token endpoint). */
  users: ReadonlyMap<string, string>;
  /** Realm of the Basic challenge. */
  htpasswdRealm: string;
  /** Set in token mode only. */
  token: TokenSettings | null;
  /** Pause before answering a failed login, ms (zot's failDelay). */
  failDelayMs: number;
  /** REGISTRY_ACCESSCONTROL; null: authenticated callers may do everything, anonymous ones nothing. */
  access: AccessPolicy | null;
}

/** A value that goes inside a quoted header parameter: printable, no quote or backslash, not too long. */
function readToken(env: Env, name: string): string | undefined {
  const s = read(env, name);
  if (s === undefined) return undefined;
  if (s.length > 256 || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) {
    throw new ConfigError(name, 'must be printable ASCII without spaces, quotes or backslashes, at most 256 characters');
  }
  return s;
}

function readRealm(env: Env, name: string): string | undefined {
  const s = readToken(env, name);
  if (s === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ConfigError(name, "must be an absolute http(s) URL, like https://registry.example.com/token");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new ConfigError(name, "must be an http or https URL");
  if (u.username !== "" || u.password !== "") throw new ConfigError(name, "must not contain credentials");
  return s;
}

const MODES = ["none", "htpasswd", "token"] as const;

/** Settings that mean nothing without REGISTRY_AUTH: setting one and forgetting the mode is an error. */
const NEEDS_MODE = [
  "REGISTRY_AUTH_HTPASSWD",
  "REGISTRY_AUTH_TOKEN_REALM",
  "REGISTRY_AUTH_TOKEN_JWKS",
  "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE",
  "BERTH_AUTH_TOKEN_KEY",
];

function parseTokenSettings(env: Env, usersConfigured: boolean): TokenSettings {
  const signingKeyText = read(env, "BERTH_AUTH_TOKEN_KEY");
  const signingKey = signingKeyText === undefined ? null : parsePrivateKey(signingKeyText, "BERTH_AUTH_TOKEN_KEY");
  const jwks = read(env, "REGISTRY_AUTH_TOKEN_JWKS");
  const bundle = read(env, "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE");
  const externalKeys = [
    ...(jwks === undefined ? [] : parseJwks(jwks, "REGISTRY_AUTH_TOKEN_JWKS")),
    ...(bundle === undefined ? [] : parseCertBundle(bundle, "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE")),
  ];
  if (signingKey === null && externalKeys.length === 0) {
    throw new ConfigError(
      "BERTH_AUTH_TOKEN_KEY",
      "REGISTRY_AUTH=token needs Berth's signing key (a PKCS#8 PEM or JWK, as a secret), or an external issuer's keys in REGISTRY_AUTH_TOKEN_JWKS or REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE",
    );
  }
  if (signingKey === null && usersConfigured) {
    throw new ConfigError("REGISTRY_AUTH_HTPASSWD", "is only used by Berth's own token endpoint, which needs BERTH_AUTH_TOKEN_KEY");
  }
  const issuer = readToken(env, "REGISTRY_AUTH_TOKEN_ISSUER");
  const service = readToken(env, "REGISTRY_AUTH_TOKEN_SERVICE") ?? null;
  const realm = readRealm(env, "REGISTRY_AUTH_TOKEN_REALM") ?? null;
  let external: TokenSettings["external"] = null;
  if (externalKeys.length > 0) {
    // As Distribution: an external issuer is identified by name and audience, never guessed.
    if (issuer === undefined) throw new ConfigError("REGISTRY_AUTH_TOKEN_ISSUER", "is required to accept an external issuer's tokens (their iss claim)");
    if (service === null) throw new ConfigError("REGISTRY_AUTH_TOKEN_SERVICE", "is required to accept an external issuer's tokens (their aud claim)");
    external = { issuer, keys: externalKeys };
  }
  if (signingKey === null && realm === null) {
    throw new ConfigError("REGISTRY_AUTH_TOKEN_REALM", "is required when Berth does not issue tokens itself (set it to the external token endpoint)");
  }
  const ownIssuer = readToken(env, "BERTH_AUTH_TOKEN_ISSUER") ?? (external === null ? issuer ?? "berth" : "berth");
  if (signingKey !== null && external !== null && ownIssuer === external.issuer) {
    throw new ConfigError("BERTH_AUTH_TOKEN_ISSUER", "must differ from REGISTRY_AUTH_TOKEN_ISSUER: Berth's tokens and the external issuer's are verified with different keys");
  }
  return {
    realm,
    service,
    signingKey,
    ownIssuer,
    // The token spec: never less than 60 s to live (older clients assume it).
    ttlSeconds: readDuration(env, "BERTH_AUTH_TOKEN_TTL", 5 * 60 * SECOND, 60 * SECOND, 24 * 3600 * SECOND, "between 60s and 24h", true) / SECOND,
    refreshTtlSeconds:
      readDuration(env, "BERTH_AUTH_REFRESH_TTL", 30 * 24 * 3600 * SECOND, 3600 * SECOND, 366 * 24 * 3600 * SECOND, "between 1h and 8784h (366 days)", true) / SECOND,
    external,
  };
}

/** Parses and validates the auth settings; throws ConfigError for the first bad one. */
export function parseAuthConfig(env: Env): AuthConfig {
  const modeRaw = read(env, "REGISTRY_AUTH");
  const mode: AuthMode | undefined = modeRaw === undefined ? "unset" : MODES.find((m) => m === modeRaw.toLowerCase());
  if (mode === undefined) {
    throw new ConfigError("REGISTRY_AUTH", `must be one of ${MODES.join(", ")}; got ${JSON.stringify(modeRaw!.slice(0, 40))}`);
  }
  if (mode === "unset") {
    const orphan = NEEDS_MODE.find((n) => read(env, n) !== undefined);
    if (orphan !== undefined) throw new ConfigError("REGISTRY_AUTH", `is not set, but ${orphan} is: set REGISTRY_AUTH to htpasswd or token`);
  }

  const htpasswdText = mode === "htpasswd" || mode === "token" ? read(env, "REGISTRY_AUTH_HTPASSWD") : undefined;
  const users = htpasswdText === undefined ? new Map<string, string>() : parseHtpasswd(htpasswdText, "REGISTRY_AUTH_HTPASSWD");
  if (mode === "htpasswd" && users.size === 0) {
    throw new ConfigError("REGISTRY_AUTH_HTPASSWD", "is required with REGISTRY_AUTH=htpasswd: the contents of an htpasswd file with at least one bcrypt entry (`htpasswd -nB user`)");
  }
  const realm = read(env, "REGISTRY_AUTH_HTPASSWD_REALM") ?? "Berth Registry";
  if (realm.length > 128 || !/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/.test(realm)) {
    throw new ConfigError("REGISTRY_AUTH_HTPASSWD_REALM", "must be printable ASCII without quotes or backslashes, at most 128 characters");
  }
  const accessJson = read(env, "REGISTRY_ACCESSCONTROL");

  return {
    mode,
    users,
    htpasswdRealm: realm,
    token: mode === "token" ? parseTokenSettings(env, users.size > 0) : null,
    failDelayMs: readDuration(env, "BERTH_AUTH_FAIL_DELAY", SECOND, 0, 60 * SECOND, "between 0s and 60s", false),
    access: accessJson === undefined ? null : parseAccessControl(accessJson),
  };
}
