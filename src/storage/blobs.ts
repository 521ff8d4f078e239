// Blobs: the global content-addressed store and each repository's links to it (Distribution's blobstore and
// linkedblobstore). A blob is visible in a repository only when both its data and the repository's link exist;
// data is only ever written under its digest after that digest was verified.

import { formatDigest, type Digest } from "../oci/digest";
import type { Layout } from "./layout";
import { TtlCache } from "./ttl-cache";
import { S3Error, type S3Client } from "./s3/client";

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Sizes of blobs known to exist: content-addressed data never changes (only garbage collection removes it). */
const SIZE_TTL_MS = 5 * 60_000;
/** Links known to exist: spares the link check on every blob GET of a pull; a delete here forgets at once. */
const LINK_TTL_MS = 60_000;
/**
 * A presigned URL is handed out again for a quarter of its lifetime (at most 5 minutes), so every client still
 * gets at least three quarters of it: a popular layer pulled by many clients is signed once, not per GET.
 */
const PRESIGN_REUSE_MAX_MS = 5 * 60_000;
const PRESIGN_ENTRIES = 2_000;

export class BlobStore {
  private readonly sizes = new TtlCache<number>(SIZE_TTL_MS);
  private readonly links = new TtlCache<true>(LINK_TTL_MS);
  private presigned: { expiresSeconds: number; urls: TtlCache<string> } | null = null;

  constructor(
    private readonly s3: S3Client,
    private readonly layout: Layout,
  ) {}

  /** Size of the blob's data in the global store, or null when absent. */
  async stat(digest: Digest): Promise<BlobInfo | null> {
    const key = formatDigest(digest);
    const cached = this.sizes.get(key);
    if (cached !== undefined) return { digest, size: cached };
    const h = await this.s3.head(this.layout.blobData(digest));
    if (!h) return null;
    this.sizes.set(key, h.size);
    return { digest, size: h.size };
  }

  /** Records a blob just written (by this isolate or an upload session) so the next stat costs nothing. */
  remember(digest: Digest, size: number): void {
    this.sizes.set(formatDigest(digest), size);
  }

  /** True when the repository links the blob. Distribution writes the digest into the link; its presence is what counts. */
  async isLinked(repo: string, digest: Digest): Promise<boolean> {
    const key = this.layout.layerLink(repo, digest);
    if (this.links.get(key)) return true;
    const linked = (await this.s3.head(key)) !== null;
    if (linked) this.links.set(key, true);
    return linked;
  }

  /** The blob as the repository sees it: linked and present, else null. Both reads run at once. */
  async statInRepository(repo: string, digest: Digest): Promise<BlobInfo | null> {
    const [linked, info] = await Promise.all([this.isLinked(repo, digest), this.stat(digest)]);
    return linked ? info : null;
  }

  async link(repo: string, digest: Digest): Promise<void> {
    const body = formatDigest(digest);
    const key = this.layout.layerLink(repo, digest);
    await this.s3.put(key, body, { length: body.length });
    this.links.set(key, true);
  }

  /** Records a link just written by an upload session, so the client's HEAD right after costs nothing. */
  rememberLink(repo: string, digest: Digest): void {
    this.links.set(this.layout.layerLink(repo, digest), true);
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    const key = this.layout.layerLink(repo, digest);
    this.links.delete(key);
    await this.s3.delete(key);
  }

  /** Writes verified bytes under their digest (small blobs and manifests: one PutObject). */
  async putVerified(digest: Digest, bytes: Uint8Array, contentType?: string): Promise<void> {
    await this.s3.put(this.layout.blobData(digest), bytes, { length: bytes.byteLength, contentType });
    this.remember(digest, bytes.byteLength);
  }

  /** A presigned GET URL of the blob's data valid for `expiresSeconds`, reused while it has most of that left. */
  async presignedUrl(digest: Digest, expiresSeconds: number): Promise<string> {
    if (this.presigned?.expiresSeconds !== expiresSeconds) {
      const reuseMs = Math.min((expiresSeconds * 1000) / 4, PRESIGN_REUSE_MAX_MS);
      this.presigned = { expiresSeconds, urls: new TtlCache<string>(reuseMs, PRESIGN_ENTRIES) };
    }
    const { urls } = this.presigned;
    const key = formatDigest(digest);
    const cached = urls.get(key);
    if (cached !== undefined) return cached;
    const url = await this.s3.presignGet(this.layout.blobData(digest), expiresSeconds);
    urls.set(key, url);
    return url;
  }

  /**
   * Streams the blob (or a range of it) from the bucket: the S3 response (200/206), null when the data is
   * missing, or "unsatisfiable" when the range lies outside the blob.
   */
  async open(digest: Digest, range?: string): Promise<Response | null | "unsatisfiable"> {
    try {
      const res = await this.s3.get(this.layout.blobData(digest), range ? { range } : undefined);
      if (res?.status === 416) {
        await res.body?.cancel();
        return "unsatisfiable";
      }
      return res;
    } catch (e) {
      if (range && e instanceof S3Error && e.status === 416) return "unsatisfiable";
      throw e;
    }
  }
}
