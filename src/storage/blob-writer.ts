// Writes a stream to one key of the object store: a single put when it fits in one part, else a multipart
// upload with parts of the configured chunk size, a few in flight. `beforeComplete` runs after the last byte
// and before the object becomes visible (digest verification); any failure aborts the multipart upload, so a
// key is either absent or holds the complete, verified bytes. Used only by BlobStore (blobs.ts).

import type { StorageDriver } from "./driver";
import { writeParts } from "./part-writer";

const PARTS_IN_FLIGHT = 3;

export interface BlobWriterHooks {
  /** Sees every byte, in order, part by part (hashing). */
  onPart?(bytes: Uint8Array): Promise<void>;
  /** Last chance to refuse the bytes: throwing leaves nothing at the key. */
  beforeComplete?(size: number): Promise<void>;
  /** Called once a multipart upload exists, so its owner can record it for cleanup. */
  onStarted?(uploadId: string): Promise<void>;
}

export async function writeObject(
  store: StorageDriver,
  key: string,
  body: ReadableStream<Uint8Array>,
  partSize: number,
  hooks: BlobWriterHooks = {},
): Promise<number> {
  let upload: Promise<string> | null = null;
  let uploadId: string | null = null;
  const start = (): Promise<string> =>
    (upload ??= store.createMultipart(key).then(async (id) => {
      uploadId = id;
      await hooks.onStarted?.(id);
      return id;
    }));
  const parts: { partNumber: number; etag: string }[] = [];
  let next = 1;
  try {
    const res = await writeParts(
      body,
      partSize,
      async (bytes) => {
        const partNumber = next++;
        const hashed = hooks.onPart?.(bytes); // called in stream order, before any await
        const id = await start();
        const etag = await store.uploadPart(key, id, partNumber, bytes);
        await hashed;
        parts.push({ partNumber, etag });
      },
      { maxInFlight: PARTS_IN_FLIGHT },
    );
    if (res.bodyError) throw new BodyCutError(res.bytesRead);
    await hooks.onPart?.(res.tail);
    const size = res.bytesRead;
    if (!upload) {
      await hooks.beforeComplete?.(size);
      await store.put(key, res.tail, { length: res.tail.byteLength });
      return size;
    }
    const id = await upload;
    if (res.tail.byteLength > 0) {
      const partNumber = next++;
      parts.push({ partNumber, etag: await store.uploadPart(key, id, partNumber, res.tail) });
    }
    await hooks.beforeComplete?.(size);
    await store.completeMultipart(key, id, parts.sort((a, b) => a.partNumber - b.partNumber));
    uploadId = null;
    return size;
  } catch (e) {
    if (uploadId) await store.abortMultipart(key, uploadId).catch(() => {});
    throw e;
  }
}

export class BodyCutError extends Error {
  constructor(readonly bytesRead: number) {
    super(`request body ended early after ${bytesRead} bytes`);
    this.name = "BodyCutError";
  }
}
