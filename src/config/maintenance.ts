// Settings that protect what is stored: read-only mode (Distribution's storage.maintenance.readonly) and
// immutable tags (BERTH_IMMUTABLE_TAGS). Parsed and validated once like every other setting.

import { compileGlob } from "./access";
import { ConfigError, parseJsonSetting, read, readBool, show, type Env } from "./values";

const READONLY = "REGISTRY_STORAGE_MAINTENANCE_READONLY";
const READONLY_ENABLED = "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED";
const IMMUTABLE = "BERTH_IMMUTABLE_TAGS";

/** Tags that may be created but never moved or deleted, by repository. */
export interface ImmutableTags {
  /** Whether `tag` of `repo` is immutable: some pattern matching the repository has a regex matching the tag. */
  covers(repo: string, tag: string): boolean;
  /** True when no rule is configured (the common case: nothing to check). */
  readonly empty: boolean;
}

export interface MaintenanceConfig {
  /** Every write answers 405 UNSUPPORTED; pulls work. */
  readOnly: boolean;
  immutableTags: ImmutableTags;
}

/** Distribution's form (`{"enabled":true}`, as the env override of the whole section) or the `_ENABLED` flag. */
function parseReadOnly(env: Env): boolean {
  const flag = readBool(env, READONLY_ENABLED, false);
  const raw = read(env, READONLY);
  if (raw === undefined) return flag;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new ConfigError(READONLY, `must be JSON like {"enabled":true}, got ${show(raw)}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new ConfigError(READONLY, 'must be a JSON object like {"enabled":true}');
  for (const k of Object.keys(doc)) if (k !== "enabled") throw new ConfigError(READONLY, `unknown key ${JSON.stringify(k)} (expected enabled)`);
  const enabled = (doc as { enabled?: unknown }).enabled;
  if (enabled !== undefined && typeof enabled !== "boolean") throw new ConfigError(READONLY, "enabled must be true or false");
  return flag || enabled === true;
}

const NO_IMMUTABLE_TAGS: ImmutableTags = { covers: () => false, empty: true };

/**
 * BERTH_IMMUTABLE_TAGS: a JSON object mapping repository globs (as in REGISTRY_ACCESSCONTROL) to lists of tag
 * regular expressions, e.g. {"prod/**": ["^v[0-9]"], "**": ["^release-"]}. Every pattern matching a repository
 * applies (the rules add up: immutability only ever protects more).
 */
function parseImmutableTags(env: Env): ImmutableTags {
  const raw = read(env, IMMUTABLE);
  if (raw === undefined) return NO_IMMUTABLE_TAGS;
  const doc = parseJsonSetting(IMMUTABLE, raw);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ConfigError(IMMUTABLE, 'must be a JSON object mapping repository globs to lists of tag regexes, like {"prod/**": ["^v[0-9]"]}');
  }
  const rules: { match: (repo: string) => boolean; tags: RegExp[] }[] = [];
  for (const [pattern, list] of Object.entries(doc)) {
    const where = JSON.stringify(pattern);
    const match = compileGlob(pattern, where, IMMUTABLE);
    if (!Array.isArray(list) || list.length === 0 || !list.every((r) => typeof r === "string" && r !== "")) {
      throw new ConfigError(IMMUTABLE, `${where}: must be a non-empty list of regular expressions (strings)`);
    }
    const tags = list.map((r: string) => {
      if (r.length > 256) throw new ConfigError(IMMUTABLE, `${where}: a regular expression is longer than 256 characters`);
      try {
        return new RegExp(r, "u");
      } catch (e) {
        throw new ConfigError(IMMUTABLE, `${where}: ${show(r)} is not a valid regular expression (${(e as Error).message})`);
      }
    });
    rules.push({ match, tags });
  }
  if (rules.length === 0) return NO_IMMUTABLE_TAGS;
  return {
    empty: false,
    covers: (repo, tag) => rules.some((r) => r.match(repo) && r.tags.some((re) => re.test(tag))),
  };
}

export function parseMaintenance(env: Env): MaintenanceConfig {
  return { readOnly: parseReadOnly(env), immutableTags: parseImmutableTags(env) };
}
