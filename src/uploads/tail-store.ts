// Keeps the bytes of an upload that do not yet fill an S3 part (the "tail") in the session's own Durable
// Object storage, between the requests of a chunked upload. Stored in slices because a value is capped
// (2 MB on SQLite-backed objects) and a batch put takes at most 128 keys.

const SLICE = 1 << 20;
const BATCH = 128;

export class TailStore {
  constructor(private readonly storage: DurableObjectStorage) {}

  async load(): Promise<Uint8Array> {
    const n = (await this.storage.get<number>("tail:n")) ?? 0;
    if (n === 0) return new Uint8Array(0);
    const keys = Array.from({ length: n }, (_, i) => `tail:${i}`);
    const slices: Uint8Array[] = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      const got = await this.storage.get<Uint8Array>(keys.slice(i, i + BATCH));
      for (const k of keys.slice(i, i + BATCH)) {
        const v = got.get(k);
        if (!v) throw new Error("upload tail is incomplete");
        slices.push(v);
      }
    }
    const total = slices.reduce((a, s) => a + s.byteLength, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const s of slices) {
      out.set(s, off);
      off += s.byteLength;
    }
    return out;
  }

  async replace(tail: Uint8Array): Promise<void> {
    const old = (await this.storage.get<number>("tail:n")) ?? 0;
    const n = Math.ceil(tail.byteLength / SLICE);
    const entries: [string, unknown][] = [];
    for (let i = 0; i < n; i++) entries.push([`tail:${i}`, tail.slice(i * SLICE, (i + 1) * SLICE)]);
    entries.push(["tail:n", n]);
    for (let i = 0; i < entries.length; i += BATCH) {
      await this.storage.put(Object.fromEntries(entries.slice(i, i + BATCH)));
    }
    const stale = Array.from({ length: Math.max(0, old - n) }, (_, i) => `tail:${n + i}`);
    for (let i = 0; i < stale.length; i += BATCH) await this.storage.delete(stale.slice(i, i + BATCH));
  }
}
