// The one place that knows the bucket's key names. The layout is CNCF Distribution's (registry/storage/paths.go),
// so a bucket written by Distribution is served as it is, and Distribution can serve what Berth writes:
//
//   <root>/docker/registry/v2/
//     blobs/<alg>/<hex[0:2]>/<hex>/data                                   blob bytes (layers, configs, manifests)
//     repositories/<name>/
//       _layers/<alg>/<hex>/link                                          repository holds this blob
//       _manifests/revisions/<alg>/<hex>/link                             repository holds this manifest
//       _manifests/tags/<tag>/current/link                                tag -> manifest digest
//       _manifests/tags/<tag>/index/<alg>/<hex>/link                      every digest the tag pointed to
//       _uploads/<uuid>/...                                               Distribution's upload state (Berth writes none)
//       _berth/referrers/<alg>/<subject-hex>/<alg>/<hex>                  Berth's referrers index (see below)
//       _berth/pulls/<alg>/<hex>                                          empty; its time is the manifest's last pull
//       _berth/upstream-tags.json                                         a pull-through cache's upstream tag list
//       _berth/upstream-referrers/<alg>/<subject-hex>.json                and a subject's upstream referrers
//
// Every link file holds exactly "<alg>:<hex>" with no newline. Distribution skips directories under a
// repository whose name starts with "_" and that it does not know, so `_berth` is invisible to it.
// Callers pass names and digests that were already validated against the spec's grammar; the asserts here
// are a second fence so that nothing can ever build a key outside its repository.

import { digestFromParts, type Digest } from "../oci/digest";

const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HEX_RE = /^[a-f0-9]+$/;
// Keys as Distribution writes them, read back by walks (the algorithm is any the spec's grammar allows).
const BLOB_KEY_RE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*)\/([a-f0-9]{2})\/([a-f0-9]{32,})\/data$/;
const LAYER_LINK_RE = /^_layers\/([a-z0-9]+(?:[+._-][a-z0-9]+)*)\/([a-f0-9]{32,})\/link$/;
const REVISION_LINK_RE = /^_manifests\/revisions\/([a-z0-9]+(?:[+._-][a-z0-9]+)*)\/([a-f0-9]{32,})\/link$/;
const TAG_CURRENT_RE = /^_manifests\/tags\/([^/]+)\/current\/link$/;
const TAG_INDEX_RE = /^_manifests\/tags\/([^/]+)\/index\/([a-z0-9]+(?:[+._-][a-z0-9]+)*)\/([a-f0-9]{32,})\/link$/;
const PULL_RE = /^_berth\/pulls\/([a-z0-9]+(?:[+._-][a-z0-9]+)*)\/([a-f0-9]{32,})$/;

/** A link file found by a walk of repositories/. */
export type RepositoryLink =
  | { kind: "layer" | "revision"; repository: string; digest: Digest }
  | { kind: "tag"; repository: string; tag: string }
  | { kind: "tag-index"; repository: string; tag: string; digest: Digest }
  /** Berth's record of a manifest's last pull (for retention's pulledWithin / mostRecentlyPulledCount). */
  | { kind: "pull"; repository: string; digest: Digest };

function name(n: string): string {
  if (n.length > 255 || !NAME_RE.test(n)) throw new Error("layout: invalid repository name");
  return n;
}
function tag(t: string): string {
  if (!TAG_RE.test(t)) throw new Error("layout: invalid tag");
  return t;
}
function dig(d: Digest): string {
  if (!HEX_RE.test(d.hex)) throw new Error("layout: invalid digest");
  return `${d.algorithm}/${d.hex}`;
}

export class Layout {
  private readonly base: string;

  /** rootDirectory: the configured prefix, without leading or trailing slash ("" for the bucket's root). */
  constructor(rootDirectory: string) {
    this.base = (rootDirectory ? `${rootDirectory}/` : "") + "docker/registry/v2/";
  }

  /** Prefix of everything the registry stores (`<root>/docker/registry/v2/`). */
  root(): string {
    return this.base;
  }

  blobData(d: Digest): string {
    if (!HEX_RE.test(d.hex)) throw new Error("layout: invalid digest");
    return `${this.blobsRoot()}${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`;
  }

  /** Prefix of every blob's data (a walk of it visits each blob once). */
  blobsRoot(): string {
    return `${this.base}blobs/`;
  }

  /** The digest whose data lives at `key`, or null for any other key (e.g. a stray object under blobs/). */
  blobOfKey(key: string): Digest | null {
    const root = this.blobsRoot();
    if (!key.startsWith(root)) return null;
    const m = BLOB_KEY_RE.exec(key.slice(root.length));
    if (!m || m[2] !== m[3]!.slice(0, 2)) return null;
    return digestFromParts(m[1]!, m[3]!);
  }

  /** Prefix under which all repositories live (for the catalog walk). */
  repositoriesRoot(): string {
    return `${this.base}repositories/`;
  }

  /**
   * What a key under repositories/ is: a repository's layer link, manifest revision link, tag link, tag
   * index entry or pull record, or null for anything else (upload leftovers, the referrers index, strays). One
   * walk of repositories/ with this visits every link of every repository (the mark phase of a collector).
   */
  linkOfKey(key: string): RepositoryLink | null {
    const root = this.repositoriesRoot();
    if (!key.startsWith(root)) return null;
    const rest = key.slice(root.length);
    const cut = rest.search(/\/_(layers|manifests|berth\/pulls)\//);
    if (cut <= 0) return null;
    const repository = rest.slice(0, cut);
    if (!NAME_RE.test(repository)) return null;
    const tail = rest.slice(cut + 1);
    let m = LAYER_LINK_RE.exec(tail) ?? REVISION_LINK_RE.exec(tail);
    if (m) {
      const digest = digestFromParts(m[1]!, m[2]!);
      const kind = tail.startsWith("_layers/") ? "layer" : "revision";
      return digest ? { kind, repository, digest } : null;
    }
    m = TAG_CURRENT_RE.exec(tail);
    if (m) return TAG_RE.test(m[1]!) ? { kind: "tag", repository, tag: m[1]! } : null;
    m = TAG_INDEX_RE.exec(tail);
    if (m) {
      const digest = digestFromParts(m[2]!, m[3]!);
      return digest && TAG_RE.test(m[1]!) ? { kind: "tag-index", repository, tag: m[1]!, digest } : null;
    }
    m = PULL_RE.exec(tail);
    if (m) {
      const digest = digestFromParts(m[1]!, m[2]!);
      return digest ? { kind: "pull", repository, digest } : null;
    }
    return null;
  }

  /**
   * The repository a key under repositories/ belongs to, and whether it is one of Distribution's upload
   * leftovers (`_uploads/…`); null for keys outside any valid repository.
   */
  repositoryOfKey(key: string): { repository: string; upload: boolean } | null {
    const root = this.repositoriesRoot();
    if (!key.startsWith(root)) return null;
    const rest = key.slice(root.length);
    // A component never starts with "_", so the first "/_" ends the repository's name.
    const cut = rest.indexOf("/_");
    if (cut <= 0 || !NAME_RE.test(rest.slice(0, cut))) return null;
    return { repository: rest.slice(0, cut), upload: rest.startsWith("_uploads/", cut + 1) };
  }

  repository(n: string): string {
    return `${this.base}repositories/${name(n)}/`;
  }

  layersRoot(n: string): string {
    return `${this.repository(n)}_layers/`;
  }

  layerLink(n: string, d: Digest): string {
    return `${this.layersRoot(n)}${dig(d)}/link`;
  }

  revisionsRoot(n: string): string {
    return `${this.repository(n)}_manifests/revisions/`;
  }

  manifestRevisionLink(n: string, d: Digest): string {
    return `${this.revisionsRoot(n)}${dig(d)}/link`;
  }

  tagsRoot(n: string): string {
    return `${this.repository(n)}_manifests/tags/`;
  }

  tagCurrentLink(n: string, t: string): string {
    return `${this.tagsRoot(n)}${tag(t)}/current/link`;
  }

  tagIndexLink(n: string, t: string, d: Digest): string {
    return `${this.tagsRoot(n)}${tag(t)}/index/${dig(d)}/link`;
  }

  /** Everything under one tag (current link and index), for tag deletion. */
  tagRoot(n: string, t: string): string {
    return `${this.tagsRoot(n)}${tag(t)}/`;
  }

  /** The tag list a cache repository's upstream gave last (its Last-Modified says when). */
  upstreamTags(n: string): string {
    return `${this.repository(n)}_berth/upstream-tags.json`;
  }

  /** The referrers of a subject a cache repository's upstream listed last. */
  upstreamReferrers(n: string, subject: Digest): string {
    return `${this.repository(n)}_berth/upstream-referrers/${dig(subject)}.json`;
  }

  /** An empty object whose Last-Modified is the manifest's last recorded pull in the repository. */
  pullRecord(n: string, d: Digest): string {
    return `${this.repository(n)}_berth/pulls/${dig(d)}`;
  }

  referrersOf(n: string, subject: Digest): string {
    return `${this.repository(n)}_berth/referrers/${dig(subject)}/`;
  }

  referrer(n: string, subject: Digest, referrer: Digest): string {
    return `${this.referrersOf(n, subject)}${dig(referrer)}`;
  }
}
