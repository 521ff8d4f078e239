// Shared plumbing of the S3 client: the S3Error type, the request description that client.ts sends for
// multipart.ts and presign.ts, and key validation/encoding. Separate so those modules do not import the
// client class (no import cycle).

import type { AwsClient } from "aws4fetch";
import type { S3Config } from "../../../config";
import type { XmlElement } from "./xml";

/** An S3 request failed or answered something unexpected. `status` is the HTTP status received (200 for an
 * error embedded in a 200 body, as CopyObject, CompleteMultipartUpload and DeleteObjects can send; 0 when
 * no answer came, e.g. a network error); `code` is the XML `<Code>` or "" when the body had none (HEAD,
 * HTML error pages). Messages never include credentials or signatures. */
export class S3Error extends Error {
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly code: string,
    detail?: string,
  ) {
    super(`S3 ${operation} failed: HTTP ${status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`);
    this.name = "S3Error";
  }
}

export type S3Body = ArrayBuffer | Uint8Array | string | ReadableStream<Uint8Array>;

/** One S3 call, as multipart.ts and presign.ts describe it to the transport. */
export interface S3Request {
  /** S3 operation name, for errors. */
  operation: string;
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** Object key; undefined addresses the bucket. */
  key?: string;
  /** Decoded query parameters; "" is a valueless sub-resource such as `uploads`. */
  query?: [string, string][];
  headers?: Record<string, string>;
  body?: Uint8Array | ReadableStream<Uint8Array>;
  /** Byte length of `body`; required for streams, which cannot be measured. */
  length?: number;
}

/** What multipart.ts and presign.ts need from the client. */
export interface S3Transport {
  readonly cfg: S3Config;
  readonly signer: AwsClient;
  send(req: S3Request): Promise<Response>;
  fail(req: S3Request, res: Response, detail?: string): Promise<never>;
  /** Reads a 200 XML answer; an `<Error>` root (S3 embeds late failures in 200s) becomes an S3Error. */
  readXml(req: S3Request, res: Response): Promise<XmlElement>;
  urlFor(key: string | undefined, base?: string): { url: URL; resourcePath: string };
  writeHeaders(): Record<string, string>;
}

/** Keys stay within this set: aws4fetch turns `+` into a space when signing, and nothing in the registry's
 * layout needs more. */
const KEY_CHARS = /^[A-Za-z0-9._/:-]*$/;

export function validateKey(key: string, what = "key"): void {
  if (!KEY_CHARS.test(key)) throw new Error(`S3 ${what} contains a character outside [A-Za-z0-9._/:-]`);
  if (what === "key") {
    if (key === "" || key.startsWith("/")) throw new Error("S3 key must be non-empty and not start with /");
    // URL parsing would resolve "." and ".." segments away and address another object.
    if (key.split("/").some((s) => s === "." || s === "..")) throw new Error("S3 key has a . or .. segment");
  }
}

/** Each path segment percent-encoded (":" becomes %3A), "/" kept: S3's canonical form. */
export function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

export function unquoteEtag(etag: string | null): string {
  return (etag ?? "").replace(/^(W\/)?"(.*)"$/, "$2");
}

/** Lets the connection be reused or closed: Workers keep at most 6 open, and unread bodies hold them. */
export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // already consumed or errored: nothing to release
  }
}
