// Cuts a stream of any length (with or without a known length) into S3 parts of exactly `partSize` bytes,
// handing each to `uploadPart` as it fills while the next one is read, and returns the bytes that did not
// fill a part (the last, short part). Equal part sizes keep R2 happy; memory stays bounded by
// (maxInFlight + 1) parts whatever the stream's size. Pure logic over an injected upload function, so it is
// unit-tested without S3.

import { forEachBlock, type BlockReadResult } from "../streams/blocks";

export interface PartWriterResult extends BlockReadResult {
  /** Complete parts handed to uploadPart. */
  parts: number;
}

/**
 * `uploadPart` is called in stream order, with at most `maxInFlight` calls unfinished at once; a part's buffer
 * is reused once its upload has finished, so `uploadPart` must not keep it. If one fails,
 * reading stops at the next part, the other calls are awaited, and the first error is thrown.
 */
export async function writeParts(
  body: ReadableStream<Uint8Array>,
  partSize: number,
  uploadPart: (bytes: Uint8Array) => Promise<void>,
  opts: { maxInFlight?: number } = {},
): Promise<PartWriterResult> {
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
  const inFlight: Promise<void>[] = [];
  // Buffers whose upload finished, filled again instead of allocating one per part.
  const spare: Uint8Array[] = [];
  let failed: { error: unknown } | null = null;
  let parts = 0;
  let res: BlockReadResult;
  try {
    res = await forEachBlock(body, partSize, async (part) => {
      if (failed) throw failed.error;
      parts++;
      inFlight.push(
        uploadPart(part).then(
          () => {
            spare.push(part);
          },
          (error: unknown) => {
            failed ??= { error };
          },
        ),
      );
      // Bound memory: wait for the oldest upload once the window is full.
      if (inFlight.length >= maxInFlight) await inFlight.shift();
      return spare.pop();
    });
  } finally {
    await Promise.all(inFlight);
  }
  if (failed) throw (failed as { error: unknown }).error;
  return { ...res, parts };
}
