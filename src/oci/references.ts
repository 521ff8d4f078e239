// What a stored manifest references, as a garbage collector must see it: read leniently from bytes that
// are already in the bucket (written by Berth, by Distribution, by anyone), never refusing. Unlike
// manifest.ts (which judges a push), this never throws: a manifest it cannot make sense of is searched
// for every digest it names, so that nothing it might reference is ever collected.

import { parseDigest } from "./digest";

export interface ManifestReferences {
  /** Blobs the manifest needs: an image's config and layers (foreign ones too), schema1's fsLayers, an artifact's blobs. */
  blobs: string[];
  /** An index's children (manifests, or blobs such as BuildKit cache records): kept while the index is. */
  children: string[];
  /** OCI 1.1 `subject`: not a reference (the subject may be gone), but a kept subject keeps its referrers. */
  subject: string | null;
  /** True when the bytes were not a manifest Berth recognises and every digest found in them was taken. */
  lenient: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function digestOf(v: unknown): string | null {
  if (!isObject(v) || typeof v.digest !== "string") return null;
  return valid(v.digest);
}

function valid(s: string): string | null {
  try {
    parseDigest(s);
    return s;
  } catch {
    return null;
  }
}

function digestsOf(list: unknown): string[] {
  return Array.isArray(list) ? list.map(digestOf).filter((d): d is string => d !== null) : [];
}

/** Every string under a "digest" or "blobSum" key anywhere in the document (bounded depth). */
function everyDigest(v: unknown, out: Set<string>, depth = 0): void {
  if (depth > 32) return;
  if (Array.isArray(v)) {
    for (const x of v) everyDigest(x, out, depth + 1);
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if ((k === "digest" || k === "blobSum") && typeof x === "string") {
        const d = valid(x);
        if (d) out.add(d);
      } else {
        everyDigest(x, out, depth + 1);
      }
    }
  }
}

export function manifestReferences(bytes: Uint8Array): ManifestReferences {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return { blobs: [], children: [], subject: null, lenient: true };
  }
  if (!isObject(doc)) return { blobs: [], children: [], subject: null, lenient: true };
  const subject = digestOf(doc.subject);
  const hasManifests = Array.isArray(doc.manifests);
  const hasImageParts = isObject(doc.config) || Array.isArray(doc.layers);
  if (hasManifests && !hasImageParts && doc.blobs === undefined) {
    return { blobs: [], children: unique(digestsOf(doc.manifests)), subject, lenient: false };
  }
  if (hasImageParts && !hasManifests) {
    const config = digestOf(doc.config);
    const blobs = [...(config ? [config] : []), ...digestsOf(doc.layers)];
    return { blobs: unique(blobs), children: [], subject, lenient: false };
  }
  if (Array.isArray(doc.blobs) && !hasManifests && !hasImageParts) {
    // The withdrawn OCI artifact manifest (application/vnd.oci.artifact.manifest.v1+json).
    return { blobs: unique(digestsOf(doc.blobs)), children: [], subject, lenient: false };
  }
  if (Array.isArray(doc.fsLayers)) {
    // Docker schema1 (Distribution 2.8 buckets may hold it): layers are fsLayers[].blobSum.
    const blobs = doc.fsLayers.flatMap((l) => (isObject(l) && typeof l.blobSum === "string" ? [valid(l.blobSum)] : [])).filter((d): d is string => d !== null);
    return { blobs: unique(blobs), children: [], subject: null, lenient: false };
  }
  const all = new Set<string>();
  everyDigest(doc, all);
  if (subject) all.delete(subject);
  return { blobs: [...all], children: [], subject, lenient: true };
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
