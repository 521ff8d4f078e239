// Blobs: the global content-addressed store and each repository's links to it (Distribution's blobstore and
// linkedblobstore). A blob is visible in a repository only when both its data and the repository's link exist;
// data is only ever written under its digest after that digest was verified.

import { formatDigest, type Digest } from "../oci/digest";
import type { Layout } from "./layout";
import type { S3Client } from "./s3/client";

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export class BlobStore {
  constructor(
    private readonly s3: S3Client,
    private readonly layout: Layout,
  ) {}

  /** Size of the blob's data in the global store, or null when absent. */
  async stat(digest: Digest): Promise<BlobInfo | null> {
    const h = await this.s3.head(this.layout.blobData(digest));
    return h ? { digest, size: h.size } : null;
  }

  /** True when the repository links the blob. Distribution writes the digest into the link; its presence is what counts. */
  async isLinked(repo: string, digest: Digest): Promise<boolean> {
    return (await this.s3.head(this.layout.layerLink(repo, digest))) !== null;
  }

  /** The blob as the repository sees it: linked and present, else null. Both reads run at once. */
  async statInRepository(repo: string, digest: Digest): Promise<BlobInfo | null> {
    const [linked, info] = await Promise.all([this.isLinked(repo, digest), this.stat(digest)]);
    return linked ? info : null;
  }

  async link(repo: string, digest: Digest): Promise<void> {
    const body = formatDigest(digest);
    await this.s3.put(this.layout.layerLink(repo, digest), body, { length: body.length });
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    await this.s3.delete(this.layout.layerLink(repo, digest));
  }

  /** Writes verified bytes under their digest (small blobs and manifests: one PutObject). */
  async putVerified(digest: Digest, bytes: Uint8Array, contentType?: string): Promise<void> {
    await this.s3.put(this.layout.blobData(digest), bytes, { length: bytes.byteLength, contentType });
  }

  presignedUrl(digest: Digest, expiresSeconds: number): Promise<string> {
    return this.s3.presignGet(this.layout.blobData(digest), expiresSeconds);
  }

  /** Streams the blob (or a range of it) from the bucket. */
  async open(digest: Digest, range?: string): Promise<Response | null> {
    return this.s3.get(this.layout.blobData(digest), range ? { range } : undefined);
  }
}
