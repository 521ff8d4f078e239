// The upload-session Durable Object: one object per blob upload. It owns the session's state (repository,
// offset, the S3 multipart upload and its parts, the bytes after the last full part), serializes the
// session's requests, hashes bytes as they pass, commits the blob only after verifying its digest over
// what was stored, and expires an abandoned session by alarm (aborting its multipart upload).
//
// Why bytes pass through here: the running SHA-256 lives in this object's memory, so a chunked upload is
// hashed once as it streams instead of being read back at commit; bytes that do not fill a part wait in
// this object's storage instead of costing extra S3 objects.

import { DurableObject } from "cloudflare:workers";
import { parseConfig, type Config } from "../config";
import { OciError } from "../oci/errors";
import { formatUploadRange } from "../oci/range";
import { createStorage, type Storage } from "../storage/index";
import { finishUpload, type SessionState } from "./commit";
import { newRunningHash, type RunningHash } from "./hasher";
import { writeParts } from "./part-writer";
import type { CommittedBlob, RpcResult, UploadChunk, UploadSessionRpc, UploadStatus } from "./protocol";
import { TailStore } from "./tail-store";

const PARTS_IN_FLIGHT = 2;

export class UploadSession extends DurableObject implements UploadSessionRpc {
  private cfg: Config | null = null;
  private store: Storage | null = null;
  private hash: RunningHash | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tails = new TailStore(this.ctx.storage);

  async begin(repo: string, uuid: string): Promise<RpcResult<UploadStatus>> {
    return this.run(async () => {
      const now = Date.now();
      const st: SessionState = { repo, uuid, startedAt: now, touchedAt: now, offset: 0, mpuKey: null, uploadId: null, parts: [] };
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
      const st = await this.load(repo, uuid);
      checkRange(st, chunk);
      // A body that ends early (client cut off) still keeps what arrived: the client resumes from Range.
      await this.write(st, chunk);
      return status(st);
    });
  }

  async commit(repo: string, uuid: string, digest: string, chunk: UploadChunk): Promise<RpcResult<CommittedBlob>> {
    return this.run(async () => {
      const st = await this.load(repo, uuid);
      checkRange(st, chunk);
      try {
        return await finishUpload(st, digest, chunk, {
          store: this.storage(),
          tails: this.tails,
          hash: () => this.hash,
          write: (c) => this.write(st, c),
        });
      } finally {
        // Committed or failed, the session is over: finishUpload removed whatever it had stored.
        this.hash = null;
        await this.destroy();
      }
    });
  }

  async cancel(repo: string, uuid: string): Promise<RpcResult<null>> {
    return this.run(async () => {
      const st = await this.load(repo, uuid);
      await this.cleanup(st);
      return null;
    });
  }

  override async alarm(): Promise<void> {
    const st = await this.ctx.storage.get<SessionState>("state");
    if (!st) {
      await this.ctx.storage.deleteAll();
      return;
    }
    const due = st.touchedAt + this.config().uploadExpiryMs;
    if (Date.now() < due) {
      await this.ctx.storage.setAlarm(due);
      return;
    }
    await this.cleanup(st);
  }

  // ---- internals ----

  /** Streams a chunk into parts, keeps the remainder as the tail, and advances the offset by what is stored. */
  private async write(st: SessionState, chunk: UploadChunk): Promise<void> {
    if (!chunk.body) return;
    const store = this.storage();
    const partSize = this.config().s3.chunkSize;
    if (this.hash && this.hash.offset !== st.offset) this.hash = null;
    if (!this.hash && st.offset === 0) this.hash = newRunningHash();
    const hash = this.hash;
    const tail = await this.tails.load();
    const partBytes = st.parts.length * partSize;
    let mpu: Promise<{ key: string; uploadId: string }> | null = null;
    const ensureMpu = () =>
      (mpu ??= (async () => {
        if (!st.uploadId || !st.mpuKey) {
          st.mpuKey ??= store.layout.uploadData(st.repo, st.uuid);
          st.uploadId = await store.s3.createMultipart(st.mpuKey);
          await this.save(st); // saved at once so the alarm can abort it whatever happens next
        }
        return { key: st.mpuKey, uploadId: st.uploadId };
      })());
    let nextPart = st.parts.length + 1;
    const uploaded: { partNumber: number; etag: string; size: number }[] = [];
    try {
      const res = await writeParts(
        chunk.body,
        tail,
        partSize,
        {
          uploadPart: async (bytes) => {
            const partNumber = nextPart++;
            const { key, uploadId } = await ensureMpu();
            const etag = await store.s3.uploadPart(key, uploadId, partNumber, bytes, bytes.byteLength);
            uploaded.push({ partNumber, etag, size: bytes.byteLength });
          },
          onBytes: (c) => hash?.update(c),
        },
        { maxInFlight: PARTS_IN_FLIGHT },
      );
      st.parts.push(...uploaded.sort((a, b) => a.partNumber - b.partNumber));
      st.offset = partBytes + uploaded.length * partSize + res.tail.byteLength;
      await this.tails.replace(res.tail);
    } catch (e) {
      // A part failed: only the parts before the first gap are stored; later bytes are dropped and the
      // client resumes from the offset it is told. The running hash saw bytes that are gone: drop it.
      uploaded.sort((a, b) => a.partNumber - b.partNumber);
      let n = st.parts.length + 1;
      for (const p of uploaded) {
        if (p.partNumber !== n) break;
        st.parts.push(p);
        n++;
      }
      st.offset = st.parts.length * partSize;
      this.hash = null;
      await this.tails.replace(new Uint8Array(0));
      throw e;
    } finally {
      st.touchedAt = Date.now();
      await this.save(st);
    }
    if (this.hash && this.hash.offset !== st.offset) this.hash = null;
  }

  /** Aborts the multipart upload, removes the temporary object and forgets the session. */
  private async cleanup(st: SessionState): Promise<void> {
    const s3 = this.storage().s3;
    if (st.uploadId && st.mpuKey) await s3.abortMultipart(st.mpuKey, st.uploadId);
    if (st.mpuKey) await s3.delete(st.mpuKey);
    this.hash = null;
    await this.destroy();
  }

  private async destroy(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
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
  if (chunk.range.start !== st.offset) {
    throw new OciError("RANGE_INVALID", `chunk starts at ${chunk.range.start}, expected ${st.offset}`, {
      headers: { Range: formatUploadRange(st.offset) },
    });
  }
  if (chunk.length !== null && chunk.range.end - chunk.range.start + 1 !== chunk.length) {
    throw new OciError("RANGE_INVALID", "Content-Range does not match Content-Length", {
      headers: { Range: formatUploadRange(st.offset) },
    });
  }
}
