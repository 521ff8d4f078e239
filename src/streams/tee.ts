// One stream read once and handed to two readers, for a pull-through blob: the bucket writer and the client.
// Unlike ReadableStream.tee(), which buffers without bound for the slower branch, each chunk is read from the
// source only once both branches have room, so memory stays a few chunks whatever the blob's size. The
// client's branch runs one chunk behind and its last chunk waits for `finish`: the client receives a
// complete body only once the stored bytes were verified, and a cut-off one otherwise. A client that goes
// away does not stop the store's branch.

/** Bytes each branch may queue before the source is read again. */
const QUEUE_BYTES = 1024 * 1024;

export interface HeldTee {
  /** Every byte, for the store. Errors when the source does. */
  store: ReadableStream<Uint8Array>;
  /** Every byte but the last chunk until `finish(null)`; errored by `finish(error)` or a failing source. */
  client: ReadableStream<Uint8Array>;
  /** Ends the client's branch: with its last chunk (null), or with the error (the client sees a cut-off body). */
  finish(error: unknown): Promise<void>;
}

function branch(): TransformStream<Uint8Array, Uint8Array> {
  const size = (chunk: Uint8Array) => chunk.byteLength;
  return new TransformStream<Uint8Array, Uint8Array>({}, { highWaterMark: QUEUE_BYTES, size }, { highWaterMark: QUEUE_BYTES, size });
}

export function heldTee(source: ReadableStream<Uint8Array>): HeldTee {
  const toStore = branch();
  const toClient = branch();
  const store = toStore.writable.getWriter();
  const client = toClient.writable.getWriter();
  let clientGone = false;
  let held: Uint8Array | null = null;
  const toClientSafely = async (chunk: Uint8Array): Promise<void> => {
    if (clientGone) return;
    try {
      await client.ready;
      client.write(chunk).catch(() => (clientGone = true));
    } catch {
      clientGone = true;
    }
  };
  const pump = (async () => {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await store.ready;
        store.write(value).catch(() => {});
        if (held) await toClientSafely(held);
        held = value;
      }
      await store.close();
    } catch (e) {
      await store.abort(e).catch(() => {});
      await reader.cancel(e).catch(() => {});
      throw e;
    }
  })();
  pump.catch(() => {}); // seen by `finish` through the store's branch
  return {
    store: toStore.readable,
    client: toClient.readable,
    async finish(error: unknown): Promise<void> {
      await pump.catch(() => {});
      if (error !== null) {
        await client.abort(error).catch(() => {});
        return;
      }
      if (held) await toClientSafely(held);
      if (!clientGone) await client.close().catch(() => {});
    },
  };
}
