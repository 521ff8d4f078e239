// The object-store driver: the one narrow interface between Berth's stores and a bucket, in the spirit of
// Distribution's storagedriver. Keys are plain strings that only storage/layout.ts composes; a driver knows
// nothing of registries. Two implementations: S3 (s3/driver.ts, any S3-compatible server, SigV4 or SigV2)
// and memory (memory.ts, for unit tests of the stores, handlers and jobs).

import type { ByteRange } from "../../oci/range";

/** One object, as a listing reports it. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Milliseconds since the epoch (0 when the store did not say). */
  lastModified: number;
}

/** What a HEAD learns about an object. */
export interface ObjectMeta {
  size: number;
  /** The Content-Type stored with the object, or null. */
  contentType: string | null;
}

/** A multipart upload not completed nor aborted yet. */
export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated: number;
}

/** What a HEAD tells: the object's metadata and when it was last written. */
export interface ObjectHead extends ObjectMeta {
  /** Last-Modified, ms since the epoch; 0 when the store did not say. */
  lastModified: number;
}

/** An object being read: its bytes (all of them, or the range asked for) and what is known about it. */
export interface ObjectRead extends ObjectMeta {
  body: ReadableStream<Uint8Array>;
  /** The range served, inclusive, when one was asked for; `size` is then the whole object's size. */
  range: ByteRange | null;
}

export type PutBody = Uint8Array | string | ReadableStream<Uint8Array>;

export interface WalkOptions {
  /** Resume after this key (exclusive): the last key a job checkpointed. */
  after?: string;
  /** Keys fetched per request to the store (a hint; S3 caps it at 1000). */
  pageSize?: number;
}

export interface StorageDriver {
  /** The object's bytes (a range of them when asked; the range must lie inside the object), or null when absent. */
  get(key: string, range?: ByteRange): Promise<ObjectRead | null>;
  head(key: string): Promise<ObjectHead | null>;
  /** Writes the object whole; `length` must be the body's exact byte length. */
  put(key: string, body: PutBody, opts: { length: number; contentType?: string }): Promise<void>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes in batches (S3: 1000 keys a request); missing keys are not an error. */
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Every object under the prefix, in key order, paging inside; resumable with `after`. */
  walk(prefix: string, opts?: WalkOptions): AsyncIterableIterator<ObjectInfo>;
  /** The immediate "directories" under the prefix (full prefixes ending in "/"), in key order. */
  directories(prefix: string): AsyncIterableIterator<string>;
  /** Starts a multipart upload at the key; returns its id. */
  createMultipart(key: string, opts?: { contentType?: string }): Promise<string>;
  /** Uploads one part (numbered from 1); returns its ETag. The buffer may be reused once this resolves. */
  uploadPart(key: string, uploadId: string, partNumber: number, bytes: Uint8Array): Promise<string>;
  /** Makes the object visible at the key, made of the parts in part-number order. */
  completeMultipart(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<void>;
  /** Drops the upload and its parts; an upload already gone is not an error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Multipart uploads in progress under the prefix (key order), with when each began (ms; 0 = unknown). */
  multipartUploads(prefix: string): AsyncIterableIterator<MultipartUpload>;
  /** A URL that lets anyone GET the object for `expiresSeconds`. */
  presignGet(key: string, expiresSeconds: number): Promise<string>;
}
