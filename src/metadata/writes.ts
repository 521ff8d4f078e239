// Changes to one repository's metadata — revision links, tags and their index, the referrers index — made
// one at a time. Every such change of the registry goes through here (inside the repository's Durable
// Object, object.ts), so concurrent manifest PUTs, tag moves and deletes land as if in some serial order:
// a delete can no longer unlink a manifest between a concurrent PUT's link and its tag, and a conditional
// tag update (If-Match, If-None-Match) and the immutability of a tag (BERTH_IMMUTABLE_TAGS: created once, never
// moved or deleted) are checked and applied with nothing in between. Reads stay direct
// from the bucket. Manifest bytes are stored before the call (content-addressed, safe from anywhere).

import { formatDigest, parseDigest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { Serial, unwrap, type RpcResult } from "../oci/rpc";
import type { ImmutableTags } from "../config/maintenance";
import type { ReferrerDescriptor } from "../oci/referrers-tag";
import type { Storage } from "../storage";
import { mapLimit } from "../storage/limit";
import { NO_FENCE, type SweepFence } from "../storage/sweep-fence";
import type { ManifestLink, ManifestLinked, RepositoryMetadataRpc } from "./protocol";

export class RepositoryWrites implements RepositoryMetadataRpc {
  private readonly serial = new Serial("repository metadata", "internal error while updating the repository");

  constructor(
    private readonly storage: Storage,
    /** BERTH_IMMUTABLE_TAGS: checked here, in the serialized step, so two racing creators leave one winner. */
    private readonly immutable: ImmutableTags = { covers: () => false, empty: true },
    /** The collector's fence: vouched again right before linking, in case a run started since the handler's check. */
    private readonly fence: Pick<SweepFence, "vouch"> = NO_FENCE,
  ) {}

  linkManifest(repo: string, link: ManifestLink): Promise<RpcResult<ManifestLinked>> {
    return this.serial.run(async () => {
      const { manifests, referrers, tags } = this.storage;
      const digest = parseDigest(link.digest);
      // Every tag is checked before anything is written: all of them move, or none.
      const previous: (string | null)[] = [];
      for (const tag of link.tags) {
        const current = await tags.resolve(repo, tag);
        const was = current ? formatDigest(current) : null;
        checkPreconditions(link, tag, was);
        if (was !== null && was !== link.digest && this.immutable.covers(repo, tag)) {
          throw immutableTag(`tag ${tag} is immutable: it points at ${was} and cannot be moved`);
        }
        if (was !== null && was !== link.digest && !link.mayMove) return { outcome: "needs-update", tag };
        previous.push(was);
      }
      // A run that started after the handler's check must see this manifest's references: vouch for them
      // again right before linking. After a cached check the handler checks them against the bucket and
      // retries. After a fresh one, made during a run or its cooldown, another run may have started and swept
      // them since (this queue of writes can be long), and marks die with the run that made them: look again.
      if (await this.fence.vouch(repo, link.vouch)) {
        if (!link.checkedFresh) return { outcome: "recheck" };
        const gone: string[] = [];
        await mapLimit(link.vouch, 6, async (d) => {
          if (!(await this.storage.blobs.stat(parseDigest(d), true))) gone.push(d);
        });
        if (gone.length > 0) {
          throw new OciError("MANIFEST_BLOB_UNKNOWN", `manifest references ${gone.length} blob(s) or manifest(s) deleted meanwhile`, { detail: { digests: gone.slice(0, 20) } });
        }
      }
      await manifests.link(repo, digest);
      if (link.subject) await referrers.add(repo, parseDigest(link.subject.digest), digest, link.subject.descriptor);
      for (const tag of link.tags) await tags.set(repo, tag, digest);
      return { outcome: "stored", previous };
    });
  }

  unlinkManifest(repo: string, raw: string, subject: string | null): Promise<RpcResult<{ tags: string[] }>> {
    return this.serial.run(async () => {
      const { manifests, referrers, tags } = this.storage;
      const digest = parseDigest(raw);
      if (!(await manifests.exists(repo, digest))) throw manifestUnknown(raw);
      // Tags first, so no tag is ever left naming a manifest the repository no longer holds.
      const removed = await tags.pointingTo(repo, digest);
      const kept = removed.find((t) => this.immutable.covers(repo, t));
      if (kept !== undefined) throw immutableTag(`the manifest is named by the immutable tag ${kept}, so it cannot be deleted`);
      for (const t of removed) await tags.delete(repo, t);
      if (subject) await referrers.remove(repo, parseDigest(subject), digest);
      await manifests.unlink(repo, digest);
      return { tags: removed };
    });
  }

  removeUntagged(repo: string, raw: string, subject: string | null, indexTags: string[]): Promise<"removed" | "kept"> {
    return this.serial
      .run(async () => {
        const digest = parseDigest(raw);
        for (const t of indexTags) {
          const current = await this.storage.tags.resolve(repo, t).catch(() => null);
          if (current && formatDigest(current) === raw) return "kept" as const;
        }
        await this.storage.vacuum.removeManifest(repo, digest, subject ? parseDigest(subject) : null, indexTags);
        this.storage.manifests.noteLink(repo, digest, false);
        return "removed" as const;
      })
      .then(unwrap);
  }

  indexReferrer(repo: string, subject: string, descriptor: ReferrerDescriptor): Promise<boolean> {
    return this.serial
      .run(async () => {
        // In order with deletes: a referrer unlinked meanwhile must not come back into the index.
        const referrer = parseDigest(descriptor.digest);
        if (!(await this.storage.manifests.exists(repo, referrer))) return false;
        await this.storage.referrers.add(repo, parseDigest(subject), referrer, descriptor);
        return true;
      })
      .then(unwrap);
  }

  untag(repo: string, tag: string, digest: string): Promise<"removed" | "kept"> {
    return this.serial
      .run(async () => {
        if (this.immutable.covers(repo, tag)) return "kept" as const;
        const current = await this.storage.tags.resolve(repo, tag).catch(() => null);
        if (!current || formatDigest(current) !== digest) return "kept" as const;
        await this.storage.tags.delete(repo, tag);
        return "removed" as const;
      })
      .then(unwrap);
  }

  deleteTag(repo: string, tag: string): Promise<RpcResult<null>> {
    return this.serial.run(async () => {
      if (this.immutable.covers(repo, tag)) throw immutableTag(`tag ${tag} is immutable and cannot be deleted`);
      if (!(await this.storage.tags.delete(repo, tag))) throw manifestUnknown(tag);
      return null;
    });
  }
}

/** If-Match / If-None-Match on a PUT by tag (RFC 9110 §13.1), against what the tag points at now. */
function checkPreconditions(link: ManifestLink, tag: string, current: string | null): void {
  if (link.ifNoneMatch !== null && current !== null && (link.ifNoneMatch.includes("*") || link.ifNoneMatch.includes(current))) {
    throw preconditionFailed(`tag ${tag} points at ${current}, which If-None-Match excludes`, current);
  }
  if (link.ifMatch !== null) {
    const ok = current !== null && (link.ifMatch.includes("*") || link.ifMatch.includes(current));
    if (!ok) {
      const now = current === null ? "does not exist" : `points at ${current}`;
      throw preconditionFailed(`tag ${tag} ${now}, not at what If-Match names`, current);
    }
  }
}

function preconditionFailed(message: string, current: string | null): OciError {
  // The spec's error table has no code for a failed precondition; DENIED ("the requested access to the
  // resource is denied") is the closest, with the status saying exactly what happened.
  return new OciError("DENIED", `precondition failed: ${message}`, {
    status: 412,
    headers: current === null ? {} : { ETag: `"${current}"` },
  });
}

function immutableTag(message: string): OciError {
  return new OciError("DENIED", `${message} (BERTH_IMMUTABLE_TAGS)`);
}

function manifestUnknown(ref: string): OciError {
  return new OciError("MANIFEST_UNKNOWN", "manifest unknown to registry", { detail: { reference: ref.slice(0, 256) } });
}
