// Where periodic sync puts an upstream repository, and back: zot's destination rule placed under the upstream's
// prefix (everything an upstream caches lives there, where pushes are refused and `hub/**` policies hold):
// `<upstream prefix>/` + `destination` + the remote name, with the content prefix's literal part (the prefix
// trimmed of "/" and "*") removed from the front of the remote name when `stripPrefix` is true. No destination
// and no stripPrefix: `<upstream prefix>/<remote name>`, the name on-demand pulls cache it under. The way back
// lets a pull of a synced name ask the upstream for the repository it came from (zot's getRepoSource). One
// module for both directions, so they cannot drift apart: the sync job (jobs/sync) maps forward, routing
// (index.ts) back.

import type { SyncContent } from "../config/upstreams";
import { nameGrammarError } from "../oci/names";

export const trimSlashes = (s: string): string => s.replace(/^\/+|\/+$/g, "");

/** The literal part of a content entry's prefix glob (what stripPrefix removes). */
const literalPart = (prefix: string): string => prefix.replace(/^[/*]+|[/*]+$/g, "");

/**
 * The local repository an upstream repository is copied into; throws Error when the result is not a valid
 * repository name.
 */
export function localName(upstreamPrefix: string, remote: string, content: SyncContent): string {
  let rest = trimSlashes(remote);
  if (content.stripPrefix) {
    const literal = literalPart(content.prefix);
    if (rest.startsWith(literal)) rest = trimSlashes(rest.slice(literal.length));
  }
  const name = [upstreamPrefix, content.destination ?? "", rest].map(trimSlashes).filter((s) => s !== "").join("/");
  const bad = name === "" ? "it is empty" : nameGrammarError(name);
  if (bad) throw new Error(`${remote} maps to the local name ${JSON.stringify(name.slice(0, 300))}, which is not valid: ${bad}`);
  return name;
}

/**
 * The upstream repository that `name` (a local name inside the upstream's prefix, the prefix removed) holds
 * under the content entry's mapping, or null when the entry maps nothing there (no destination or stripPrefix,
 * or `name` outside its destination). `covers`: whether the entry's prefix glob covers a remote name.
 */
export function remoteName(content: SyncContent, name: string, covers: (remote: string) => boolean): string | null {
  if (content.destination === null && !content.stripPrefix) return null;
  const dest = trimSlashes(content.destination ?? "");
  let rest: string;
  if (dest === "") rest = name;
  else if (name === dest) rest = "";
  else if (name.startsWith(`${dest}/`)) rest = name.slice(dest.length + 1);
  else return null;
  const remote = content.stripPrefix ? [literalPart(content.prefix), rest].filter((s) => s !== "").join("/") : rest;
  return remote !== "" && covers(remote) ? remote : null;
}
