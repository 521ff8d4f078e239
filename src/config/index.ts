// Berth's configuration: every Worker variable and secret is parsed and validated here, once, into one typed
// Config. Names follow CNCF Distribution's environment overrides (REGISTRY_STORAGE_S3_*), with its defaults
// and limits, so a Distribution setup carries over. A bad value throws ConfigError naming the setting;
// secrets are never echoed.

export interface S3Config {
  bucket: string;
  region: string;
  /** Base URL of the S3 API, scheme included, no trailing slash, e.g. "http://127.0.0.1:8080" or "https://s3.us-east-1.amazonaws.com". */
  endpoint: string;
  /** Path-style (endpoint/bucket/key) vs virtual-hosted (bucket.endpoint/key). */
  forcePathStyle: boolean;
  accessKey: string;
  secretKey: string;
  /** false: sign with AWS Signature Version 2. */
  v4auth: boolean;
  /** Key prefix without leading or trailing slash ("" for none). */
  rootDirectory: string;
  encrypt: boolean;
  /** KMS key id for SSE-KMS when encrypt is on. */
  keyId: string | undefined;
  /** Part size of multipart uploads in bytes. */
  chunkSize: number;
  /** "NONE" means: send no storage-class header. */
  storageClass: string;
  objectAcl: string;
  multipartCopyChunkSize: number;
  multipartCopyMaxConcurrency: number;
  multipartCopyThresholdSize: number;
  /** Base URL used in presigned download URLs instead of `endpoint` (Distribution's redirectendpoint). */
  redirectEndpoint: string | undefined;
}

export interface Config {
  s3: S3Config;
  /** REGISTRY_STORAGE_REDIRECT_DISABLE: stream blobs through the Worker instead of 307 to presigned URLs. */
  redirectDisable: boolean;
  /** BERTH_REDIRECT_EXPIRY (Go duration or seconds): lifetime of presigned download URLs, seconds. */
  redirectExpirySeconds: number;
  /** REGISTRY_STORAGE_DELETE_ENABLED: allow DELETE of blobs and manifests. */
  deleteEnabled: boolean;
  /** REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE (Go duration): an idle upload session expires after this, ms. */
  uploadExpiryMs: number;
  /**
   * BERTH_CHUNK_MAX_LENGTH: largest request body clients should send (OCI-Chunk-Max-Length on POST), bytes.
   * Cloudflare refuses bodies over 100 MB on Free/Pro zones before the Worker sees them.
   */
  chunkMaxLength: number;
}

export class ConfigError extends Error {
  constructor(readonly setting: string, message: string) {
    super(`configuration error: ${setting}: ${message}`);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, unknown>;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const P = "REGISTRY_STORAGE_S3_";

const STORAGE_CLASSES = [
  "NONE",
  "STANDARD",
  "REDUCED_REDUNDANCY",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "OUTPOSTS",
  "GLACIER_IR",
  "EXPRESS_ONEZONE",
] as const;

const OBJECT_ACLS = [
  "private",
  "public-read",
  "public-read-write",
  "authenticated-read",
  "aws-exec-read",
  "bucket-owner-read",
  "bucket-owner-full-control",
  "log-delivery-write",
] as const;

/** A non-secret value quoted for a message, cut short. */
function show(v: string): string {
  return JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v);
}

/**
 * A setting as a trimmed string, or undefined when unset or blank (an empty wrangler var means "unset").
 * Wrangler [vars] may arrive as numbers or booleans: those become their string form. Anything else
 * (an object, a binding under a registry name) is a mistake; only its type is reported.
 */
function read(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v !== "string") throw new ConfigError(name, `must be a string, got ${Array.isArray(v) ? "array" : typeof v}`);
  const t = v.trim();
  return t === "" ? undefined : t;
}

function readBool(env: Env, name: string, fallback: boolean): boolean {
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
function readInt(env: Env, name: string, fallback: number, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
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
function readEnum(env: Env, name: string, fallback: string, allowed: readonly string[]): string {
  const s = read(env, name);
  if (s === undefined) return fallback;
  const hit = allowed.find((a) => a.toLowerCase() === s.toLowerCase());
  if (hit === undefined) throw new ConfigError(name, `must be one of ${allowed.join(", ")}; got ${show(s)}`);
  return hit;
}

/** A credential: required, never shown, never with whitespace inside (a pasted newline breaks signing). */
function readSecret(env: Env, name: string): string {
  const s = read(env, name);
  if (s === undefined) {
    throw new ConfigError(name, "is required: Workers have no AWS credential chain (set it with `wrangler secret put`)");
  }
  if (/[\s\x00-\x1f\x7f]/.test(s)) throw new ConfigError(name, "contains whitespace or control characters");
  return s;
}

/** Go duration or plain whole seconds → ms, within [minMs, maxMs]. */
function readDuration(env: Env, name: string, fallbackMs: number, minMs: number, maxMs: number, bounds: string): number {
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
  return ms;
}

/**
 * An http(s) base URL: scheme added when missing (https when secure, as Distribution's `secure` does for
 * a scheme-less regionendpoint; an explicit scheme wins), no credentials, query or fragment, no trailing
 * slash. Values containing "@" are never echoed, since they may hold credentials.
 */
function readUrl(env: Env, name: string, secure: boolean): string | undefined {
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
    throw new ConfigError(name, `must not contain credentials; use ${P}ACCESSKEY and ${P}SECRETKEY`);
  }
  if (u.search !== "" || u.hash !== "") throw new ConfigError(name, `must not have a query or fragment: ${shown}`);
  return `${u.protocol}//${u.host}${trimSlashes(u.pathname, false)}`;
}

/** Removes trailing (and, when `leading`, leading) slashes; loops instead of a regex on operator input. */
function trimSlashes(s: string, leading = true): string {
  let a = 0;
  let b = s.length;
  while (leading && a < b && s[a] === "/") a++;
  while (b > a && s[b - 1] === "/") b--;
  return s.slice(a, b);
}

function readRootDirectory(env: Env): string {
  const name = `${P}ROOTDIRECTORY`;
  const s = read(env, name);
  if (s === undefined) return "";
  if (!/^[A-Za-z0-9._\/-]*$/.test(s)) {
    throw new ConfigError(name, `${show(s)} may contain only letters, digits, ".", "_", "-" and "/"`);
  }
  const root = trimSlashes(s);
  // Distribution's `rootdirectory: /` means no prefix. "." and ".." would be resolved away by URL
  // normalisation in path-style requests, writing outside the intended prefix; "a//b" is a typo.
  if (root !== "" && root.split("/").some((c) => c === "" || c === "." || c === "..")) {
    throw new ConfigError(name, `${show(s)} must not contain empty, "." or ".." path components`);
  }
  return root;
}

/** Bucket names go into URLs: first and last characters alphanumeric, no "/" or "%" (Swift allows "_"). */
const BUCKET_ANY = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$/;
/** Virtual-hosted style puts the bucket in the host name: DNS-compatible names only. */
const BUCKET_DNS = /^[a-z0-9](?:[a-z0-9.-]{1,61})[a-z0-9]$/;
const REGION = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/;

function parseS3(env: Env): S3Config {
  const bucketName = `${P}BUCKET`;
  const bucket = read(env, bucketName);
  if (bucket === undefined) throw new ConfigError(bucketName, "is required");
  if (!BUCKET_ANY.test(bucket)) throw new ConfigError(bucketName, `${show(bucket)} is not a valid bucket name`);

  const secure = readBool(env, `${P}SECURE`, true);
  const regionEndpoint = readUrl(env, `${P}REGIONENDPOINT`, secure);
  const regionName = `${P}REGION`;
  const region = read(env, regionName) ?? (regionEndpoint !== undefined ? "us-east-1" : undefined);
  if (region === undefined) throw new ConfigError(regionName, `is required unless ${P}REGIONENDPOINT is set`);
  if (!REGION.test(region)) throw new ConfigError(regionName, `${show(region)} is not a valid region name`);

  // AWS itself: regional endpoint; China regions live under amazonaws.com.cn.
  const endpoint =
    regionEndpoint ?? `${secure ? "https" : "http"}://s3.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}`;
  // Distribution 2.8 always used path style with a regionendpoint; v3 made it opt-in, and most
  // S3-compatible servers (MinIO, Swift, Ceph) need it, so it defaults on exactly when an endpoint is set.
  const forcePathStyle = readBool(env, `${P}FORCEPATHSTYLE`, regionEndpoint !== undefined);
  if (!forcePathStyle && !BUCKET_DNS.test(bucket)) {
    throw new ConfigError(
      bucketName,
      `${show(bucket)} cannot be used in a virtual-hosted URL; set ${P}FORCEPATHSTYLE=true or use a DNS-compatible name`,
    );
  }

  const accessKey = readSecret(env, `${P}ACCESSKEY`);
  const secretKey = readSecret(env, `${P}SECRETKEY`);

  return {
    bucket,
    region,
    endpoint,
    forcePathStyle,
    accessKey,
    secretKey,
    v4auth: readBool(env, `${P}V4AUTH`, true),
    rootDirectory: readRootDirectory(env),
    encrypt: readBool(env, `${P}ENCRYPT`, false),
    keyId: read(env, `${P}KEYID`),
    chunkSize: readInt(env, `${P}CHUNKSIZE`, 10 * MiB, 5 * MiB, 5 * GiB),
    storageClass: readEnum(env, `${P}STORAGECLASS`, "STANDARD", STORAGE_CLASSES),
    objectAcl: readEnum(env, `${P}OBJECTACL`, "private", OBJECT_ACLS),
    multipartCopyChunkSize: readInt(env, `${P}MULTIPARTCOPYCHUNKSIZE`, 32 * MiB, 5 * MiB, 5 * GiB),
    multipartCopyMaxConcurrency: readInt(env, `${P}MULTIPARTCOPYMAXCONCURRENCY`, 100, 1),
    multipartCopyThresholdSize: readInt(env, `${P}MULTIPARTCOPYTHRESHOLDSIZE`, 32 * MiB, 0, 5 * GiB),
    redirectEndpoint: readUrl(env, `${P}REDIRECTENDPOINT`, secure),
  };
}

const SECOND = 1000;
const DAY = 86_400 * SECOND;

/** Parses and validates every setting; throws ConfigError for the first bad one. */
export function parseConfig(env: Env): Config {
  const s3 = parseS3(env);
  const expiryMs = readDuration(env, "BERTH_REDIRECT_EXPIRY", 20 * 60 * SECOND, SECOND, 7 * DAY, "between 1s and 7 days (168h)");
  if (expiryMs % SECOND !== 0) {
    // Presigned URLs take X-Amz-Expires in whole seconds.
    throw new ConfigError("BERTH_REDIRECT_EXPIRY", "must be a whole number of seconds");
  }
  const purgeAge = readDuration(
    env,
    "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE",
    168 * 3600 * SECOND,
    SECOND,
    Number.MAX_SAFE_INTEGER,
    "at least 1s",
  );
  return {
    s3,
    redirectDisable: readBool(env, "REGISTRY_STORAGE_REDIRECT_DISABLE", false),
    redirectExpirySeconds: expiryMs / SECOND,
    deleteEnabled: readBool(env, "REGISTRY_STORAGE_DELETE_ENABLED", true),
    uploadExpiryMs: Math.round(purgeAge),
    chunkMaxLength: readInt(env, "BERTH_CHUNK_MAX_LENGTH", 64 * 1024 * 1024, 5 * 1024 * 1024),
  };
}

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
