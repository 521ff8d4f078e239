// When a repository's manifests were last pulled, for retention's pulledWithin and mostRecentlyPulledCount:
// one empty object per (repository, manifest) under `_berth/pulls/`, where Distribution never looks. The
// time is the object's Last-Modified, so the collector learns every pull time from the listing it walks
// anyway, without a read per manifest. How often to write is the caller's business (registry/pulls.ts).

import type { Digest } from "../oci/digest";
import type { StorageDriver } from "./driver";
import type { Layout } from "./layout";

export class PullStore {
  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
  ) {}

  /** When the last pull was recorded (ms since the epoch), or null when none was. */
  async recordedAt(repo: string, digest: Digest): Promise<number | null> {
    const meta = await this.store.head(this.layout.pullRecord(repo, digest));
    return meta ? meta.lastModified : null;
  }

  /** Records a pull now (the bucket's clock stamps it). */
  async record(repo: string, digest: Digest): Promise<void> {
    await this.store.put(this.layout.pullRecord(repo, digest), new Uint8Array(0), { length: 0 });
  }
}
