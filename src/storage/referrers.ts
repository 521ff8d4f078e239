// Berth's referrers index: one small JSON object per (subject, referrer) pair, holding the referrer's
// descriptor, under `_berth/referrers/` where Distribution never looks. One object per pair means two
// pushes of different referrers never race on a shared index file.

import type { Digest } from "../oci/digest";
import type { ReferrerDescriptor } from "../oci/referrers-tag";
import type { Layout } from "./layout";
import { mapLimit } from "./limit";
import type { StorageDriver } from "./driver";

export type { ReferrerDescriptor } from "../oci/referrers-tag";

export class ReferrerStore {
  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
  ) {}

  async add(repo: string, subject: Digest, referrer: Digest, desc: ReferrerDescriptor): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify(desc));
    await this.store.put(this.layout.referrer(repo, subject, referrer), body, {
      length: body.byteLength,
      contentType: "application/json",
    });
  }

  async remove(repo: string, subject: Digest, referrer: Digest): Promise<void> {
    await this.store.delete(this.layout.referrer(repo, subject, referrer));
  }

  /** Every referrer of the subject, ordered by digest so pages are stable. */
  async list(repo: string, subject: Digest): Promise<ReferrerDescriptor[]> {
    const keys: string[] = [];
    for await (const o of this.store.walk(this.layout.referrersOf(repo, subject))) keys.push(o.key);
    const found = await mapLimit(keys, 6, async (key) => {
      const res = await this.store.get(key);
      if (!res) return null; // removed since the listing
      try {
        return JSON.parse(await new Response(res.body).text()) as ReferrerDescriptor;
      } catch {
        return null;
      }
    });
    return found.filter((d): d is ReferrerDescriptor => d !== null).sort((a, b) => (a.digest < b.digest ? -1 : 1));
  }

  /** The subject's referrers the cache repository's upstream listed, and when (null: never saved, or unreadable). */
  async upstreamList(repo: string, subject: Digest): Promise<{ manifests: ReferrerDescriptor[]; savedAt: number } | null> {
    const res = await this.store.get(this.layout.upstreamReferrers(repo, subject));
    if (!res) return null;
    try {
      const doc = JSON.parse(await new Response(res.body).text()) as { manifests?: unknown; savedAt?: unknown };
      if (!Array.isArray(doc.manifests) || typeof doc.savedAt !== "number") return null;
      return { manifests: doc.manifests as ReferrerDescriptor[], savedAt: doc.savedAt };
    } catch {
      return null;
    }
  }

  async saveUpstreamList(repo: string, subject: Digest, manifests: readonly ReferrerDescriptor[], savedAt: number): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify({ manifests, savedAt }));
    await this.store.put(this.layout.upstreamReferrers(repo, subject), body, { length: body.byteLength, contentType: "application/json" });
  }
}
