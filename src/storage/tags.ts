// Tags: `_manifests/tags/<tag>/current/link` names the manifest a tag points to, and `index/` remembers every
// manifest it ever pointed to (Distribution's tag store, which its garbage collector reads).

import { formatDigest, parseDigest, type Digest } from "../oci/digest";
import type { Layout } from "./layout";
import { mapLimit } from "./limit";
import type { StorageDriver } from "./driver";

export class TagStore {
  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
  ) {}

  async resolve(repo: string, tag: string): Promise<Digest | null> {
    const res = await this.store.get(this.layout.tagCurrentLink(repo, tag));
    if (!res) return null;
    const text = (await new Response(res.body).text()).trim();
    try {
      return parseDigest(text);
    } catch {
      throw new Error(`tag link of ${repo}:${tag} is corrupt`);
    }
  }

  /** The tag's manifest and when the tag was last written (its link's Last-Modified), or null. */
  async resolveAged(repo: string, tag: string): Promise<{ digest: Digest; lastModified: number } | null> {
    const [head, digest] = await Promise.all([this.store.head(this.layout.tagCurrentLink(repo, tag)), this.resolve(repo, tag)]);
    return head && digest ? { digest, lastModified: head.lastModified } : null;
  }

  /** Points the tag at a stored manifest. The current link is written last: a tag moves only once the rest is in place. */
  async set(repo: string, tag: string, digest: Digest): Promise<void> {
    const link = formatDigest(digest);
    await this.store.put(this.layout.tagIndexLink(repo, tag, digest), link, { length: link.length });
    await this.store.put(this.layout.tagCurrentLink(repo, tag), link, { length: link.length });
  }

  /** Removes the tag; true when it existed. */
  async delete(repo: string, tag: string): Promise<boolean> {
    const keys: string[] = [];
    for await (const o of this.store.walk(this.layout.tagRoot(repo, tag))) keys.push(o.key);
    if (keys.length === 0) return false;
    // The current link first: once it is gone the tag no longer resolves, whatever happens to the rest.
    const current = this.layout.tagCurrentLink(repo, tag);
    await this.store.delete(current);
    await this.store.deleteMany(keys.filter((k) => k !== current));
    return true;
  }

  /** All tag names of the repository, in lexical order (S3's key order differs: "v1.0/" sorts before "v1/"). */
  async list(repo: string): Promise<string[]> {
    const root = this.layout.tagsRoot(repo);
    const tags: string[] = [];
    for await (const dir of this.store.directories(root)) tags.push(dir.slice(root.length, -1));
    return tags.sort(compareLexical);
  }

  /** The tag list last saved for a cache repository's upstream, with when it was saved (ms); null if none. */
  async upstreamList(repo: string): Promise<{ tags: string[]; savedAt: number } | null> {
    const res = await this.store.get(this.layout.upstreamTags(repo));
    if (!res) return null;
    try {
      const doc = JSON.parse(await new Response(res.body).text()) as { tags?: unknown; savedAt?: unknown };
      if (!Array.isArray(doc.tags) || typeof doc.savedAt !== "number") return null;
      return { tags: doc.tags.filter((t): t is string => typeof t === "string"), savedAt: doc.savedAt };
    } catch {
      return null;
    }
  }

  async saveUpstreamList(repo: string, tags: readonly string[], savedAt: number): Promise<void> {
    const body = JSON.stringify({ tags, savedAt });
    await this.store.put(this.layout.upstreamTags(repo), body, { length: new TextEncoder().encode(body).byteLength, contentType: "application/json" });
  }

  /** Tags whose current link points at the digest. */
  async pointingTo(repo: string, digest: Digest): Promise<string[]> {
    const tags = await this.list(repo);
    const want = formatDigest(digest);
    const hits = await mapLimit(tags, 6, async (t) => {
      const d = await this.resolve(repo, t).catch(() => null);
      return d && formatDigest(d) === want ? t : null;
    });
    return hits.filter((t): t is string => t !== null);
  }
}

/** Code-unit order, which for the ASCII of tags and names is the spec's lexical order. */
export function compareLexical(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
