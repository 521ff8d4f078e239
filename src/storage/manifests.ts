// Manifests as a repository holds them: the bytes live in the global blob store under their digest, and the
// repository's revision link says the manifest belongs to it (Distribution's manifest store). The media
// type is kept as the data object's Content-Type so a GET answers with exactly what was put; objects that
// Distribution wrote (application/octet-stream) fall back to the type found in the JSON. Small manifests are
// remembered per isolate under their digest (bytes under a digest never change), so a pull by tag costs one
// S3 request, the tag's link, which is never cached.

import { formatDigest, type Digest } from "../oci/digest";
import type { Layout } from "./layout";
import type { StorageDriver } from "./driver";
import { edgeKey, NO_EDGE_CACHE, type EdgeCache } from "./edge-cache";
import { TtlCache } from "./ttl-cache";

/** Manifests are a few KiB; bigger ones (up to the 4 MiB limit) are not worth an isolate's memory. */
const CACHE_MAX_BYTES = 64 * 1024;
/** At most 256 × 64 KiB = 16 MiB, typically well under 2 MiB. */
const CACHE_ENTRIES = 256;
/** Garbage collection may delete unreferenced data; a cached copy outlives that by at most this long. */
const CACHE_TTL_MS = 5 * 60_000;
/**
 * The data center's copy (edge-cache.ts) of a manifest's bytes: they never change under their digest, and
 * every answer still checks the repository's link or tag first, so a day is as safe as a minute.
 */
const EDGE_TTL_S = 24 * 3600;

export interface StoredManifest {
  bytes: Uint8Array;
  /** Content-Type stored with the bytes, or null when it says nothing useful. */
  contentType: string | null;
}

/**
 * A repository's revision link seen to exist, trusted this long for GETs by tag: the tag just read (never
 * cached) already vouches for it, because every delete removes a manifest's tags before its link; the check is
 * a second fence against links removed by others. GETs by digest always look.
 */
const LINK_TTL_MS = 60_000;

export class ManifestStore {
  private readonly cache = new TtlCache<StoredManifest>(CACHE_TTL_MS, CACHE_ENTRIES);
  private readonly links = new TtlCache<true>(LINK_TTL_MS);

  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
    private readonly edge: EdgeCache = NO_EDGE_CACHE,
  ) {}

  /** Whether the repository holds the manifest (its revision link exists). */
  async exists(repo: string, digest: Digest): Promise<boolean> {
    const key = this.layout.manifestRevisionLink(repo, digest);
    const linked = (await this.store.head(key)) !== null;
    if (linked) this.links.set(key, true);
    else this.links.delete(key);
    return linked;
  }

  /** Like exists, answered from this isolate's memory of a recent yes (see LINK_TTL_MS): for GETs by tag. */
  async recentlyExists(repo: string, digest: Digest): Promise<boolean> {
    return this.links.get(this.layout.manifestRevisionLink(repo, digest)) === true || this.exists(repo, digest);
  }

  /** The repository's link was just written or removed elsewhere (its metadata object): update this isolate's memory. */
  noteLink(repo: string, digest: Digest, linked: boolean): void {
    const key = this.layout.manifestRevisionLink(repo, digest);
    if (linked) this.links.set(key, true);
    else this.links.delete(key);
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
    const near = await this.edge.get(edgeKey("manifest", digest));
    if (near) {
      const stored = { bytes: near.body, contentType: near.meta["content-type"] ?? null };
      this.remember(key, stored);
      return stored;
    }
    const res = await this.store.get(this.layout.blobData(digest));
    if (!res) return null;
    const bytes = new Uint8Array(await new Response(res.body).arrayBuffer());
    const ct = res.contentType;
    const stored = { bytes, contentType: ct && ct !== "application/octet-stream" && ct !== "binary/octet-stream" ? ct : null };
    this.remember(key, stored);
    await this.edge.put(edgeKey("manifest", digest), bytes, stored.contentType === null ? {} : { "content-type": stored.contentType }, EDGE_TTL_S);
    return stored;
  }

  private remember(key: string, stored: StoredManifest): void {
    if (stored.bytes.byteLength <= CACHE_MAX_BYTES) this.cache.set(key, stored);
  }

  /** Stores verified bytes under their digest (content-addressed: safe to write again, from anywhere). */
  async putData(digest: Digest, bytes: Uint8Array, mediaType: string): Promise<void> {
    await this.store.put(this.layout.blobData(digest), bytes, { length: bytes.byteLength, contentType: mediaType });
    this.remember(formatDigest(digest), { bytes, contentType: mediaType });
  }

  /** Links stored bytes into the repository (after putData: the link never points at nothing). */
  async link(repo: string, digest: Digest): Promise<void> {
    const link = formatDigest(digest);
    await this.store.put(this.layout.manifestRevisionLink(repo, digest), link, { length: link.length });
    this.noteLink(repo, digest, true);
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    this.noteLink(repo, digest, false);
    await this.store.delete(this.layout.manifestRevisionLink(repo, digest));
  }
}
