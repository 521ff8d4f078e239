// The logic of one upload session, apart from the Durable Object that hosts it (session.ts): the session's
// state (repository, offset, spool), its requests one at a time, hashing as bytes arrive (the hash lives in
// memory between requests), the commit only after the digest is verified, and expiry. Everything it touches
// comes in through SessionDeps, so unit tests run it over memory; when the session was opened with a hint of
// its digest, the bytes are also written to that blob's key while they arrive (direct-write.ts).

import { parseDigest, type DigestAlgorithm } from "../oci/digest";
import { OciError } from "../oci/errors";
import { chunkOutOfOrder, chunkRangeInvalid, formatUploadRange } from "../oci/range";
import { Serial } from "../oci/rpc";
import type { BlobStore, BlobWriteHandle } from "../storage/blobs";
import { discardBody } from "../streams/body";
import { finishUpload, type SessionState } from "./commit";
import { DirectWrite } from "./direct-write";
import type { Hashing, RunningHash } from "./hasher";
import type { CommittedBlob, RpcResult, UploadChunk, UploadSessionRpc, UploadStatus } from "./protocol";
import { Spool, type SliceStore } from "./spool";

/** The session's own durable storage (the Durable Object's, or memory in tests). */
export interface SessionStorage {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<unknown>;
  setAlarm(at: number): Promise<void>;
  /** Drops every key, the slices and the alarm. */
  deleteAll(): Promise<void>;
}

export interface SessionDeps {
  storage: SessionStorage;
  slices: SliceStore;
  blobs: BlobStore;
  hashing: Hashing;
  /** Part size of blob writes (REGISTRY_STORAGE_S3_CHUNKSIZE). */
  partSize: number;
  /** An idle session expires after this long, ms. */
  expiryMs: number;
  /** A refused chunk's body is drained up to this many bytes before the answer. */
  drainLimit: number;
  now?: () => number;
  /** Told when a session starts, commits or expires (the metrics; nothing in tests that do not ask). */
  count?: (event: SessionEvent) => void;
}

export type SessionEvent = "started" | "committed" | "expired";

export class UploadSessionCore implements UploadSessionRpc {
  /** The session's hash of the spooled bytes; lost when the object is evicted, then commit re-hashes the spool. */
  private hash: RunningHash | null = null;
  /** The speculative write to the hinted blob's key; it lives and dies with `hash`, which covers the same bytes. */
  private direct: DirectWrite | null = null;
  private readonly serial = new Serial("upload session", "internal error while storing the upload");
  private readonly spool: Spool;
  private readonly now: () => number;

  constructor(private readonly deps: SessionDeps) {
    this.spool = new Spool(deps.slices);
    this.now = deps.now ?? Date.now;
  }

  async begin(repo: string, uuid: string, hint: string | null, algorithm: DigestAlgorithm = "sha256"): Promise<RpcResult<UploadStatus>> {
    return this.serial.run(async () => {
      const now = this.now();
      const st: SessionState = { repo, uuid, startedAt: now, touchedAt: now, offset: 0, slices: 0, pending: null, hint, algorithm };
      await this.save(st);
      await this.deps.storage.setAlarm(now + this.deps.expiryMs);
      this.hash = this.deps.hashing.running(algorithm);
      this.deps.count?.("started");
      return status(st);
    });
  }

  async status(repo: string, uuid: string): Promise<RpcResult<UploadStatus>> {
    return this.serial.run(async () => status(await this.load(repo, uuid)));
  }

  async append(repo: string, uuid: string, chunk: UploadChunk): Promise<RpcResult<UploadStatus>> {
    return this.serial.run(async () => {
      const st = await this.admit(repo, uuid, chunk);
      // A body that breaks off keeps what arrived: the client resumes from the Range it is told.
      await this.write(st, chunk);
      return status(st);
    });
  }

  async commit(repo: string, uuid: string, digest: string, chunk: UploadChunk): Promise<RpcResult<CommittedBlob>> {
    return this.serial.run(async () => {
      const st = await this.admit(repo, uuid, chunk);
      try {
        const committed = await finishUpload(st, digest, chunk, {
          blobs: this.deps.blobs,
          hashing: this.deps.hashing,
          partSize: this.deps.partSize,
          spool: this.spool,
          hash: () => this.hash,
          direct: () => this.direct,
          dropDirect: () => this.dropDirect(),
          write: (c) => this.write(st, c),
          save: () => this.save(st),
        });
        this.deps.count?.("committed");
        return committed;
      } finally {
        // Committed or refused, the session is over (as in Distribution, a failed commit cancels the upload).
        await this.dropDirect();
        this.hash = null;
        await this.retire();
      }
    });
  }

  async cancel(repo: string, uuid: string): Promise<RpcResult<null>> {
    return this.serial.run(async () => {
      await this.load(repo, uuid);
      await this.dropDirect();
      this.hash = null;
      await this.retire();
      return null;
    });
  }

  /** The alarm: expires an idle session, or drops the spool of one that ended. */
  async alarm(): Promise<void> {
    const st = await this.deps.storage.get<SessionState>("state");
    if (st) {
      const due = st.touchedAt + this.deps.expiryMs;
      if (this.now() < due) {
        await this.deps.storage.setAlarm(due);
        return;
      }
      // A commit that died mid-way may have left a multipart upload open at the blob's key.
      if (st.pending) await this.deps.blobs.abandonWrite(st.pending);
    }
    await this.dropDirect();
    this.hash = null;
    await this.destroy();
    // Counted once it is gone: a retried alarm finds no state and counts nothing.
    if (st) this.deps.count?.("expired");
  }

  // ---- internals ----

  /** Spools a chunk and advances the offset by what was stored. */
  private async write(st: SessionState, chunk: UploadChunk): Promise<void> {
    if (!chunk.body) return;
    if (this.hash && this.hash.offset !== st.offset) await this.loseHash();
    if (!this.hash && st.offset === 0) this.hash = this.deps.hashing.running(st.algorithm ?? "sha256");
    if (st.offset === 0 && st.hint && !this.direct) this.direct = this.startDirect(st.hint);
    const hash = this.hash;
    const direct = this.direct;
    try {
      const res = await this.spool.append(chunk.body, st.slices, st.offset, async (slice) => {
        await Promise.all([hash?.update(slice), direct?.feed(slice)]);
      });
      st.offset += res.bytes;
      st.slices = res.slices;
    } catch (e) {
      await this.loseHash(); // it may have seen bytes that were not stored
      throw e;
    } finally {
      st.touchedAt = this.now();
      await this.save(st);
    }
  }

  private startDirect(hint: string): DirectWrite | null {
    let digest;
    try {
      digest = parseDigest(hint);
    } catch {
      return null;
    }
    // Recorded apart from the session state (which each request loads afresh), so the alarm or a later
    // commit can abort the multipart upload if this object forgets it.
    return new DirectWrite(this.deps.blobs, digest, this.deps.partSize, (handle) => this.deps.storage.put("direct", handle));
  }

  /** The running hash no longer covers the session's bytes, so neither can the direct write. */
  private async loseHash(): Promise<void> {
    this.hash = null;
    await this.dropDirect();
  }

  /** Aborts the direct write, also one that an earlier life of this object started and forgot. */
  private async dropDirect(): Promise<void> {
    const direct = this.direct;
    this.direct = null;
    if (direct) await direct.abandon();
    const orphan = await this.deps.storage.get<BlobWriteHandle>("direct");
    if (orphan) {
      if (!direct) await this.deps.blobs.abandonWrite(orphan).catch(() => {});
      await this.deps.storage.delete("direct");
    }
  }

  /**
   * Ends the session now (it is unknown from here on) and leaves dropping its spool to the alarm, right after:
   * freeing a GiB of spooled rows takes SQLite ~0.3 s, which the client's answer need not wait for.
   */
  private async retire(): Promise<void> {
    await this.deps.storage.delete("state");
    await this.deps.storage.setAlarm(this.now());
  }

  private async destroy(): Promise<void> {
    await this.deps.storage.deleteAll();
    this.spool.forget();
  }

  /** The session's state if this chunk may be appended; if not, its body is dropped before the refusal. */
  private async admit(repo: string, uuid: string, chunk: UploadChunk): Promise<SessionState> {
    try {
      const st = await this.load(repo, uuid);
      checkRange(st, chunk);
      return st;
    } catch (e) {
      await discardBody(chunk.body, this.deps.drainLimit);
      throw e;
    }
  }

  private async load(repo: string, uuid: string): Promise<SessionState> {
    const st = await this.deps.storage.get<SessionState>("state");
    if (!st || st.repo !== repo || st.uuid !== uuid) {
      throw new OciError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
    }
    return st;
  }

  private async save(st: SessionState): Promise<void> {
    await this.deps.storage.put("state", st);
  }
}

function status(st: SessionState): UploadStatus {
  return { uuid: st.uuid, repo: st.repo, offset: st.offset };
}

/** A chunk with Content-Range must start exactly at the session's offset (spec: 416 otherwise). */
function checkRange(st: SessionState, chunk: UploadChunk): void {
  if (!chunk.range) return;
  if (chunk.range.start !== st.offset) throw chunkOutOfOrder(st.offset, chunk.range.start);
  if (chunk.length !== null && chunk.range.end - chunk.range.start + 1 !== chunk.length) {
    throw chunkRangeInvalid("Content-Range does not match Content-Length", { Range: formatUploadRange(st.offset) });
  }
}
