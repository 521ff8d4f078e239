// What periodic sync copies, decided without I/O: which upstream repositories a `content` entry's `prefix`
// covers, which of their tags its `tags` filter keeps, and the local repository each is copied into.
// zot's semantics (its sync extension's content rules), as Berth applies them:
// - `prefix` is a repository glob, leading and trailing "/" ignored: `*` and `?` stay within a path segment,
//   `**` spans segments (the globs of REGISTRY_ACCESSCONTROL). A prefix without `*` or `?` names one
//   repository, which is then synced without listing the catalog (so upstreams without one, e.g. Docker Hub,
//   can still be synced by exact names).
// - A repository belongs to the FIRST content entry whose prefix matches it (zot picks the first too).
// - `tags.regex` keeps tags it matches anywhere (unanchored, like Go's MatchString); `tags.semver` keeps tags
//   that are semantic versions (MAJOR.MINOR.PATCH with optional pre-release, optional leading "v"); both set,
//   a tag must pass both (zot applies one filter after the other); neither, every tag.
// - The local name is zot's destination rule, placed under the upstream's prefix (everything an upstream
//   caches lives there, where pushes are refused and `hub/**` policies hold): `<upstream prefix>/` +
//   `destination` + the remote name, with the prefix's literal part (the prefix trimmed of "/" and "*")
//   removed from the front of the remote name when `stripPrefix` is true. No destination and no
//   stripPrefix: `<upstream prefix>/<remote name>`, the name on-demand pulls cache it under.

import { compileGlob } from "../../config/access";
import type { SyncContent } from "../../config/upstreams";
import { nameGrammarError } from "../../oci/names";

/** A content entry's prefix, ready to match: `exact` when it names a single repository. */
export interface CompiledContent {
  content: SyncContent;
  matches(repo: string): boolean;
  exact: string | null;
}

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, "");

export function compileContent(content: SyncContent, at: string): CompiledContent {
  const pattern = trimSlashes(content.prefix);
  const matches = compileGlob(pattern, at, "BERTH_UPSTREAMS");
  return { content, matches, exact: /[*?]/.test(pattern) ? null : pattern };
}

/** The index of the first content entry covering `repo`, or -1. */
export function contentFor(contents: readonly CompiledContent[], repo: string): number {
  return contents.findIndex((c) => c.matches(repo));
}

// semver.org's grammar, with an optional leading "v" (tags cannot hold "+", so build metadata never occurs).
const NUM = "(?:0|[1-9]\\d*)";
const PRE_ID = "(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)";
const SEMVER = new RegExp(`^v?${NUM}\\.${NUM}\\.${NUM}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?(?:\\+[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*)?$`);

export function isSemver(tag: string): boolean {
  return SEMVER.test(tag);
}

/** Whether the content entry's tag filter keeps `tag`. */
export function keepsTag(content: SyncContent, tag: string): boolean {
  if (content.tagsRegex !== null) {
    content.tagsRegex.lastIndex = 0;
    if (!content.tagsRegex.test(tag)) return false;
  }
  return !content.tagsSemver || isSemver(tag);
}

/**
 * The local repository an upstream repository is copied into (see the head of this file); throws Error
 * when the result is not a valid repository name.
 */
export function localName(upstreamPrefix: string, remote: string, content: SyncContent): string {
  let rest = trimSlashes(remote);
  if (content.stripPrefix) {
    const literal = content.prefix.replace(/^[/*]+|[/*]+$/g, "");
    if (rest.startsWith(literal)) rest = trimSlashes(rest.slice(literal.length));
  }
  const name = [upstreamPrefix, content.destination ?? "", rest].map(trimSlashes).filter((s) => s !== "").join("/");
  const bad = name === "" ? "it is empty" : nameGrammarError(name);
  if (bad) throw new Error(`${remote} maps to the local name ${JSON.stringify(name.slice(0, 300))}, which is not valid: ${bad}`);
  return name;
}
