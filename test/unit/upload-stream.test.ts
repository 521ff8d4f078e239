// coalesce(): an upload body regrouped into large chunks before it crosses to the upload session. Bytes and
// order kept whatever the input pieces, chunk sizes bounded, and a body that breaks off delivers every byte
// that arrived before the error (resumable uploads depend on it), for byte streams (BYOB) and plain ones.
import { describe, expect, it } from "vitest";
import { coalesce } from "../../src/registry/upload-stream";

const MiB = 1024 * 1024;

function bytes(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** The pieces as a stream, a byte stream (BYOB-capable, like a request body) or a plain one; optionally failing. */
function source(pieces: Uint8Array[], opts: { bytes: boolean; failAfter?: number }): ReadableStream<Uint8Array> {
  let i = 0;
  const pull = (c: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController) => {
    if (opts.failAfter !== undefined && i === opts.failAfter) {
      c.error(new Error("client went away"));
      return;
    }
    const next = pieces[i++];
    if (next) c.enqueue(next.slice());
    else {
      c.close();
      // A byte stream closed under a waiting BYOB read must answer it (workerd's request bodies do this).
      if ("byobRequest" in c) c.byobRequest?.respond(0);
    }
  };
  return opts.bytes
    ? (new ReadableStream({ type: "bytes", pull }) as unknown as ReadableStream<Uint8Array>)
    : new ReadableStream<Uint8Array>({ pull });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<{ chunks: Uint8Array[]; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { chunks };
      chunks.push(value.slice());
    }
  } catch (error) {
    return { chunks, error };
  }
}

function joined(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

describe.each([true, false])("coalesce (byte stream: %s)", (isBytes) => {
  it("regroups 4 KiB pieces into chunks of at most 1 MiB, bytes and order intact", async () => {
    const all = bytes(3 * MiB + 12345);
    const pieces: Uint8Array[] = [];
    for (let off = 0; off < all.byteLength; off += 4096) pieces.push(all.subarray(off, off + 4096));
    const { chunks, error } = await drain(coalesce(source(pieces, { bytes: isBytes })));
    expect(error).toBeUndefined();
    expect(Buffer.compare(joined(chunks), all)).toBe(0);
    expect(chunks.every((c) => c.byteLength <= MiB)).toBe(true);
    expect(chunks.length).toBeLessThanOrEqual(8); // not ~800 pieces
  });

  it("splits pieces larger than a chunk", async () => {
    const all = bytes(5 * MiB / 2, 3);
    const { chunks } = await drain(coalesce(source([all], { bytes: isBytes })));
    expect(Buffer.compare(joined(chunks), all)).toBe(0);
    expect(chunks.every((c) => c.byteLength <= MiB)).toBe(true);
  });

  it("an empty body ends at once", async () => {
    const { chunks, error } = await drain(coalesce(source([], { bytes: isBytes })));
    expect(error).toBeUndefined();
    expect(chunks).toEqual([]);
  });

  it("a body that breaks off delivers every byte that arrived, then the error", async () => {
    const all = bytes(300 * 1024, 9);
    const pieces = [all.subarray(0, 100_000), all.subarray(100_000, 200_000), all.subarray(200_000)];
    const { chunks, error } = await drain(coalesce(source(pieces, { bytes: isBytes, failAfter: 3 })));
    expect(String(error)).toContain("client went away");
    expect(Buffer.compare(joined(chunks), all)).toBe(0);
  });
});
