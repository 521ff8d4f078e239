// Re-blocks a byte stream: whatever sizes the chunks arrive in (4 KiB reads from a client, 1 MiB slices from
// the spool), hands them on in blocks of exactly `size` bytes, in order, one buffer at a time. Shared by the
// upload spool (slices of its storage) and the blob writer (S3 parts).

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
  const reader = readerOf(body);
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

/** Bytes gathered per read of a byte stream, and the most asked for at once. */
const READ_MIN = 256 * 1024;
const READ_MAX = 1 << 20;

export interface ChunkReader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
  cancel(): Promise<void>;
  releaseLock(): void;
}

/**
 * A byte stream (a request body, here or across RPC) is read with a BYOB reader into one scratch buffer that
 * is used again and again, gathering at least READ_MIN bytes per read: no garbage per chunk (a GiB upload
 * would otherwise leave a GiB of chunks for the collector), and a few thousand reads per GiB instead of the
 * network's ~4 KiB pieces. The scratch buffer is never the caller's block, so a failing read (a client
 * breaking off) loses at most the bytes of that one read, which the session simply does not count: the
 * client resumes from the Range it is told. Other streams are read as they come.
 */
export function readerOf(body: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    const plain = body.getReader();
    return {
      read: async () => {
        const r = await plain.read();
        return r.done ? { done: true } : { done: false, value: r.value };
      },
      cancel: () => plain.cancel(),
      releaseLock: () => plain.releaseLock(),
    };
  }
  let scratch: ArrayBuffer | null = new ArrayBuffer(READ_MAX);
  type Got = { done: boolean; value?: Uint8Array };
  const gather = (byob as unknown as { readAtLeast?: (min: number, view: Uint8Array) => Promise<Got> }).readAtLeast;
  return {
    read: async () => {
      const view = new Uint8Array(scratch ?? new ArrayBuffer(READ_MAX));
      scratch = null;
      // workerd's readAtLeast fills the view with at least `min` bytes unless the stream ends first.
      const res: Got = gather ? await gather.call(byob, READ_MIN, view) : await byob.read(view);
      if (res.value) scratch = res.value.buffer as ArrayBuffer;
      if (res.done) return { done: true };
      return { done: false, value: res.value ?? new Uint8Array(0) };
    },
    cancel: () => byob.cancel(),
    releaseLock: () => byob.releaseLock(),
  };
}
