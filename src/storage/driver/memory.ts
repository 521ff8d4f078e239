// An in-memory StorageDriver for unit tests of the stores, handlers and jobs: the same contract as the S3
// driver (key order, listings that page, multipart uploads visible only once completed, missing keys on
// delete are fine), with a request counter so tests can assert what an operation costs, and an optional
// fault hook to fail a chosen operation. Never the storage of an end-to-end test.

import type { ByteRange } from "../../oci/range";
import type { MultipartUpload, ObjectHead, ObjectInfo, ObjectRead, PutBody, StorageDriver, WalkOptions } from "./index";

interface Stored {
  bytes: Uint8Array;
  contentType: string | null;
  lastModified: number;
}

export type DriverOperation =
  | "get"
  | "head"
  | "put"
  | "delete"
  | "deleteMany"
  | "list"
  | "createMultipart"
  | "uploadPart"
  | "completeMultipart"
  | "abortMultipart"
  | "listMultipart"
  | "presignGet";

const PAGE = 1000;

export class MemoryDriver implements StorageDriver {
  readonly objects = new Map<string, Stored>();
  private readonly uploads = new Map<string, { key: string; contentType: string | null; parts: Map<number, Uint8Array>; initiated: number }>();
  private nextUpload = 1;
  /** Requests made, by operation (a listing page counts as one "list"). */
  readonly calls: Record<DriverOperation, number> = {
    get: 0, head: 0, put: 0, delete: 0, deleteMany: 0, list: 0,
    createMultipart: 0, uploadPart: 0, completeMultipart: 0, abortMultipart: 0, listMultipart: 0, presignGet: 0,
  };
  /** Throw from here to make an operation fail (fault injection). */
  fault: ((op: DriverOperation, key: string) => void) | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  /** Total requests so far. */
  get requests(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  /** Every key, sorted (for assertions). */
  keys(prefix = ""): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Open multipart uploads (for assertions that nothing was left behind). */
  openUploads(): { key: string; uploadId: string }[] {
    return [...this.uploads].map(([uploadId, u]) => ({ key: u.key, uploadId }));
  }

  /** Sets an object's bytes directly, bypassing the request count (test fixtures). */
  seed(key: string, bytes: Uint8Array | string, opts: { contentType?: string; lastModified?: number } = {}): void {
    this.objects.set(key, {
      bytes: typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes.slice(),
      contentType: opts.contentType ?? null,
      lastModified: opts.lastModified ?? this.now(),
    });
  }

  async get(key: string, range?: ByteRange): Promise<ObjectRead | null> {
    this.count("get", key);
    const o = this.objects.get(key);
    if (!o) return null;
    if (range && (range.start < 0 || range.end < range.start || range.end >= o.bytes.byteLength)) {
      throw new Error(`memory driver: range ${range.start}-${range.end} of ${key} not satisfiable`);
    }
    const bytes = range ? o.bytes.slice(range.start, range.end + 1) : o.bytes.slice();
    return { body: streamOf(bytes), size: o.bytes.byteLength, contentType: o.contentType, range: range ?? null };
  }

  async head(key: string): Promise<ObjectHead | null> {
    this.count("head", key);
    const o = this.objects.get(key);
    return o ? { size: o.bytes.byteLength, contentType: o.contentType, lastModified: o.lastModified } : null;
  }

  async put(key: string, body: PutBody, opts: { length: number; contentType?: string }): Promise<void> {
    this.count("put", key);
    const bytes = await bytesOf(body);
    if (bytes.byteLength !== opts.length) throw new Error(`memory driver: put ${key}: ${bytes.byteLength} bytes, length said ${opts.length}`);
    this.objects.set(key, { bytes, contentType: opts.contentType ?? null, lastModified: this.now() });
  }

  async delete(key: string): Promise<void> {
    this.count("delete", key);
    this.objects.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      this.count("deleteMany", keys[i] ?? "");
      for (const k of keys.slice(i, i + 1000)) this.objects.delete(k);
    }
  }

  async *walk(prefix: string, opts: WalkOptions = {}): AsyncIterableIterator<ObjectInfo> {
    const page = Math.max(1, Math.min(PAGE, opts.pageSize ?? PAGE));
    let after = opts.after ?? "";
    for (;;) {
      this.count("list", prefix);
      const keys = this.keys(prefix).filter((k) => k > after).slice(0, page);
      for (const key of keys) {
        const o = this.objects.get(key);
        if (o) yield { key, size: o.bytes.byteLength, lastModified: o.lastModified };
      }
      if (keys.length < page) return;
      after = keys[keys.length - 1] as string;
    }
  }

  async *directories(prefix: string): AsyncIterableIterator<string> {
    this.count("list", prefix);
    const dirs = new Set<string>();
    for (const k of this.keys(prefix)) {
      const slash = k.indexOf("/", prefix.length);
      if (slash >= 0) dirs.add(k.slice(0, slash + 1));
    }
    yield* [...dirs].sort();
  }

  async createMultipart(key: string, opts?: { contentType?: string }): Promise<string> {
    this.count("createMultipart", key);
    const id = `upload-${this.nextUpload++}`;
    this.uploads.set(id, { key, contentType: opts?.contentType ?? "application/octet-stream", parts: new Map(), initiated: this.now() });
    return id;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, bytes: Uint8Array): Promise<string> {
    this.count("uploadPart", key);
    const u = this.upload(key, uploadId);
    u.parts.set(partNumber, bytes.slice());
    return `etag-${partNumber}-${bytes.byteLength}`;
  }

  async completeMultipart(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<void> {
    this.count("completeMultipart", key);
    const u = this.upload(key, uploadId);
    const chunks = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => {
      const bytes = u.parts.get(p.partNumber);
      if (!bytes || p.etag !== `etag-${p.partNumber}-${bytes.byteLength}`) throw new Error(`memory driver: part ${p.partNumber} of ${key} is unknown`);
      return bytes;
    });
    this.uploads.delete(uploadId);
    this.objects.set(key, { bytes: concat(chunks), contentType: u.contentType, lastModified: this.now() });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    this.count("abortMultipart", key);
    if (this.uploads.get(uploadId)?.key === key) this.uploads.delete(uploadId);
  }

  async *multipartUploads(prefix: string): AsyncIterableIterator<MultipartUpload> {
    this.count("listMultipart", prefix);
    const open = [...this.uploads].filter(([, u]) => u.key.startsWith(prefix));
    open.sort(([ia, a], [ib, b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : ia < ib ? -1 : 1));
    for (const [uploadId, u] of open) yield { key: u.key, uploadId, initiated: u.initiated };
  }

  async presignGet(key: string, expiresSeconds: number): Promise<string> {
    this.count("presignGet", key);
    return `https://bucket.invalid/${key}?expires=${Math.floor(this.now() / 1000) + expiresSeconds}`;
  }

  private upload(key: string, uploadId: string) {
    const u = this.uploads.get(uploadId);
    if (!u || u.key !== key) throw new Error(`memory driver: no multipart upload ${uploadId} at ${key}`);
    return u;
  }

  private count(op: DriverOperation, key: string): void {
    this.calls[op]++;
    this.fault?.(op, key);
  }
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

async function bytesOf(body: PutBody): Promise<Uint8Array> {
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body.slice();
  const chunks: Uint8Array[] = [];
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value.slice());
  }
  return concat(chunks);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}
