// Hands an upload's request body on to its session in large chunks. A request body arrives in the network's
// small pieces (~4 KiB), and every piece that crosses to the Durable Object costs a message and a turn of its
// event loop: a 256 MiB layer is ~65,000 of them. Gathering them here into chunks of up to CHUNK bytes cuts
// that by a factor of hundreds. A body that breaks off still delivers every byte that arrived, and then the
// error, so the session keeps what it got and the client can resume from the reported offset.

const CHUNK = 1 << 20;
const READ = 256 * 1024;

export function coalesce(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = readerOf(body);
  let failure: { error: unknown } | null = null;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (failure) {
          controller.error(failure.error);
          return;
        }
        const out = new Uint8Array(CHUNK);
        let fill = 0;
        while (fill < CHUNK) {
          let res;
          try {
            res = await reader.read(CHUNK - fill);
          } catch (error) {
            // Deliver what arrived first; the next pull reports the break.
            failure = { error };
            break;
          }
          if (res.done) break;
          out.set(res.value, fill);
          fill += res.value.byteLength;
        }
        if (fill > 0) controller.enqueue(out.subarray(0, fill));
        else if (failure) controller.error(failure.error);
        if (fill < CHUNK && !failure) controller.close();
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

type Piece = { done: true; value?: undefined } | { done: false; value: Uint8Array };

interface PieceReader {
  /** The next bytes (at most `max`), valid until the next call. */
  read(max: number): Promise<Piece>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * A byte stream is read with a BYOB reader into a scratch buffer, which returns all that has arrived in one
 * read. The scratch buffer is never the chunk being filled: a failing read takes its buffer with it.
 */
function readerOf(body: ReadableStream<Uint8Array>): PieceReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    const plain = body.getReader();
    let rest: Uint8Array | null = null;
    return {
      async read(max) {
        if (!rest || rest.byteLength === 0) {
          const res = await plain.read();
          if (res.done) return { done: true };
          rest = res.value;
        }
        const piece = rest.subarray(0, max);
        rest = rest.subarray(piece.byteLength);
        return { done: false, value: piece };
      },
      cancel: (reason) => plain.cancel(reason),
    };
  }
  let scratch: ArrayBuffer | null = new ArrayBuffer(READ);
  return {
    async read(max) {
      const buffer = scratch ?? new ArrayBuffer(READ);
      scratch = null;
      const res = await byob.read(new Uint8Array(buffer, 0, Math.min(max, READ)));
      if (res.value) scratch = res.value.buffer as ArrayBuffer;
      return res.done ? { done: true } : { done: false, value: res.value! };
    },
    cancel: (reason) => byob.cancel(reason),
  };
}
