// Manifests as a repository holds them: the bytes live in the global blob store under their digest, and the
// repository's revision link says the manifest belongs to it (Distribution's manifest store). The media
// type is kept as the data object's Content-Type so a GET answers with exactly what was put; objects that
// Distribution wrote (application/octet-stream) fall back to the type found in the JSON.

import { formatDigest, type Digest } from "../oci/digest";
import type { Layout } from "./layout";
import type { S3Client } from "./s3/client";

export interface StoredManifest {
  bytes: Uint8Array;
  /** Content-Type stored with the bytes, or null when it says nothing useful. */
  contentType: string | null;
}

export class ManifestStore {
  constructor(
    private readonly s3: S3Client,
    private readonly layout: Layout,
  ) {}

  async exists(repo: string, digest: Digest): Promise<boolean> {
    return (await this.s3.head(this.layout.manifestRevisionLink(repo, digest))) !== null;
  }

  /** The manifest if this repository holds it. Link and bytes are read at once: one round trip. */
  async get(repo: string, digest: Digest): Promise<StoredManifest | null> {
    const [linked, data] = await Promise.all([this.exists(repo, digest), this.readData(digest)]);
    return linked ? data : null;
  }

  /** Bytes of a manifest reached through a tag (the tag's link already vouches for the repository). */
  async readData(digest: Digest): Promise<StoredManifest | null> {
    const res = await this.s3.get(this.layout.blobData(digest));
    if (!res) return null;
    const bytes = new Uint8Array(await res.arrayBuffer());
    const ct = res.headers.get("content-type");
    return { bytes, contentType: ct && ct !== "application/octet-stream" && ct !== "binary/octet-stream" ? ct : null };
  }

  /** Stores verified bytes, then links them into the repository (the link last, so it never points at nothing). */
  async put(repo: string, digest: Digest, bytes: Uint8Array, mediaType: string): Promise<void> {
    await this.s3.put(this.layout.blobData(digest), bytes, { length: bytes.byteLength, contentType: mediaType });
    const link = formatDigest(digest);
    await this.s3.put(this.layout.manifestRevisionLink(repo, digest), link, { length: link.length });
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    await this.s3.delete(this.layout.manifestRevisionLink(repo, digest));
  }
}
