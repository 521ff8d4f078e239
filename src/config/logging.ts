// Settings of what the Worker writes to its log and of the metrics endpoint: BERTH_LOG_LEVEL (the operator's
// log; the audit log is never filtered by it) and BERTH_METRICS_TOKEN (the bearer secret of GET /metrics).

import { LOG_LEVELS, type LogLevel } from "../log";
import { ConfigError, read, readEnum, type Env } from "./values";

export interface ObservabilityConfig {
  /** BERTH_LOG_LEVEL (default info): debug, info, warn, error or off. */
  logLevel: LogLevel;
  /** BERTH_METRICS_TOKEN: a scraper presenting `Authorization: Bearer <this>` may read /metrics; null = none. */
  metricsToken: string | null;
}

/** Shortest metrics token accepted: a guessable bearer secret guards nothing. */
const MIN_TOKEN_LENGTH = 16;

export function readLogLevel(env: Env): LogLevel {
  return readEnum(env, "BERTH_LOG_LEVEL", "info", LOG_LEVELS) as LogLevel;
}

export function parseObservability(env: Env): ObservabilityConfig {
  const token = read(env, "BERTH_METRICS_TOKEN") ?? null;
  if (token !== null) {
    // Never echoed: it is a secret.
    if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError("BERTH_METRICS_TOKEN", "must be printable ASCII without spaces");
    if (token.length < MIN_TOKEN_LENGTH) throw new ConfigError("BERTH_METRICS_TOKEN", `must be at least ${MIN_TOKEN_LENGTH} characters long`);
  }
  return { logLevel: readLogLevel(env), metricsToken: token };
}
