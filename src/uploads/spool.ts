// The upload session's spool: the bytes of an upload, kept in the session's own Durable Object storage until
// the client names the digest. Why not stream them to a temporary S3 object: the digest is only known at the
// end, and S3 cannot rename, so a temporary object costs a full server-side copy of the blob at commit (on
// some S3 servers as slow as the upload itself). Spooled bytes are verified before they ever reach the
// bucket and are uploaded once, straight to the blob's own key.
//
// Bytes are stored in slices of at most SLICE bytes (a row is capped at 2 MB on SQLite-backed objects), one
// row each in a table keyed by the slice's number (runtime.ts; the logic is unit-tested over memory). Memory stays at one slice whatever the upload's size. The
// spool is also the fallback of a hinted upload (direct-write.ts) whose guess turned out wrong.

import { OciError } from "../oci/errors";
import { forEachBlock } from "../streams/blocks";

const SLICE = 1 << 20;
/** Durable Object storage holds 10 GB per object; keep clear of it so the session's own state always fits. */
export const MAX_SPOOL_BYTES = 9 * 1024 ** 3;
export interface AppendResult {
  bytes: number;
  slices: number;
  /** The client's body broke off; everything read before it is kept. */
  bodyError?: unknown;
}

/** Where the slices are kept: the Durable Object's SQLite (runtime.ts), or memory in unit tests. */
export interface SliceStore {
  /** Stores slice `n` (a copy: the caller reuses the buffer). */
  put(n: number, bytes: Uint8Array): void;
  /** Slices from..to-1, in order (fewer when some are missing). */
  range(from: number, to: number): Uint8Array[];
  /** The store's data was dropped (deleteAll): set it up again on next use. */
  forget(): void;
}

export class Spool {
  constructor(private readonly slices: SliceStore) {}

  /** The session's storage was wiped. */
  forget(): void {
    this.slices.forget();
  }

  /**
   * Appends a body after `slices` existing slices holding `already` bytes. `onSlice` sees each stored slice in order (hashing).
   * Throws only when storage fails; a broken client body is reported in the result.
   */
  async append(
    body: ReadableStream<Uint8Array>,
    slices: number,
    already: number,
    onSlice: (bytes: Uint8Array) => Promise<void>,
  ): Promise<AppendResult> {
    let n = slices;
    let total = already;
    // Storage keeps its own copy, so each slice's buffer is handed back to be filled again.
    const store = async (slice: Uint8Array): Promise<Uint8Array> => {
      total += slice.byteLength;
      if (total > MAX_SPOOL_BYTES) {
        throw new OciError("SIZE_INVALID", `an upload session holds at most ${MAX_SPOOL_BYTES} bytes; push larger blobs in one request (PUT with the digest)`, { status: 413 });
      }
      this.slices.put(n, slice);
      n++;
      await onSlice(slice);
      return slice;
    };
    const res = await forEachBlock(body, SLICE, store);
    if (res.tail.byteLength > 0) await store(res.tail.slice());
    return { bytes: res.bytesRead, slices: n, bodyError: res.bodyError };
  }

  /** The spooled bytes in order, read a few slices at a time. */
  stream(slices: number): ReadableStream<Uint8Array> {
    let next = 0;
    const BATCH = 8;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (next >= slices) {
          controller.close();
          return;
        }
        const end = Math.min(next + BATCH, slices);
        const rows = this.slices.range(next, end);
        if (rows.length !== end - next) {
          controller.error(new Error("upload spool is incomplete"));
          return;
        }
        for (const r of rows) controller.enqueue(r);
        next = end;
      },
    });
  }
}
