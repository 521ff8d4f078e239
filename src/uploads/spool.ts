// The upload session's spool: the bytes of an upload, kept in the session's own Durable Object storage until
// the client names the digest. Why not stream them to a temporary S3 object: the digest is only known at the
// end, and S3 cannot rename, so a temporary object costs a full server-side copy of the blob at commit (on
// some S3 servers as slow as the upload itself). Spooled bytes are verified before they ever reach the
// bucket and are uploaded once, straight to the blob's own key.
//
// Bytes are stored in slices of at most SLICE bytes (a row is capped at 2 MB on SQLite-backed objects), one
// row each in a table keyed by the slice's number. Memory stays at one slice whatever the upload's size. The
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

export class Spool {
  private ready = false;
  constructor(private readonly storage: DurableObjectStorage) {}

  /** The slices live in a plain rowid table: appending by integer key never reads existing rows back. */
  private get sql(): SqlStorage {
    const sql = this.storage.sql;
    if (!this.ready) {
      sql.exec("CREATE TABLE IF NOT EXISTS spool (n INTEGER PRIMARY KEY, data BLOB NOT NULL)");
      this.ready = true;
    }
    return sql;
  }

  /** deleteAll() drops the table with everything else. */
  forget(): void {
    this.ready = false;
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
      this.sql.exec("INSERT OR REPLACE INTO spool (n, data) VALUES (?, ?)", n, slice);
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
        const rows = this.sql.exec<{ n: number; data: ArrayBuffer }>("SELECT n, data FROM spool WHERE n >= ? AND n < ? ORDER BY n", next, end).toArray();
        if (rows.length !== end - next) {
          controller.error(new Error("upload spool is incomplete"));
          return;
        }
        for (const r of rows) controller.enqueue(new Uint8Array(r.data));
        next = end;
      },
    });
  }

  /** All spooled bytes in one buffer (small blobs only: at most one part). */
  async readAll(slices: number, size: number): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    let off = 0;
    const reader = this.stream(slices).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out.set(value, off);
      off += value.byteLength;
    }
    if (off !== size) throw new Error("upload spool size mismatch");
    return out;
  }
}
