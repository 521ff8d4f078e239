// The per-configuration state of authentication, built once per isolate and shared by the access controllers
// and the token endpoint: the imported keys (Berth's own, an external issuer's) and the password cache. Also
// the small things both need: the fail-delay pause and the service name of a request.

import type { AuthConfig } from "../../config/auth";
import { ConfigError } from "../../config/values";
import { PasswordVerifier } from "./htpasswd";
import { loadSigningKey, loadTrustedKeys, type LoadedSigningKey, type TrustedKey } from "./keys";

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => (ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms)));

/** State built once per configuration (per isolate): imported keys and the password cache. */
export class AuthRuntime {
  readonly passwords: PasswordVerifier;
  private signing: Promise<LoadedSigningKey | null> | null = null;
  private external: Promise<TrustedKey[]> | null = null;

  constructor(private readonly cfg: AuthConfig) {
    this.passwords = new PasswordVerifier(cfg.users);
  }

  signingKey(): Promise<LoadedSigningKey | null> {
    const spec = this.cfg.token?.signingKey ?? null;
    this.signing ??=
      spec === null
        ? Promise.resolve(null)
        : loadSigningKey(spec).catch((e: unknown) => {
            // jose's and WebCrypto's own messages are not shown (they are about a secret); Berth's size check is.
            const ours = e instanceof Error && /at least \d+ bits/.test(e.message);
            throw new ConfigError("BERTH_AUTH_TOKEN_KEY", ours ? (e as Error).message : "could not be imported as a signing key");
          });
    return this.signing;
  }

  externalKeys(): Promise<TrustedKey[]> {
    const keys = this.cfg.token?.external?.keys ?? [];
    this.external ??= loadTrustedKeys(keys).catch((e: unknown) => {
      throw new ConfigError("REGISTRY_AUTH_TOKEN_JWKS", `an external issuer's key could not be imported: ${e instanceof Error ? e.message : String(e)}`);
    });
    return this.external;
  }
}

const runtimes = new WeakMap<AuthConfig, AuthRuntime>();

export function runtimeFor(cfg: AuthConfig): AuthRuntime {
  let rt = runtimes.get(cfg);
  if (!rt) {
    rt = new AuthRuntime(cfg);
    runtimes.set(cfg, rt);
  }
  return rt;
}

/** The service (token audience) for a request: the configured one, else the request's host. */
export function serviceFor(cfg: AuthConfig, url: URL): string {
  return cfg.token?.service ?? url.host;
}
