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
//       _uploads/<uuid>/data                                              temporary object of an upload session
//       _berth/referrers/<alg>/<subject-hex>/<alg>/<hex>                  Berth's referrers index (see below)
//
// Every link file holds exactly "<alg>:<hex>" with no newline. Distribution skips directories under a
// repository whose name starts with "_" and that it does not know, so `_berth` is invisible to it.
// Callers pass names and digests that were already validated against the spec's grammar; the asserts here
// are a second fence so that nothing can ever build a key outside its repository.

import type { Digest } from "../oci/digest";

const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HEX_RE = /^[a-f0-9]+$/;
const UUID_RE = /^[a-f0-9-]{16,64}$/;

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

  blobData(d: Digest): string {
    if (!HEX_RE.test(d.hex)) throw new Error("layout: invalid digest");
    return `${this.base}blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`;
  }

  /** Prefix under which all repositories live (for the catalog walk). */
  repositoriesRoot(): string {
    return `${this.base}repositories/`;
  }

  repository(n: string): string {
    return `${this.base}repositories/${name(n)}/`;
  }

  layerLink(n: string, d: Digest): string {
    return `${this.repository(n)}_layers/${dig(d)}/link`;
  }

  manifestRevisionLink(n: string, d: Digest): string {
    return `${this.repository(n)}_manifests/revisions/${dig(d)}/link`;
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

  uploadData(n: string, uuid: string): string {
    if (!UUID_RE.test(uuid)) throw new Error("layout: invalid upload id");
    return `${this.repository(n)}_uploads/${uuid}/data`;
  }

  referrersOf(n: string, subject: Digest): string {
    return `${this.repository(n)}_berth/referrers/${dig(subject)}/`;
  }

  referrer(n: string, subject: Digest, referrer: Digest): string {
    return `${this.referrersOf(n, subject)}${dig(referrer)}`;
  }
}
