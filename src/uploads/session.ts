// The upload-session Durable Object: one object per blob upload. It owns the session's state (repository,
// offset, spool) and its bytes until commit, runs the session's requests one at a time, hashes bytes as they
// arrive (the hash lives in memory between requests), commits the blob only after verifying its digest, and
// expires an abandoned session by alarm. When the session was opened with a hint of its digest, the bytes
// are also written to that blob's key while they arrive (direct-write.ts), in step with the hash.

import { DurableObject } from "cloudflare:workers";
import { parseConfig, type Config } from "../config";
import { parseDigest } from "../oci/digest";
import { OciError } from "../oci/errors";
import { chunkOutOfOrder, formatUploadRange } from "../oci/range";
import { createStorage, type Storage } from "../storage";
import { finishUpload, type SessionState } from "./commit";
import { discardBody } from "../streams/body";
import { DirectWrite } from "./direct-write";
import { newRunningHash, type RunningHash } from "./hasher";
import type { CommittedBlob, RpcResult, UploadChunk, UploadSessionRpc, UploadStatus } from "./protocol";
import { Spool } from "./spool";

export class UploadSession extends DurableObject implements UploadSessionRpc {
  private cfg: Config | null = null;
  private store: Storage | null = null;
  /** SHA-256 of the spooled bytes; lost when the object is evicted, then commit re-hashes the spool. */
  private hash: RunningHash | null = null;
  /** The speculative write to the hinted blob's key; it lives and dies with `hash`, which covers the same bytes. */
  private direct: DirectWrite | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly spool = new Spool(this.ctx.storage);

  async begin(repo: string, uuid: string, hint: string | null): Promise<RpcResult<UploadStatus>> {
    return this.run(async () => {
      const now = Date.now();
      const st: SessionState = { repo, uuid, startedAt: now, touchedAt: now, offset: 0, slices: 0, pending: null, hint };
      await this.save(st);
      await this.ctx.storage.setAlarm(now + this.config().uploadExpiryMs);
      this.hash = newRunningHash();
      return status(st);
    });
  }

  async status(repo: string, uuid: string): Promise<RpcResult<UploadStatus>> {
    return this.run(async () => status(await this.load(repo, uuid)));
  }

  async append(repo: string, uuid: string, chunk: UploadChunk): Promise<RpcResult<UploadStatus>> {
    return this.run(async () => {
      const st = await this.admit(repo, uuid, chunk);
      // A body that breaks off keeps what arrived: the client resumes from the Range it is told.
      await this.write(st, chunk);
      return status(st);
    });
  }

  async commit(repo: string, uuid: string, digest: string, chunk: UploadChunk): Promise<RpcResult<CommittedBlob>> {
    return this.run(async () => {
      const st = await this.admit(repo, uuid, chunk);
      try {
        return await finishUpload(st, digest, chunk, {
          store: this.storage(),
          partSize: this.config().s3.chunkSize,
          spool: this.spool,
          hash: () => this.hash,
          direct: () => this.direct,
          dropDirect: () => this.dropDirect(),
          write: (c) => this.write(st, c),
          save: () => this.save(st),
        });
      } finally {
        // Committed or refused, the session is over (as in Distribution, a failed commit cancels the upload).
        await this.dropDirect();
        this.hash = null;
        await this.retire();
      }
    });
  }

  async cancel(repo: string, uuid: string): Promise<RpcResult<null>> {
    return this.run(async () => {
      await this.load(repo, uuid);
      await this.dropDirect();
      this.hash = null;
      await this.retire();
      return null;
    });
  }

  override async alarm(): Promise<void> {
    const st = await this.ctx.storage.get<SessionState>("state");
    if (st) {
      const due = st.touchedAt + this.config().uploadExpiryMs;
      if (Date.now() < due) {
        await this.ctx.storage.setAlarm(due);
        return;
      }
      // A commit that died mid-way may have left a multipart upload open at the blob's key.
      if (st.pending) await this.storage().s3.abortMultipart(st.pending.key, st.pending.uploadId);
    }
    await this.dropDirect();
    this.hash = null;
    await this.destroy();
  }

  // ---- internals ----

  /** Spools a chunk and advances the offset by what was stored. */
  private async write(st: SessionState, chunk: UploadChunk): Promise<void> {
    if (!chunk.body) return;
    if (this.hash && this.hash.offset !== st.offset) await this.loseHash();
    if (!this.hash && st.offset === 0) this.hash = newRunningHash();
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
      st.touchedAt = Date.now();
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
    const key = this.storage().layout.blobData(digest);
    // Recorded apart from the session state (which each request loads afresh), so the alarm or a later
    // commit can abort the multipart upload if this object forgets it.
    return new DirectWrite(this.storage().s3, key, this.config().s3.chunkSize, (uploadId) =>
      this.ctx.storage.put("direct", { key, uploadId }),
    );
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
    const orphan = await this.ctx.storage.get<{ key: string; uploadId: string }>("direct");
    if (orphan) {
      if (!direct) await this.storage().s3.abortMultipart(orphan.key, orphan.uploadId).catch(() => {});
      await this.ctx.storage.delete("direct");
    }
  }

  /**
   * Ends the session now (it is unknown from here on) and leaves dropping its spool to the alarm, right after:
   * freeing a GiB of spooled rows takes SQLite ~0.3 s, which the client's answer need not wait for.
   */
  private async retire(): Promise<void> {
    await this.ctx.storage.delete("state");
    await this.ctx.storage.setAlarm(Date.now());
  }

  private async destroy(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.spool.forget();
  }

  /** The session's state if this chunk may be appended; if not, its body is dropped before the refusal. */
  private async admit(repo: string, uuid: string, chunk: UploadChunk): Promise<SessionState> {
    try {
      const st = await this.load(repo, uuid);
      checkRange(st, chunk);
      return st;
    } catch (e) {
      await discardBody(chunk.body, this.config().chunkMaxLength);
      throw e;
    }
  }

  private async load(repo: string, uuid: string): Promise<SessionState> {
    const st = await this.ctx.storage.get<SessionState>("state");
    if (!st || st.repo !== repo || st.uuid !== uuid) {
      throw new OciError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
    }
    return st;
  }

  private async save(st: SessionState): Promise<void> {
    await this.ctx.storage.put("state", st);
  }

  private config(): Config {
    this.cfg ??= parseConfig(this.env as Record<string, unknown>);
    return this.cfg;
  }

  private storage(): Storage {
    this.store ??= createStorage(this.config());
    return this.store;
  }

  /** One request at a time per session; errors come back as data because class identity does not cross RPC. */
  private run<T>(fn: () => Promise<T>): Promise<RpcResult<T>> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next.then(
      (value): RpcResult<T> => ({ ok: true, value }),
      (e: unknown): RpcResult<T> => {
        if (e instanceof OciError) return { ok: false, error: e.toJSON() };
        console.error("upload session error:", e instanceof Error ? `${e.name}: ${e.message}` : "unknown");
        return { ok: false, error: new OciError("UNKNOWN", "internal error while storing the upload").toJSON() };
      },
    );
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
    throw new OciError("RANGE_INVALID", "Content-Range does not match Content-Length", {
      headers: { Range: formatUploadRange(st.offset) },
    });
  }
}
