// What the manifest handlers and a repository's metadata Durable Object say to each other over RPC: plain
// data in, an RpcResult out (oci/rpc.ts).

import type { RpcResult } from "../oci/rpc";
import type { ReferrerDescriptor } from "../storage/referrers";

export interface ManifestLink {
  /** The manifest, already stored under its digest. */
  digest: string;
  /** Set when the manifest has a `subject`: its entry in the subject's referrers index. */
  subject: { digest: string; descriptor: ReferrerDescriptor } | null;
  /** The tags to point at it (none for a plain push by digest; several with `?tag=`), in request order. */
  tags: string[];
  /** Whether the caller may move an existing tag ("update"); without it only new tags and same-target pushes pass. */
  mayMove: boolean;
  /** If-Match: each tag must currently point at one of these digests ("*": at anything). */
  ifMatch: string[] | null;
  /** If-None-Match: no tag may point at any of these digests ("*": none may exist yet). */
  ifNoneMatch: string[] | null;
  /** The manifest's digest and every digest it references: vouched for with the collector's fence. */
  vouch: string[];
  /** The handler vouched during a collection and checked the references against the bucket itself. */
  checkedFresh: boolean;
}

export type ManifestLinked =
  /** Stored; `previous[i]` is what tags[i] pointed at before (null: a new tag). */
  | { outcome: "stored"; previous: (string | null)[] }
  /** Nothing changed: `tag` exists and points elsewhere, and moving it needs "update". */
  | { outcome: "needs-update"; tag: string }
  /** Nothing changed: a collection started since the handler checked the references; check them fresh and retry. */
  | { outcome: "recheck" };

export interface RepositoryMetadataRpc {
  linkManifest(repo: string, link: ManifestLink): Promise<RpcResult<ManifestLinked>>;
  /** Removes the manifest from the repository with every tag naming it; `subject` drops its referrers entry. */
  unlinkManifest(repo: string, digest: string, subject: string | null): Promise<RpcResult<{ tags: string[] }>>;
  deleteTag(repo: string, tag: string): Promise<RpcResult<null>>;
  /**
   * The garbage collector removes an untagged manifest (revision link, the tag index entries of `indexTags`,
   * its referrers entry): "kept" instead when one of those tags points at it now.
   */
  removeUntagged(repo: string, digest: string, subject: string | null, indexTags: string[]): Promise<"removed" | "kept">;
  /** The backfill job indexes a referrer found through the referrers tag schema; false if the repository no longer holds it. */
  indexReferrer(repo: string, subject: string, descriptor: ReferrerDescriptor): Promise<boolean>;
  /** Retention removes a tag: "kept" instead when it no longer points at `digest`, or is immutable. */
  untag(repo: string, tag: string, digest: string): Promise<"removed" | "kept">;
}
