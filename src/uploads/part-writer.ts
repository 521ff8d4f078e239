// Cuts a request body of any length (with or without Content-Length) into S3 parts of exactly `partSize`
// bytes, uploading each as it fills while the next one is read, and hands back the bytes that did not fill a
// part (the tail) so that the next request of the upload session can continue it. Equal part sizes keep R2
// happy; memory stays bounded by (maxInFlight + 1) parts whatever the body's size. Pure logic over injected
// functions, so it is unit-tested without S3.

export interface PartWriterIO {
  /** Uploads one complete part; called in order, at most `maxInFlight` at once. */
  uploadPart(bytes: Uint8Array): Promise<void>;
  /** Sees every byte read, in order (hashing); awaited, so a slow consumer applies backpressure. */
  onBytes(chunk: Uint8Array): void | Promise<void>;
}

export interface PartWriterResult {
  /** Bytes read from the body (they are all in uploaded parts or in `tail`, unless `error` is set). */
  bytesRead: number;
  /** Bytes after the last complete part: the old tail plus what was read, less the parts uploaded. */
  tail: Uint8Array;
  /** Parts uploaded by this call, all of `partSize` bytes. */
  partsUploaded: number;
  /** The body failed (client went away) — everything read is still accounted for in parts and tail. */
  bodyError?: unknown;
}

/**
 * Reads `body` into parts. `tail` holds earlier bytes (< partSize) that start the first part.
 * If a part upload fails the error is thrown: the caller must then treat only parts already uploaded
 * (and not this call's tail) as stored.
 */
export async function writeParts(
  body: ReadableStream<Uint8Array> | null,
  tail: Uint8Array,
  partSize: number,
  io: PartWriterIO,
  opts: { maxInFlight?: number; maxBytes?: number } = {},
): Promise<PartWriterResult> {
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
  const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  if (tail.byteLength >= partSize) throw new Error("part-writer: tail must be shorter than a part");

  let buf = new Uint8Array(partSize);
  buf.set(tail, 0);
  let fill = tail.byteLength;
  let bytesRead = 0;
  let partsUploaded = 0;
  const inFlight: Promise<void>[] = [];
  let uploadError: unknown = null;

  const flush = async (): Promise<void> => {
    const part = buf;
    buf = new Uint8Array(partSize);
    fill = 0;
    const p = io.uploadPart(part).then(
      () => {
        partsUploaded++;
      },
      (e: unknown) => {
        uploadError ??= e;
      },
    );
    inFlight.push(p);
    // Keep part order and bound memory: wait for the oldest once the window is full.
    if (inFlight.length >= maxInFlight) await inFlight.shift();
    if (uploadError) throw uploadError;
  };

  let bodyError: unknown;
  if (body) {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!value || value.byteLength === 0) continue;
        if (bytesRead + value.byteLength > maxBytes) {
          throw new BodyTooLongError(maxBytes);
        }
        await io.onBytes(value);
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
    } catch (e) {
      if (e instanceof BodyTooLongError || uploadError) {
        await Promise.allSettled(inFlight);
        reader.cancel().catch(() => {});
        throw uploadError ?? e;
      }
      // The client's body broke off: what was read so far is still good and is kept.
      bodyError = e;
    } finally {
      reader.releaseLock();
    }
  }
  await Promise.all(inFlight);
  if (uploadError) throw uploadError;
  return { bytesRead, tail: buf.subarray(0, fill), partsUploaded, bodyError };
}

export class BodyTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`body longer than ${limit} bytes`);
    this.name = "BodyTooLongError";
  }
}
