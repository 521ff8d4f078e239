// Tag retention policies in zot's `retention` form (BERTH_RETENTION, JSON): which tags of which repositories the
// garbage collector keeps, and whether it deletes untagged manifests and referrers whose subject is gone. Parsed
// and validated once, strictly: retention deletes data, so a typo (an unknown field, a bad regex, a duration
// without a unit) must fail loudly instead of silently keeping or deleting everything. Only the parsing lives
// here; the decisions are jobs/retention.ts, pure functions of this config.
//
// zot's documented defaults, kept: dryRun false; delay 24h (zot's DefaultRetentionDelay; newer zot releases
// default it to gcDelay, which Berth does not have); per policy deleteReferrers false, deleteUntagged true,
// keepTags empty (= every tag kept); per keepTags entry, patterns absent or empty = every tag matches, and a
// count of 0 = that criterion is not set (zot only applies counts that are non-zero).

import { compileGlob } from "./access";
import { ConfigError, parseGoDuration, parseJsonSetting, read, type Env } from "./values";

const SETTING = "BERTH_RETENTION";

/** A duration as configured: milliseconds for the arithmetic, the operator's text for dry-run reasons. */
export interface Window {
  ms: number;
  text: string;
}

/** One entry of a policy's keepTags list. */
export interface KeepTagsRule {
  /** The tag regexes (unanchored, as Go's MatchString); empty = every tag. */
  patterns: RegExp[];
  pushedWithin: Window | null;
  pulledWithin: Window | null;
  /** 0 = not set. */
  mostRecentlyPushedCount: number;
  /** 0 = not set. */
  mostRecentlyPulledCount: number;
}

export interface RetentionPolicy {
  /** The repository globs as written (compiled into `matches`). */
  repositories: string[];
  /** Whether some glob matches the repository name (same globs as REGISTRY_ACCESSCONTROL). */
  matches: (repo: string) => boolean;
  /** Delete manifests whose subject is missing (older than delay). zot's default: false. */
  deleteReferrers: boolean;
  /** Delete manifests no tag or index references (older than delay). zot's default: true. */
  deleteUntagged: boolean;
  /** Empty = keep every tag. */
  keepTags: KeepTagsRule[];
}

export interface RetentionConfig {
  /** Decide and report, delete nothing. */
  dryRun: boolean;
  /** Untagged manifests and referrers younger than this are never deleted, ms. zot's `delay`. */
  delayMs: number;
  /** `delay` as written (or the default), for reports. */
  delay: string;
  policies: RetentionPolicy[];
}

const DEFAULT_DELAY = "24h";
const MAX_PATTERN = 256;

function fail(where: string, why: string): ConfigError {
  return new ConfigError(SETTING, where === "" ? why : `${where}: ${why}`);
}

/** Operator input quoted for a message, cut at 64 characters: a pasted blob must not flood the log. */
function quote(v: string): string {
  return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
}

function describe(v: unknown): string {
  if (typeof v === "string") return `the string ${quote(v)}`;
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return typeof v === "number" ? String(v) : typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The object's fields by canonical name. zot reads its config through viper, whose keys are case-insensitive
 * ("deleteuntagged" works there), so configs copied from zot match case-insensitively here too; anything
 * else is an error naming it, since an ignored field would change what gets deleted.
 */
function fields(obj: Record<string, unknown>, allowed: readonly string[], where: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    const name = allowed.find((a) => a.toLowerCase() === k.toLowerCase());
    if (name === undefined) {
      const hint =
        k.toLowerCase() === "reponames"
          ? ' (the field is "repositories")'
          : k.toLowerCase() === "retention" || k.toLowerCase() === "storage"
            ? " (give the contents of zot's storage.retention object, not the object around it)"
            : "";
      throw fail(where, `unknown field ${quote(k)} (expected ${allowed.join(", ")})${hint}`);
    }
    if (out.has(name)) throw fail(where, `field ${quote(name)} is given twice (field names are case-insensitive)`);
    out.set(name, v);
  }
  return out;
}

function bool(v: unknown, where: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw fail(where, `must be true or false, got ${describe(v)}`);
  return v;
}

function count(v: unknown, where: string): number {
  if (v === undefined) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw fail(where, `must be a whole number, 0 or more, got ${describe(v)}`);
  }
  return v;
}

/** A Go duration string, as zot takes it. `positive`: a zero window would keep nothing, so it is refused. */
function duration(v: unknown, where: string, positive: boolean): Window {
  if (typeof v !== "string") throw fail(where, `must be a Go duration string like "24h" or "720h", got ${describe(v)}`);
  let ms: number;
  try {
    ms = parseGoDuration(v);
  } catch {
    throw fail(where, `invalid duration ${quote(v)} (use a Go duration like 90m, 24h or 720h; there is no "d" unit)`);
  }
  if (ms < 0 || (positive && ms === 0)) throw fail(where, `must be ${positive ? "more than 0" : "0 or more"}, got ${quote(v)}`);
  return { ms, text: v.trim() };
}

/**
 * A tag regex. zot uses Go's regexp; JavaScript's agrees on the usual syntax (classes, groups, anchors,
 * quantifiers). Go's leading inline flags `(?i)`, `(?s)`, `(?m)` become JavaScript flags, since JavaScript has
 * no such group; Go-only syntax (POSIX classes, \z, (?U)) fails to compile and is reported.
 */
function regex(v: unknown, where: string): RegExp {
  if (typeof v !== "string") throw fail(where, `must be a regular expression (a string), got ${describe(v)}`);
  if (v.length > MAX_PATTERN) throw fail(where, `regular expression is longer than ${MAX_PATTERN} characters`);
  let source = v;
  let flags = "u";
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(v);
  if (inline !== null) {
    const letters = inline[1]!;
    if (/[^ims]/.test(letters)) throw fail(where, `invalid regular expression ${quote(v)}: only the inline flags i, m and s are supported`);
    source = v.slice(inline[0].length);
    flags += [...new Set(letters)].join("");
  }
  try {
    return new RegExp(source, flags);
  } catch (e) {
    // JavaScript's message repeats the whole pattern; keep only the reason.
    const why = (e instanceof Error ? e.message : String(e)).replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "");
    throw fail(where, `invalid regular expression ${quote(v)}: ${why}`);
  }
}

function list(v: unknown, where: string, what: string): unknown[] {
  if (!Array.isArray(v)) throw fail(where, `must be a list of ${what}, got ${describe(v)}`);
  return v;
}

const RULE_FIELDS = ["patterns", "pulledWithin", "pushedWithin", "mostRecentlyPushedCount", "mostRecentlyPulledCount"] as const;

function parseRule(v: unknown, where: string): KeepTagsRule {
  if (!isObject(v)) throw fail(where, `must be an object with ${RULE_FIELDS.join(", ")}, got ${describe(v)}`);
  const f = fields(v, RULE_FIELDS, where);
  const patterns = f.get("patterns");
  const pushed = f.get("pushedWithin");
  const pulled = f.get("pulledWithin");
  return {
    patterns:
      patterns === undefined
        ? []
        : list(patterns, `${where}.patterns`, "regular expressions").map((p, i) => regex(p, `${where}.patterns[${i}]`)),
    pushedWithin: pushed === undefined ? null : duration(pushed, `${where}.pushedWithin`, true),
    pulledWithin: pulled === undefined ? null : duration(pulled, `${where}.pulledWithin`, true),
    mostRecentlyPushedCount: count(f.get("mostRecentlyPushedCount"), `${where}.mostRecentlyPushedCount`),
    mostRecentlyPulledCount: count(f.get("mostRecentlyPulledCount"), `${where}.mostRecentlyPulledCount`),
  };
}

const POLICY_FIELDS = ["repositories", "deleteReferrers", "deleteUntagged", "keepTags"] as const;

function parsePolicy(v: unknown, where: string): RetentionPolicy {
  if (!isObject(v)) throw fail(where, `must be an object with ${POLICY_FIELDS.join(", ")}, got ${describe(v)}`);
  const f = fields(v, POLICY_FIELDS, where);
  const repos = f.get("repositories");
  // zot takes a policy without repositories and never applies it (its docs even show such a "default"
  // policy); here it is refused, so the operator writes the ["**"] they meant.
  if (repos === undefined) throw fail(`${where}.repositories`, 'is required: a list of repository globs (["**"] for every repository)');
  const repositories = list(repos, `${where}.repositories`, "repository globs");
  if (repositories.length === 0) throw fail(`${where}.repositories`, 'must not be empty (["**"] for every repository)');
  const matchers = repositories.map((g, i) => {
    const at = `${where}.repositories[${i}]`;
    if (typeof g !== "string") throw fail(at, `must be a repository glob (a string), got ${describe(g)}`);
    return compileGlob(g, at, SETTING);
  });
  const keepTags = f.get("keepTags");
  return {
    repositories: repositories as string[],
    matches: (repo) => matchers.some((m) => m(repo)),
    deleteReferrers: bool(f.get("deleteReferrers"), `${where}.deleteReferrers`, false),
    deleteUntagged: bool(f.get("deleteUntagged"), `${where}.deleteUntagged`, true),
    keepTags:
      keepTags === undefined ? [] : list(keepTags, `${where}.keepTags`, "objects").map((r, i) => parseRule(r, `${where}.keepTags[${i}]`)),
  };
}

/** Parses zot's retention object (already decoded from JSON); throws ConfigError naming the field. */
export function parseRetentionObject(doc: unknown): RetentionConfig {
  if (!isObject(doc)) throw fail("", `must be a JSON object like {"policies": [...]}, got ${describe(doc)}`);
  const f = fields(doc, ["dryRun", "delay", "policies"], "");
  const delay = f.get("delay") === undefined ? DEFAULT_DELAY : f.get("delay");
  const policies = f.get("policies");
  return {
    dryRun: bool(f.get("dryRun"), "dryRun", false),
    delayMs: duration(delay, "delay", false).ms,
    delay: typeof delay === "string" ? delay.trim() : DEFAULT_DELAY,
    policies: policies === undefined ? [] : list(policies, "policies", "objects").map((p, i) => parsePolicy(p, `policies[${i}]`)),
  };
}

/**
 * BERTH_RETENTION: JSON text, or an object when wrangler's [vars] hold the value as a table. Unset or blank →
 * null: retention is off, the garbage collector removes no tag.
 */
export function parseRetention(env: Env): RetentionConfig | null {
  const value = env[SETTING];
  if (isObject(value)) return parseRetentionObject(value);
  const raw = read(env, SETTING);
  if (raw === undefined) return null;
  return parseRetentionObject(parseJsonSetting(SETTING, raw));
}

/** Whether some policy ranks or keeps tags by when they were pulled (only then are pulls recorded). */
export function usesPullTimes(r: RetentionConfig | null): boolean {
  return r !== null && r.policies.some((p) => p.keepTags.some((k) => k.pulledWithin !== null || k.mostRecentlyPulledCount > 0));
}
