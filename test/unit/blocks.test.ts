// forEachBlock(): any stream re-cut into blocks of exactly `size` bytes. Request bodies are byte streams read
// with a BYOB reader into one recycled scratch buffer; checked here with Node's byte streams (workerd adds
// readAtLeast, which gathers more per read) and with plain streams: bytes and order kept, blocks exact, the
// tail returned, and a body that breaks off keeps what was read before the failing read.
import { describe, expect, it } from "vitest";
import { forEachBlock } from "../../src/streams/blocks";

function bytes(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

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
      if ("byobRequest" in c) c.byobRequest?.respond(0); // a closed byte stream answers the waiting BYOB read
    }
  };
  return opts.bytes
    ? (new ReadableStream({ type: "bytes", pull }) as unknown as ReadableStream<Uint8Array>)
    : new ReadableStream<Uint8Array>({ pull });
}

function pieces(all: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < all.byteLength; off += size) out.push(all.subarray(off, off + size));
  return out;
}

describe.each([true, false])("forEachBlock (byte stream: %s)", (isBytes) => {
  it("cuts 4 KiB pieces into exact blocks and returns the short tail", async () => {
    const all = bytes(3 * 65536 + 1000);
    const blocks: Uint8Array[] = [];
    const res = await forEachBlock(source(pieces(all, 4096), { bytes: isBytes }), 65536, async (b) => {
      blocks.push(b.slice());
    });
    expect(res.bodyError).toBeUndefined();
    expect(res.bytesRead).toBe(all.byteLength);
    expect(blocks.map((b) => b.byteLength)).toEqual([65536, 65536, 65536]);
    expect(res.tail.byteLength).toBe(1000);
    expect(Buffer.compare(Buffer.concat([...blocks, res.tail]), Buffer.from(all))).toBe(0);
  });

  it("a body that breaks off: reports the error and keeps every byte read before it, in order", async () => {
    const all = bytes(10 * 4096, 5);
    const blocks: Uint8Array[] = [];
    const res = await forEachBlock(source(pieces(all, 4096), { bytes: isBytes, failAfter: 7 }), 16384, async (b) => {
      blocks.push(b.slice());
    });
    expect(String(res.bodyError)).toContain("client went away");
    const kept = Buffer.concat([...blocks, res.tail]);
    expect(kept.byteLength).toBe(res.bytesRead);
    expect(res.bytesRead).toBe(7 * 4096);
    expect(Buffer.compare(kept, Buffer.from(all.subarray(0, res.bytesRead)))).toBe(0);
  });

  it("an empty body yields no block and an empty tail", async () => {
    const res = await forEachBlock(source([], { bytes: isBytes }), 1024, async () => {
      throw new Error("no block expected");
    });
    expect(res.bytesRead).toBe(0);
    expect(res.tail.byteLength).toBe(0);
  });
});
