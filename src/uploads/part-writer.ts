// Cuts a stream of any length (with or without a known length) into S3 parts of exactly `partSize` bytes,
// handing each to `uploadPart` as it fills while the next one is read, and returns the bytes that did not
// fill a part (the last, short part). Equal part sizes keep R2 happy; memory stays bounded by
// (maxInFlight + 1) parts whatever the stream's size. Pure logic over an injected upload function, so it is
// unit-tested without S3.

export interface PartWriterResult {
  /** Bytes read from the stream. */
  bytesRead: number;
  /** Bytes after the last complete part (shorter than partSize; may be empty). */
  tail: Uint8Array;
  /** Complete parts handed to uploadPart. */
  parts: number;
  /** The stream broke off (a client went away) after `bytesRead` bytes. */
  bodyError?: unknown;
}

/**
 * `uploadPart` is called in stream order, with at most `maxInFlight` calls unfinished at once. If one fails,
 * reading stops, the other calls are awaited, and the first error is thrown.
 */
export async function writeParts(
  body: ReadableStream<Uint8Array>,
  partSize: number,
  uploadPart: (bytes: Uint8Array) => Promise<void>,
  opts: { maxInFlight?: number } = {},
): Promise<PartWriterResult> {
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
  let buf = new Uint8Array(partSize);
  let fill = 0;
  let bytesRead = 0;
  let parts = 0;
  const inFlight: Promise<void>[] = [];
  let failed: { error: unknown } | null = null;

  const flush = async (): Promise<void> => {
    const part = buf;
    buf = new Uint8Array(partSize);
    fill = 0;
    parts++;
    inFlight.push(
      uploadPart(part).catch((error: unknown) => {
        failed ??= { error };
      }),
    );
    // Bound memory: wait for the oldest upload once the window is full.
    if (inFlight.length >= maxInFlight) await inFlight.shift();
  };

  const reader = body.getReader();
  let bodyError: unknown;
  try {
    while (!failed) {
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
        const n = Math.min(partSize - fill, value.byteLength - off);
        buf.set(value.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === partSize) await flush();
      }
    }
  } finally {
    if (failed) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  await Promise.all(inFlight);
  if (failed) throw (failed as { error: unknown }).error;
  return { bytesRead, tail: buf.subarray(0, fill), parts, bodyError };
}
