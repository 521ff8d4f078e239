// Manifests as a repository holds them: the bytes live in the global blob store under their digest, and the
// repository's revision link says the manifest belongs to it (Distribution's manifest store). The media
// type is kept as the data object's Content-Type so a GET answers with exactly what was put; objects that
// Distribution wrote (application/octet-stream) fall back to the type found in the JSON. Small manifests are
// remembered per isolate under their digest (bytes under a digest never change), so a pull by tag costs one
// S3 request, the tag's link, which is never cached.

import { formatDigest, type Digest } from "../oci/digest";
import type { Layout } from "./layout";
import type { StorageDriver } from "./driver";
import { TtlCache } from "./ttl-cache";

/** Manifests are a few KiB; bigger ones (up to the 4 MiB limit) are not worth an isolate's memory. */
const CACHE_MAX_BYTES = 64 * 1024;
/** At most 256 × 64 KiB = 16 MiB, typically well under 2 MiB. */
const CACHE_ENTRIES = 256;
/** Garbage collection may delete unreferenced data; a cached copy outlives that by at most this long. */
const CACHE_TTL_MS = 5 * 60_000;

export interface StoredManifest {
  bytes: Uint8Array;
  /** Content-Type stored with the bytes, or null when it says nothing useful. */
  contentType: string | null;
}

export class ManifestStore {
  private readonly cache = new TtlCache<StoredManifest>(CACHE_TTL_MS, CACHE_ENTRIES);

  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
  ) {}

  async exists(repo: string, digest: Digest): Promise<boolean> {
    return (await this.store.head(this.layout.manifestRevisionLink(repo, digest))) !== null;
  }

  /** The manifest if this repository holds it. Link and bytes are read at once: one round trip. */
  async get(repo: string, digest: Digest): Promise<StoredManifest | null> {
    const [linked, data] = await Promise.all([this.exists(repo, digest), this.readData(digest)]);
    return linked ? data : null;
  }

  /** Bytes of a manifest reached through a tag (the tag's link already vouches for the repository). */
  async readData(digest: Digest): Promise<StoredManifest | null> {
    const key = formatDigest(digest);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const res = await this.store.get(this.layout.blobData(digest));
    if (!res) return null;
    const bytes = new Uint8Array(await new Response(res.body).arrayBuffer());
    const ct = res.contentType;
    const stored = { bytes, contentType: ct && ct !== "application/octet-stream" && ct !== "binary/octet-stream" ? ct : null };
    this.remember(key, stored);
    return stored;
  }

  private remember(key: string, stored: StoredManifest): void {
    if (stored.bytes.byteLength <= CACHE_MAX_BYTES) this.cache.set(key, stored);
  }

  /** Stores verified bytes, then links them into the repository (the link last, so it never points at nothing). */
  async put(repo: string, digest: Digest, bytes: Uint8Array, mediaType: string): Promise<void> {
    await this.store.put(this.layout.blobData(digest), bytes, { length: bytes.byteLength, contentType: mediaType });
    const link = formatDigest(digest);
    await this.store.put(this.layout.manifestRevisionLink(repo, digest), link, { length: link.length });
    this.remember(link, { bytes, contentType: mediaType });
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    await this.store.delete(this.layout.manifestRevisionLink(repo, digest));
  }
}
