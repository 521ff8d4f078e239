// Blobs: the global content-addressed store and each repository's links to it (Distribution's blobstore and
// linkedblobstore). A blob is visible in a repository only when both its data and the repository's link exist;
// data is only ever written under its digest after that digest was verified: write() makes the bytes visible
// only once its caller's check after the last byte passed.

import { formatDigest, type Digest } from "../oci/digest";
import { RegistryFault } from "../oci/errors";
import type { ByteRange } from "../oci/range";
import type { StreamHash } from "../streams/stream-hash";
import { writeObject } from "./blob-writer";
import type { ObjectRead, StorageDriver } from "./driver";
import type { Layout } from "./layout";
import { edgeKey, NO_EDGE_CACHE, type EdgeCache } from "./edge-cache";
import { TtlCache } from "./ttl-cache";

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** A blob found by a walk of the store. `cursor` resumes a later walk right after it. */
export interface WalkedBlob extends BlobInfo {
  lastModified: number;
  cursor: string;
}

/**
 * A multipart upload a blob write opened: recorded by its owner (the upload session) so it can be aborted if
 * the owner dies before the write ends. Opaque to the owner.
 */
export interface BlobWriteHandle {
  key: string;
  uploadId: string;
}

export interface BlobWriteOptions {
  /** Part size of multipart uploads (REGISTRY_STORAGE_S3_CHUNKSIZE). */
  partSize: number;
  /** Sees every byte, in order, part by part (hashing). */
  onPart?(bytes: Uint8Array): Promise<void>;
  /** After the last byte, before the blob becomes visible: throwing (a digest mismatch) leaves nothing. */
  beforeComplete?(size: number): Promise<void>;
  /** A multipart upload was opened; record the handle to abort it if the write is lost. */
  onStarted?(handle: BlobWriteHandle): Promise<void>;
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
/** Cloudflare's cache takes objects up to 512 MB; bigger blobs are always read from the bucket. */
const EDGE_BLOB_MAX_BYTES = 512 * 1000 * 1000;
/** Blob bytes in the data center's cache: content-addressed, and every GET checks the link first. */
const EDGE_BLOB_TTL_S = 24 * 3600;

export class BlobStore {
  private readonly sizes = new TtlCache<number>(SIZE_TTL_MS);
  private readonly links = new TtlCache<true>(LINK_TTL_MS);
  /** Blobs this isolate is copying into the data center's cache (a minute: a failed copy is tried again). */
  private readonly filling = new TtlCache<true>(60_000);
  private presigned: { expiresSeconds: number; urls: TtlCache<string> } | null = null;

  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
    private readonly edge: EdgeCache = NO_EDGE_CACHE,
  ) {}

  /**
   * Size of the blob's data in the global store, or null when absent. From this isolate's memory or the data
   * center's (edge-cache.ts), either at most SIZE_TTL_MS after the bucket said so (the entry carries that
   * time, so an isolate that takes it over keeps it no longer): the collector's fence relies on that bound.
   * `fresh` asks the bucket.
   */
  async stat(digest: Digest, fresh = false): Promise<BlobInfo | null> {
    const key = formatDigest(digest);
    const cached = fresh ? undefined : this.sizes.get(key);
    if (cached !== undefined) return { digest, size: cached };
    const sizeKey = edgeKey("blob-size", digest);
    if (!fresh) {
      const near = await this.edge.get(sizeKey);
      const size = Number(near?.meta.size);
      const at = Number(near?.meta.at);
      if (near && Number.isSafeInteger(size) && size >= 0 && Number.isFinite(at) && Date.now() - at < SIZE_TTL_MS) {
        this.sizes.set(key, size, at);
        return { digest, size };
      }
    }
    const at = Date.now();
    const h = await this.store.head(this.layout.blobData(digest));
    if (!h) {
      this.sizes.delete(key);
      return null;
    }
    this.sizes.set(key, h.size, at);
    await this.edge.put(sizeKey, new Uint8Array(0), { size: String(h.size), at: String(at) }, SIZE_TTL_MS / 1000);
    return { digest, size: h.size };
  }

  /** Records a blob just written (by this isolate or an upload session) so the next stat costs nothing. */
  remember(digest: Digest, size: number): void {
    this.sizes.set(formatDigest(digest), size);
  }

  /** True when the repository links the blob. Distribution writes the digest into the link; its presence is what counts. */
  async isLinked(repo: string, digest: Digest, fresh = false): Promise<boolean> {
    const key = this.layout.layerLink(repo, digest);
    if (!fresh && this.links.get(key)) return true;
    const linked = (await this.store.head(key)) !== null;
    if (linked) this.links.set(key, true);
    else this.links.delete(key);
    return linked;
  }

  /**
   * The blob as the repository sees it: linked and present, else null. Both reads run at once. `fresh`
   * asks the bucket, not this isolate's memory (while the garbage collector runs: storage/sweep-fence.ts).
   */
  async statInRepository(repo: string, digest: Digest, fresh = false): Promise<BlobInfo | null> {
    const [linked, info] = await Promise.all([this.isLinked(repo, digest, fresh), this.stat(digest, fresh)]);
    return linked ? info : null;
  }

  async link(repo: string, digest: Digest): Promise<void> {
    const body = formatDigest(digest);
    const key = this.layout.layerLink(repo, digest);
    await this.store.put(key, body, { length: body.length });
    this.links.set(key, true);
  }

  /** Records a link just written by an upload session, so the client's HEAD right after costs nothing. */
  rememberLink(repo: string, digest: Digest): void {
    this.links.set(this.layout.layerLink(repo, digest), true);
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    const key = this.layout.layerLink(repo, digest);
    this.links.delete(key);
    await this.store.delete(key);
  }

  /**
   * Writes a stream as the blob's data: one put when it fits in a part, else a multipart upload that is
   * completed only after `beforeComplete` accepted the bytes (any failure aborts it). Returns the size.
   */
  async write(digest: Digest, body: ReadableStream<Uint8Array>, opts: BlobWriteOptions): Promise<number> {
    const key = this.layout.blobData(digest);
    const size = await writeObject(this.store, key, body, opts.partSize, {
      onPart: opts.onPart,
      beforeComplete: opts.beforeComplete,
      onStarted: opts.onStarted ? (uploadId) => opts.onStarted!({ key, uploadId }) : undefined,
    });
    this.remember(digest, size);
    return size;
  }

  /**
   * Writes bytes someone else claims are `digest` (an upstream's blob): hashed with `hash` part by part as
   * they are written, and completed only when their digest — and `size`, when one was announced — holds; a
   * wrong or cut-off body leaves nothing at the key. Memory stays at a few parts, whatever the blob's size.
   * Returns the size written.
   */
  async writeVerified(digest: Digest, body: ReadableStream<Uint8Array>, opts: { partSize: number; hash: StreamHash; size: number | null }): Promise<number> {
    const d = formatDigest(digest);
    return this.write(digest, body, {
      partSize: opts.partSize,
      onPart: (bytes) => opts.hash.update(bytes),
      beforeComplete: async (written) => {
        const hex = await opts.hash.hex();
        if (hex !== digest.hex || (opts.size !== null && written !== opts.size)) {
          throw new RegistryFault(`the source sent ${written} bytes whose digest is ${digest.algorithm}:${hex}, not ${d}${opts.size === null ? "" : ` (${opts.size} bytes)`}; nothing was stored`);
        }
      },
    });
  }

  /** Aborts the multipart upload of a write whose owner lost track of it (it never became visible). */
  async abandonWrite(handle: BlobWriteHandle): Promise<void> {
    await this.store.abortMultipart(handle.key, handle.uploadId);
  }

  /** Every blob in the store, in key order; `after` is a cursor from an earlier walk. */
  async *walk(after?: string): AsyncIterableIterator<WalkedBlob> {
    for await (const o of this.store.walk(this.layout.blobsRoot(), { after })) {
      const digest = this.layout.blobOfKey(o.key);
      if (digest) yield { digest, size: o.size, lastModified: o.lastModified, cursor: o.key };
    }
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
    const url = await this.store.presignGet(this.layout.blobData(digest), expiresSeconds);
    urls.set(key, url);
    return url;
  }

  /**
   * The data center's copy of the blob's bytes, or of `range` of them, for a GET the Worker streams (redirects
   * off); null when it has none. Content-addressed bytes never change: the caller has checked the link.
   */
  openNear(digest: Digest, range: ByteRange | null): Promise<ReadableStream<Uint8Array> | null> {
    return this.edge.open(edgeKey("blob", digest), range);
  }

  /**
   * Copies the blob's bytes into the data center's cache: a second read of the bucket, streamed into the cache
   * as it takes it, for the background of a GET that missed. Once per blob per isolate a minute at most, and
   * only up to what Cloudflare caches (512 MB).
   */
  async fillNear(digest: Digest, size: number): Promise<void> {
    const key = formatDigest(digest);
    if (this.edge === NO_EDGE_CACHE || size > EDGE_BLOB_MAX_BYTES || this.filling.get(key)) return;
    this.filling.set(key, true);
    const res = await this.store.get(this.layout.blobData(digest));
    if (res) await this.edge.putStream(edgeKey("blob", digest), res.body, res.size, EDGE_BLOB_TTL_S);
  }

  /** Streams the blob's data, or the range of it (inside the blob: check it against stat() first); null when missing. */
  open(digest: Digest, range?: ByteRange): Promise<ObjectRead | null> {
    return this.store.get(this.layout.blobData(digest), range);
  }
}
