// The upload-session Durable Object: one object per blob upload, hosting UploadSessionCore (session-core.ts)
// with the object's own storage (state, the spool's SQLite table, the expiry alarm) and the blob store. It
// parses only the settings an upload needs (storage, expiry, chunk limit), never auth secrets or policies.

import { DurableObject } from "cloudflare:workers";
import { parseUploadConfig } from "../config";
import type { DigestAlgorithm } from "../oci/digest";
import { readLogLevel } from "../config/logging";
import { setLogLevel } from "../log";
import { isolateTally, reportFromObject } from "../metrics/flush";
import { createStorage } from "../storage";
import type { CommittedBlob, RpcResult, UploadChunk, UploadSessionRpc, UploadStatus } from "./protocol";
import { UploadSessionCore } from "./session-core";
import { sqlSlices, workerdHashing } from "./runtime";

export class UploadSession extends DurableObject implements UploadSessionRpc {
  private session: UploadSessionCore | null = null;

  private core(): UploadSessionCore {
    // What this call counts (S3 requests, the session started, committed or expired) reaches the metrics object.
    reportFromObject(this.env as Record<string, unknown>, this.ctx);
    if (!this.session) {
      setLogLevel(readLogLevel(this.env as Record<string, unknown>));
      const cfg = parseUploadConfig(this.env as Record<string, unknown>);
      const storage = this.ctx.storage;
      this.session = new UploadSessionCore({
        storage: {
          get: (key) => storage.get(key),
          put: (key, value) => storage.put(key, value),
          delete: (key) => storage.delete(key),
          setAlarm: (at) => storage.setAlarm(at),
          deleteAll: async () => {
            await storage.deleteAlarm();
            await storage.deleteAll();
          },
        },
        slices: sqlSlices(storage),
        blobs: createStorage(cfg.s3).blobs,
        hashing: workerdHashing,
        partSize: cfg.s3.chunkSize,
        expiryMs: cfg.uploadExpiryMs,
        drainLimit: cfg.chunkMaxLength,
        count: (event) => isolateTally.add(`berth_upload_sessions_${event}_total`, {}),
      });
    }
    return this.session;
  }

  begin(repo: string, uuid: string, hint: string | null, algorithm?: DigestAlgorithm): Promise<RpcResult<UploadStatus>> {
    return this.core().begin(repo, uuid, hint, algorithm);
  }

  status(repo: string, uuid: string): Promise<RpcResult<UploadStatus>> {
    return this.core().status(repo, uuid);
  }

  append(repo: string, uuid: string, chunk: UploadChunk): Promise<RpcResult<UploadStatus>> {
    return this.core().append(repo, uuid, chunk);
  }

  commit(repo: string, uuid: string, digest: string, chunk: UploadChunk): Promise<RpcResult<CommittedBlob>> {
    return this.core().commit(repo, uuid, digest, chunk);
  }

  cancel(repo: string, uuid: string): Promise<RpcResult<null>> {
    return this.core().cancel(repo, uuid);
  }

  override alarm(): Promise<void> {
    return this.core().alarm();
  }
}
