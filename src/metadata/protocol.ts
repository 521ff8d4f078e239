// What the manifest handlers and a repository's metadata Durable Object say to each other over RPC: plain
// data in, an RpcResult out (oci/rpc.ts).

import type { RpcResult } from "../oci/rpc";
import type { ReferrerDescriptor } from "../storage/referrers";

export interface ManifestLink {
  /** The manifest, already stored under its digest. */
  digest: string;
  /** Set when the manifest has a `subject`: its entry in the subject's referrers index. */
  subject: { digest: string; descriptor: ReferrerDescriptor } | null;
  /** The tag to point at it, or null for a push by digest. */
  tag: string | null;
  /** Whether the caller may move an existing tag ("update"); without it only new tags and same-target pushes pass. */
  mayMove: boolean;
  /** If-Match: the tag must currently point at one of these digests ("*": at anything). */
  ifMatch: string[] | null;
  /** If-None-Match: the tag must not point at any of these digests ("*": must not exist yet). */
  ifNoneMatch: string[] | null;
}

export type ManifestLinked =
  /** Stored; `previous` is what the tag pointed at before (null: new tag, or no tag). */
  | { outcome: "stored"; previous: string | null }
  /** Nothing changed: the tag exists and points elsewhere, and moving it needs "update". */
  | { outcome: "needs-update" };

export interface RepositoryMetadataRpc {
  linkManifest(repo: string, link: ManifestLink): Promise<RpcResult<ManifestLinked>>;
  /** Removes the manifest from the repository with every tag naming it; `subject` drops its referrers entry. */
  unlinkManifest(repo: string, digest: string, subject: string | null): Promise<RpcResult<{ tags: string[] }>>;
  deleteTag(repo: string, tag: string): Promise<RpcResult<null>>;
}
