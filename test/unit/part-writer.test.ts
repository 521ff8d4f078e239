// Part cutting of upload bodies: exact part sizes whatever the incoming chunking, order of uploads, bounded
// parallelism, the short last part, a body that breaks off, and a failing part upload.
import { describe, expect, it } from "vitest";
import { writeParts } from "../../src/storage/part-writer";

function streamOf(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (failAfter !== undefined && i === failAfter) {
        c.error(new Error("client went away"));
        return;
      }
      const next = chunks[i++];
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

function bytes(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

describe("writeParts", () => {
  it("cuts odd-sized chunks into equal parts and returns the short tail", async () => {
    const data = bytes(1000);
    const chunks = [data.subarray(0, 7), data.subarray(7, 300), data.subarray(300, 301), data.subarray(301)];
    const parts: Uint8Array[] = [];
    const res = await writeParts(streamOf(chunks), 128, async (p) => {
      parts.push(p.slice());
    });
    expect(parts.map((p) => p.byteLength)).toEqual(Array(7).fill(128));
    expect(res.parts).toBe(7);
    expect(res.tail.byteLength).toBe(1000 - 7 * 128);
    expect(res.bytesRead).toBe(1000);
    expect(concat([...parts, res.tail])).toEqual(data);
    expect(res.bodyError).toBeUndefined();
  });

  it("uploads nothing for a body shorter than a part", async () => {
    let calls = 0;
    const res = await writeParts(streamOf([bytes(50)]), 128, async () => {
      calls++;
    });
    expect(calls).toBe(0);
    expect(res.tail).toEqual(bytes(50));
  });

  it("keeps at most maxInFlight uploads running and calls them in order", async () => {
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const data = bytes(64 * 10);
    await writeParts(streamOf([data]), 64, async (p) => {
      order.push(p[0] as number);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
    }, { maxInFlight: 3 });
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    expect(order).toEqual(Array.from({ length: 10 }, (_, i) => data[i * 64]));
  });

  it("reports a body that breaks off, keeping what was read", async () => {
    const res = await writeParts(streamOf([bytes(100), bytes(100, 1)], 2), 64, async () => {});
    expect(res.bodyError).toBeInstanceOf(Error);
    expect(res.bytesRead).toBe(200);
    expect(res.parts * 64 + res.tail.byteLength).toBe(200);
  });

  it("throws the first failed upload and stops reading", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        if (pulled > 100) c.close();
        else c.enqueue(bytes(64));
      },
    });
    await expect(
      writeParts(body, 64, async () => {
        throw new Error("S3 said no");
      }),
    ).rejects.toThrow("S3 said no");
    expect(pulled).toBeLessThan(100);
  });
});
