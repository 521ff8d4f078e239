// The building blocks of configuration parsing, shared by every settings module: the ConfigError type, readers
// for strings, booleans, integers, enums, secrets, URLs and Go durations. A reader either returns a valid value
// or throws a ConfigError naming the setting; secrets are never echoed.

export class ConfigError extends Error {
  constructor(readonly setting: string, message: string) {
    super(`configuration error: ${setting}: ${message}`);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, unknown>;

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** A non-secret value quoted for a message, cut short. */
export function show(v: string): string {
  return JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v);
}

/**
 * A setting's JSON text parsed, or ConfigError naming the setting. Only where the text breaks is reported:
 * V8's own message quotes the input around the error, and the input may be long or hold what is not for a log.
 */
export function parseJsonSetting(setting: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec(e instanceof Error ? e.message : "");
    throw new ConfigError(setting, `is not valid JSON${at === null ? "" : ` (error at character ${at[1]})`}`);
  }
}

/**
 * A setting as a trimmed string, or undefined when unset or blank (an empty wrangler var means "unset").
 * Wrangler [vars] may arrive as numbers or booleans: those become their string form. Anything else
 * (an object, a binding under a registry name) is a mistake; only its type is reported.
 */
export function read(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v !== "string") throw new ConfigError(name, `must be a string, got ${Array.isArray(v) ? "array" : typeof v}`);
  const t = v.trim();
  return t === "" ? undefined : t;
}

export function readBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (typeof raw === "boolean") return raw;
  const s = read(env, name);
  if (s === undefined) return fallback;
  switch (s.toLowerCase()) {
    case "true":
    case "1":
    case "yes":
      return true;
    case "false":
    case "0":
    case "no":
      return false;
    default:
      throw new ConfigError(name, `must be true or false (or 1/0, yes/no), got ${show(s)}`);
  }
}

function describeBytes(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n} (${n / GiB} GiB)`;
  if (n >= MiB && n % MiB === 0) return `${n} (${n / MiB} MiB)`;
  return String(n);
}

/** A whole number within [min, max]; sizes are plain byte counts, as in Distribution (no "10MiB"). */
export function readInt(env: Env, name: string, fallback: number, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const s = read(env, name);
  if (s === undefined) return fallback;
  const bounds =
    max === Number.MAX_SAFE_INTEGER ? `at least ${describeBytes(min)}` : `between ${describeBytes(min)} and ${describeBytes(max)}`;
  if (!/^\d+$/.test(s)) throw new ConfigError(name, `must be a whole number ${bounds}, got ${show(s)}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(name, `must be ${bounds}, got ${s}`);
  return n;
}

/** One of `allowed`, matched case-insensitively and returned in its canonical spelling. */
export function readEnum(env: Env, name: string, fallback: string, allowed: readonly string[]): string {
  const s = read(env, name);
  if (s === undefined) return fallback;
  const hit = allowed.find((a) => a.toLowerCase() === s.toLowerCase());
  if (hit === undefined) throw new ConfigError(name, `must be one of ${allowed.join(", ")}; got ${show(s)}`);
  return hit;
}

/** A credential: required, never shown, never with whitespace inside (a pasted newline breaks signing). */
export function readSecret(env: Env, name: string): string {
  const s = read(env, name);
  if (s === undefined) {
    throw new ConfigError(name, "is required: Workers have no AWS credential chain (set it with `wrangler secret put`)");
  }
  if (/[\s\x00-\x1f\x7f]/.test(s)) throw new ConfigError(name, "contains whitespace or control characters");
  return s;
}

/** Go duration or plain whole seconds → ms, within [minMs, maxMs] (and whole seconds when asked). */
export function readDuration(
  env: Env,
  name: string,
  fallbackMs: number,
  minMs: number,
  maxMs: number,
  bounds: string,
  wholeSeconds = false,
): number {
  const s = read(env, name);
  if (s === undefined) return fallbackMs;
  let ms: number;
  if (/^\d+$/.test(s)) {
    ms = Number(s) * 1000;
  } else {
    try {
      ms = parseGoDuration(s);
    } catch (e) {
      throw new ConfigError(name, `${e instanceof Error ? e.message : String(e)} (use a Go duration like 90s, 20m, 1h30m, or whole seconds)`);
    }
  }
  if (!(ms >= minMs && ms <= maxMs)) throw new ConfigError(name, `must be ${bounds}, got ${show(s)}`);
  if (wholeSeconds && ms % 1000 !== 0) throw new ConfigError(name, "must be a whole number of seconds");
  return ms;
}

/**
 * An http(s) base URL: scheme added when missing (https when secure, as Distribution's `secure` does for
 * a scheme-less regionendpoint; an explicit scheme wins), no credentials, query or fragment, no trailing
 * slash. Values containing "@" are never echoed, since they may hold credentials.
 */
export function readUrl(env: Env, name: string, secure: boolean): string | undefined {
  const s = read(env, name);
  if (s === undefined) return undefined;
  const shown = s.includes("@") ? "(value hidden)" : show(s);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `${secure ? "https" : "http"}://${s}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new ConfigError(name, `is not a valid URL: ${shown}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new ConfigError(name, `must be an http or https URL, got ${shown}`);
  if (u.username !== "" || u.password !== "") {
    throw new ConfigError(name, `must not contain credentials; use REGISTRY_STORAGE_S3_ACCESSKEY and REGISTRY_STORAGE_S3_SECRETKEY`);
  }
  if (u.search !== "" || u.hash !== "") throw new ConfigError(name, `must not have a query or fragment: ${shown}`);
  return `${u.protocol}//${u.host}${trimSlashes(u.pathname, false)}`;
}

/** Removes trailing (and, when `leading`, leading) slashes; loops instead of a regex on operator input. */
export function trimSlashes(s: string, leading = true): string {
  let a = 0;
  let b = s.length;
  while (leading && a < b && s[a] === "/") a++;
  while (b > a && s[b - 1] === "/") b--;
  return s.slice(a, b);
}

export const SECOND = 1000;
export const DAY = 86_400 * SECOND;

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // µs, MICRO SIGN
  "\u03bcs": 1e3, // μs, GREEK SMALL LETTER MU
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.Duration limit, in nanoseconds (~292 years). */
const MAX_DURATION_NS = 2 ** 63 - 1;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

/**
 * Go's time.ParseDuration grammar — `[-+]?([0-9]*(\.[0-9]*)?[a-z µμ]+)+`, or "0" — in milliseconds
 * (fractional for ns/us). Examples: "20m", "1h30m", "1.5h", "90s", "300ms". A unit is required on every
 * number except a bare "0". Throws Error on bad input (callers wrap it into ConfigError). Hand-written
 * scanner, linear in the input.
 */
export function parseGoDuration(input: string): number {
  const bad = (why: string): Error => new Error(`invalid duration ${show(String(input))}: ${why}`);
  if (typeof input !== "string") throw bad("not a string");
  let s = input.trim();
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw bad("empty");
  let ns = 0;
  let i = 0;
  while (i < s.length) {
    let j = i;
    while (isDigit(s[j])) j++;
    const whole = s.slice(i, j);
    let frac = "";
    if (s[j] === ".") {
      const k = ++j;
      while (isDigit(s[j])) j++;
      frac = s.slice(k, j);
    }
    if (whole === "" && frac === "") throw bad("expected a number");
    const u = j;
    while (j < s.length && s[j] !== "." && !isDigit(s[j])) j++;
    const unit = s.slice(u, j);
    if (unit === "") throw bad("missing unit (ns, us, ms, s, m, h)");
    const scale = UNIT_NS[unit];
    if (scale === undefined) throw bad(`unknown unit ${show(unit)}`);
    ns += Number(`${whole === "" ? "0" : whole}.${frac === "" ? "0" : frac}`) * scale;
    i = j;
  }
  if (!Number.isFinite(ns) || ns > MAX_DURATION_NS) throw bad("out of range");
  return (sign * ns) / 1e6;
}
