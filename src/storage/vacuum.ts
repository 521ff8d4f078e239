// What the garbage collector reads and removes, in Distribution's layout (its registry/storage/vacuum.go and
// garbagecollect.go): one walk over every repository's links, manifest bytes read past the caches, and the
// removals — blob data, a repository's layer links, a manifest with its tag index entries and referrers
// entry, Distribution's abandoned `_uploads/` leftovers, and multipart uploads nobody completed. Deciding what to remove is the collector's job
// (src/jobs/gc); only this file and the other stores know keys.

import type { Digest } from "../oci/digest";
import { mapLimit } from "./limit";
import type { MultipartUpload, StorageDriver } from "./driver";
import type { Layout, RepositoryLink } from "./layout";

/** One object under repositories/, as the collector's walk sees it. `cursor` resumes a later walk after it. */
export type RepositoryEntry = { cursor: string; lastModified: number } & (
  | RepositoryLink
  /** A Distribution upload leftover (`_uploads/<uuid>/…`). */
  | { kind: "upload"; repository: string }
  /** Anything else of a repository (Berth's `_berth/` index, strays). */
  | { kind: "other"; repository: string }
);

/** Keys per delete request (S3's DeleteObjects limit). */
const DELETE_BATCH = 1000;

export class Vacuum {
  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
  ) {}

  /**
   * Every object of every repository, in key order (each repository's objects come together, its layer links
   * first, then revision links, then tags), resumable after `after`. Keys outside valid repositories are skipped.
   */
  async *walkRepositories(after?: string): AsyncIterableIterator<RepositoryEntry> {
    for await (const o of this.store.walk(this.layout.repositoriesRoot(), { after })) {
      const base = { cursor: o.key, lastModified: o.lastModified };
      const link = this.layout.linkOfKey(o.key);
      if (link) {
        yield { ...base, ...link };
        continue;
      }
      const owner = this.layout.repositoryOfKey(o.key);
      if (owner) yield { ...base, kind: owner.upload ? "upload" : "other", repository: owner.repository };
    }
  }

  /** A manifest's bytes straight from the bucket (no cache: the collector must see what is there), or null. */
  async readManifest(digest: Digest): Promise<Uint8Array | null> {
    const res = await this.store.get(this.layout.blobData(digest));
    return res ? new Uint8Array(await new Response(res.body).arrayBuffer()) : null;
  }

  /** Deletes blobs' data (Distribution's RemoveBlob). */
  async removeBlobs(digests: readonly Digest[]): Promise<void> {
    await this.deleteAll(digests.map((d) => this.layout.blobData(d)));
  }

  /** Deletes repositories' links to blobs whose data is gone. */
  async removeLayerLinks(links: readonly { repository: string; digest: Digest }[]): Promise<void> {
    await this.deleteAll(links.map((l) => this.layout.layerLink(l.repository, l.digest)));
  }

  /** Deletes upload leftovers found by walkRepositories (their cursors); anything else is refused. */
  async removeUploadLeftovers(cursors: readonly string[]): Promise<void> {
    for (const key of cursors) {
      if (this.layout.repositoryOfKey(key)?.upload !== true) throw new Error("vacuum: not an upload leftover");
    }
    await this.deleteAll(cursors);
  }

  /** Multipart uploads in progress anywhere under the registry's root (Berth's and Distribution's). */
  multipartUploads(): AsyncIterableIterator<MultipartUpload> {
    return this.store.multipartUploads(this.layout.root());
  }

  /** Aborts multipart uploads found by multipartUploads (their parts are deleted with them). */
  async abortMultipartUploads(uploads: readonly MultipartUpload[]): Promise<void> {
    for (const u of uploads) if (!u.key.startsWith(this.layout.root())) throw new Error("vacuum: not a multipart upload of the registry");
    await mapLimit(uploads, 6, (u) => this.store.abortMultipart(u.key, u.uploadId));
  }

  /**
   * Removes a manifest from a repository as Distribution's RemoveManifest does — the tag index entries that
   * name it, then its revision link — plus Berth's referrers entry under its subject and its pull record. Tags are not touched:
   * the caller removes only manifests no tag points at.
   */
  async removeManifest(repo: string, digest: Digest, subject: Digest | null, indexTags: readonly string[]): Promise<void> {
    const keys = indexTags.map((t) => this.layout.tagIndexLink(repo, t, digest));
    if (subject) keys.push(this.layout.referrer(repo, subject, digest));
    keys.push(this.layout.pullRecord(repo, digest)); // in the same batch: no request of its own
    await this.deleteAll(keys);
    await this.store.delete(this.layout.manifestRevisionLink(repo, digest));
  }

  private async deleteAll(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) await this.store.deleteMany(keys.slice(i, i + DELETE_BATCH));
  }
}
