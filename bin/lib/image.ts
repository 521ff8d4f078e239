// What `berth push` pushes, whatever it was read from: a tree of manifests (an index's children first) whose
// blobs stream from files at known offsets, and the media types it recognises. Shared by the sources
// (sources.ts: OCI layout, dir:) and the docker-archive reader (archive.ts), so neither imports the other.

import { createReadStream } from "node:fs";
import type { BlobSource } from "./upload.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

export interface ManifestNode {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** Blobs this manifest names (config and layers, or an index's non-manifest entries). */
  blobs: BlobSource[];
  /** Manifests an index names; pushed (by digest) before it. */
  children: ManifestNode[];
}

export interface Image {
  root: ManifestNode;
  /** Tag the source names the image by, if any (used when the destination has none). */
  tag?: string;
}

/** A blob stored as a whole file (or a region of one), checked for its size up front. */
export function fileBlob(file: string, offset: number, size: number, digest: string, kind: string): BlobSource {
  return {
    digest,
    size,
    kind,
    open: (start, end) => createReadStream(file, { start: offset + start, end: offset + end - 1, highWaterMark: 1 << 20 }),
  };
}
