// The operator's log: every console line Berth writes, except the audit log (http/audit.ts), goes through
// here, so BERTH_LOG_LEVEL (config/logging.ts) governs all of it in one place. The level is the isolate's:
// the Worker entry sets it from its Config, and each Durable Object sets it when it parses its settings.
// At the very bottom of src/ so that every layer may log; it imports nothing.

export const LOG_LEVELS = ["debug", "info", "warn", "error", "off"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

let threshold: LogLevel = "info";

/** Lines below `level` are dropped from now on, in this isolate. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

export function logLevel(): LogLevel {
  return threshold;
}

function enabled(level: Exclude<LogLevel, "off">): boolean {
  return RANK[level] >= RANK[threshold];
}

/** An Error as `Name: message` (never its stack or properties, which may quote requests). */
export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export const log = {
  debug(message: string): void {
    if (enabled("debug")) console.debug(message);
  },
  info(message: string): void {
    if (enabled("info")) console.info(message);
  },
  warn(message: string): void {
    if (enabled("warn")) console.warn(message);
  },
  error(message: string): void {
    if (enabled("error")) console.error(message);
  },
};
