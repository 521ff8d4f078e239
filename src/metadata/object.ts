// The repository metadata Durable Object: one per repository name, hosting RepositoryWrites (writes.ts) so
// that every change to the repository's revision links, tags and referrers index is made one at a time. It
// holds no state of its own: the bucket is the truth, and the object only orders the writes. It parses only
// the storage settings and the immutable tags, and vouches to the collector's fence before it links a manifest.
// It also hosts the single flight of the repository's pull-through blob fetches (fills.ts), in memory only.

import { DurableObject } from "cloudflare:workers";
import { readLogLevel } from "../config/logging";
import { parseMaintenance } from "../config/maintenance";
import { setLogLevel } from "../log";
import { reportFromObject } from "../metrics/flush";
import { parseS3 } from "../config/storage";
import type { ReferrerDescriptor } from "../oci/referrers-tag";
import type { RpcResult } from "../oci/rpc";
import { createStorage } from "../storage";
import { SweepFence, type SweepFenceRpc } from "../storage/sweep-fence";
import { BlobFills, type BlobFillRpc } from "./fills";
import type { ManifestLink, ManifestLinked, RepositoryMetadataRpc } from "./protocol";
import { RepositoryWrites } from "./writes";

export class RepositoryMetadata extends DurableObject implements RepositoryMetadataRpc, BlobFillRpc {
  private instance: RepositoryWrites | null = null;
  /** Who is fetching which blob into this repository's pull-through cache (fills.ts). */
  private readonly fills = new BlobFills();

  private writes(): RepositoryWrites {
    const env = this.env as Record<string, unknown>;
    reportFromObject(env, this.ctx); // its S3 requests are counted
    if (!this.instance) {
      setLogLevel(readLogLevel(env));
      const jobs = env.JOBS as DurableObjectNamespace;
      const fence = new SweepFence(() => jobs.get(jobs.idFromName("coordinator")) as unknown as SweepFenceRpc);
      this.instance = new RepositoryWrites(createStorage(parseS3(env)), parseMaintenance(env).immutableTags, fence);
    }
    return this.instance;
  }

  linkManifest(repo: string, link: ManifestLink): Promise<RpcResult<ManifestLinked>> {
    return this.writes().linkManifest(repo, link);
  }

  unlinkManifest(repo: string, digest: string, subject: string | null): Promise<RpcResult<{ tags: string[] }>> {
    return this.writes().unlinkManifest(repo, digest, subject);
  }

  deleteTag(repo: string, tag: string): Promise<RpcResult<null>> {
    return this.writes().deleteTag(repo, tag);
  }

  removeUntagged(repo: string, digest: string, subject: string | null, indexTags: string[]): Promise<"removed" | "kept"> {
    return this.writes().removeUntagged(repo, digest, subject, indexTags);
  }

  indexReferrer(repo: string, subject: string, descriptor: ReferrerDescriptor): Promise<boolean> {
    return this.writes().indexReferrer(repo, subject, descriptor);
  }

  untag(repo: string, tag: string, digest: string): Promise<"removed" | "kept"> {
    return this.writes().untag(repo, tag, digest);
  }

  claimFill(digest: string, leaseMs: number): Promise<string | null> {
    return this.fills.claimFill(digest, leaseMs);
  }

  releaseFill(digest: string, id: string): Promise<void> {
    return this.fills.releaseFill(digest, id);
  }

  awaitFill(digest: string, maxMs: number): Promise<void> {
    return this.fills.awaitFill(digest, maxMs);
  }
}
