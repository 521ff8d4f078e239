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
// - The local name is zot's destination rule, placed under the upstream's prefix: upstream/sync-names.ts,
//   beside the way back that routing uses.

import { compileGlob } from "../../config/access";
import type { SyncContent } from "../../config/upstreams";
import { trimSlashes } from "../../upstream/sync-names";

export { localName } from "../../upstream/sync-names";

/** A content entry's prefix, ready to match: `exact` when it names a single repository. */
export interface CompiledContent {
  content: SyncContent;
  matches(repo: string): boolean;
  exact: string | null;
}


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

