// Which blob a new upload session is probably for. Clients that know a blob's digest before they send it
// (skopeo, podman and buildah copying an existing image, crane, containerd) first ask whether the repository
// has it (HEAD → 404), then open a session and stream the bytes, naming the digest only in the closing PUT.
// Remembering those 404s lets the session write the bytes to that digest's key while they arrive, instead
// of after the last one. It is only a hint: the session completes that write only if the bytes hash to the
// hinted digest, and otherwise falls back to its spool (uploads/direct-write.ts), so a wrong guess costs
// bandwidth, never correctness.
//
// Kept in the isolate's memory (a client's HEAD and POST usually reach the same isolate; when they do not,
// the session simply gets no hint). Sessions take the oldest unclaimed 404 of their repository and of the
// algorithm they hash (a sha512 session is for a sha512 blob): clients that push layers in parallel HEAD and
// POST in roughly the same order.

import { formatDigest, type Digest, type DigestAlgorithm } from "../oci/digest";

/** A hint older than this is stale: clients POST right after the HEAD. */
const TTL_MS = 30_000;
const PER_REPOSITORY = 32;
const REPOSITORIES = 256;

interface Miss {
  digest: string;
  at: number;
}

export class UploadHints {
  private readonly misses = new Map<string, Miss[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A HEAD found no such blob in the repository: an upload of it may follow. */
  noteMissing(repo: string, digest: Digest): void {
    const d = formatDigest(digest);
    const list = this.fresh(repo).filter((m) => m.digest !== d);
    list.push({ digest: d, at: this.now() });
    if (list.length > PER_REPOSITORY) list.shift();
    this.misses.delete(repo); // re-insert: the map's order is least recently used first
    this.misses.set(repo, list);
    if (this.misses.size > REPOSITORIES) this.misses.delete(this.misses.keys().next().value!);
  }

  /** The blob is in the repository now (uploaded or mounted): no session is for it any more. */
  forget(repo: string, digest: Digest): void {
    const d = formatDigest(digest);
    const list = this.misses.get(repo);
    if (list) this.store(repo, list.filter((m) => m.digest !== d));
  }

  /** The digest a new session of the repository, hashing `algorithm`, is most likely for, taken off the board; null if none. */
  claim(repo: string, algorithm: DigestAlgorithm): string | null {
    const list = this.fresh(repo);
    const at = list.findIndex((m) => m.digest.startsWith(`${algorithm}:`));
    const first = at < 0 ? undefined : list.splice(at, 1)[0];
    this.store(repo, list);
    return first?.digest ?? null;
  }

  private fresh(repo: string): Miss[] {
    const cutoff = this.now() - TTL_MS;
    return (this.misses.get(repo) ?? []).filter((m) => m.at >= cutoff);
  }

  private store(repo: string, list: Miss[]): void {
    if (list.length === 0) this.misses.delete(repo);
    else this.misses.set(repo, list);
  }
}
