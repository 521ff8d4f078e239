// The StorageDriver over any S3-compatible bucket: S3Client speaks the wire protocol (signing, retries,
// XML), this adapter gives it the driver's shape (ranges as numbers, listings as async iterators that page
// inside and resume from a key).

import type { S3Config } from "../../../config";
import type { ByteRange } from "../../../oci/range";
import type { MultipartUpload, ObjectHead, ObjectInfo, ObjectRead, PutBody, StorageDriver, WalkOptions } from "../index";
import { S3Client, S3Error } from "./client";

/** A listing longer than this many pages is a runaway (10 million keys at 1000 a page). */
const MAX_PAGES = 10_000;

export class S3Driver implements StorageDriver {
  constructor(private readonly s3: S3Client) {}

  static fromConfig(cfg: S3Config): S3Driver {
    return new S3Driver(new S3Client(cfg));
  }

  async get(key: string, range?: ByteRange): Promise<ObjectRead | null> {
    let res: Response | null;
    try {
      res = await this.s3.get(key, range ? { range: `bytes=${range.start}-${range.end}` } : undefined);
    } catch (e) {
      // A range past the end is the caller's mistake, checked before asking; a store that disagrees
      // (the object changed size: it cannot, it is content-addressed) is a fault.
      if (range && e instanceof S3Error && e.status === 416) throw new Error(`S3 GetObject: range ${range.start}-${range.end} of ${key} not satisfiable`);
      throw e;
    }
    if (!res?.body) return null;
    const contentType = res.headers.get("content-type");
    if (!range || res.status === 200) {
      const size = Number(res.headers.get("content-length"));
      if (range) {
        // A store that ignored the Range header sent the whole object: cut the range out of it.
        return { body: slice(res.body, range), size, contentType, range };
      }
      return { body: res.body, size, contentType, range: null };
    }
    const m = /\/(\d+)\s*$/.exec(res.headers.get("content-range") ?? "");
    const size = m ? Number(m[1]) : NaN;
    if (!Number.isSafeInteger(size)) {
      await res.body.cancel();
      throw new S3Error("GetObject", res.status, "", `key ${key}: 206 without a usable Content-Range`);
    }
    return { body: res.body, size, contentType, range };
  }

  async head(key: string): Promise<ObjectHead | null> {
    const h = await this.s3.head(key);
    return h ? { size: h.size, contentType: h.contentType, lastModified: h.lastModified } : null;
  }

  async put(key: string, body: PutBody, opts: { length: number; contentType?: string }): Promise<void> {
    await this.s3.put(key, body, opts);
  }

  delete(key: string): Promise<void> {
    return this.s3.delete(key);
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return this.s3.deleteMany([...keys]);
  }

  async *walk(prefix: string, opts: WalkOptions = {}): AsyncIterableIterator<ObjectInfo> {
    let token: string | undefined;
    const maxKeys = opts.pageSize === undefined ? undefined : Math.max(1, Math.min(1000, Math.floor(opts.pageSize)));
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await this.s3.list({
        prefix,
        continuationToken: token,
        startAfter: token === undefined && opts.after !== undefined && opts.after > prefix ? opts.after : undefined,
        maxKeys,
      });
      yield* r.keys;
      token = r.nextToken;
      if (!token) return;
    }
    throw new Error(`S3 listing of ${prefix} has more than ${MAX_PAGES} pages`);
  }

  async *directories(prefix: string): AsyncIterableIterator<string> {
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await this.s3.list({ prefix, delimiter: "/", continuationToken: token });
      yield* r.prefixes;
      token = r.nextToken;
      if (!token) return;
    }
    throw new Error(`S3 listing of ${prefix} has more than ${MAX_PAGES} pages`);
  }

  createMultipart(key: string, opts?: { contentType?: string }): Promise<string> {
    return this.s3.createMultipart(key, opts);
  }

  uploadPart(key: string, uploadId: string, partNumber: number, bytes: Uint8Array): Promise<string> {
    return this.s3.uploadPart(key, uploadId, partNumber, bytes, bytes.byteLength);
  }

  completeMultipart(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<void> {
    return this.s3.completeMultipart(key, uploadId, [...parts]);
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return this.s3.abortMultipart(key, uploadId);
  }

  async *multipartUploads(prefix: string): AsyncIterableIterator<MultipartUpload> {
    let marker: { key: string; uploadId: string } | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await this.s3.listMultipart(prefix, marker);
      yield* r.uploads;
      if (!r.next) return;
      marker = r.next;
    }
    throw new Error(`S3 ListMultipartUploads ${prefix}: more than ${MAX_PAGES} pages`);
  }

  presignGet(key: string, expiresSeconds: number): Promise<string> {
    return this.s3.presignGet(key, expiresSeconds);
  }
}

/** Bytes start..end (inclusive) of a whole-object stream. */
function slice(body: ReadableStream<Uint8Array>, range: ByteRange): ReadableStream<Uint8Array> {
  let pos = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const from = Math.max(range.start - pos, 0);
        const to = Math.min(range.end + 1 - pos, chunk.byteLength);
        pos += chunk.byteLength;
        if (to > from) controller.enqueue(chunk.subarray(from, to));
        if (pos > range.end) controller.terminate();
      },
    }),
  );
}
