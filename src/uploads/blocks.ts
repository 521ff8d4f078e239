// Re-blocks a byte stream: whatever sizes the chunks arrive in (4 KiB reads from a client, 1 MiB slices from
// the spool), hands them on in blocks of exactly `size` bytes, in order, one buffer at a time. Shared by the
// spool (slices of its storage) and the part writer (S3 parts).

export interface BlockReadResult {
  /** Bytes read from the stream. */
  bytesRead: number;
  /** Bytes after the last full block (shorter than `size`; may be empty). */
  tail: Uint8Array;
  /** The stream broke off (a client went away); everything read before it is in the blocks and the tail. */
  bodyError?: unknown;
}

/**
 * Calls `onBlock` with each full block, awaiting it before reading on (backpressure). `onBlock` may hand back
 * a block it is done with (of the same size) to be filled next: recycling keeps a multi-GiB upload from
 * leaving GiBs of garbage behind. If `onBlock` throws, reading stops, the stream is cancelled and the error
 * is thrown.
 */
export async function forEachBlock(
  body: ReadableStream<Uint8Array>,
  size: number,
  onBlock: (block: Uint8Array) => Promise<Uint8Array | void>,
): Promise<BlockReadResult> {
  let buf: Uint8Array = new Uint8Array(size);
  let fill = 0;
  let bytesRead = 0;
  let bodyError: unknown;
  const reader = body.getReader();
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        bodyError = e;
        break;
      }
      if (chunk.done) break;
      const value = chunk.value;
      bytesRead += value.byteLength;
      let off = 0;
      while (off < value.byteLength) {
        const n = Math.min(size - fill, value.byteLength - off);
        buf.set(value.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === size) {
          const spare = await onBlock(buf);
          buf = spare && spare.byteLength === size ? spare : new Uint8Array(size);
          fill = 0;
        }
      }
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
  return { bytesRead, tail: buf.subarray(0, fill), bodyError };
}
