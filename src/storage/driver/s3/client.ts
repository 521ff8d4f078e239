// Berth's S3 client: the only code that talks to the bucket. Builds path-style or virtual-hosted URLs from
// S3Config, signs with SigV4 (aws4fetch) or SigV2 (sigv2.ts), always sends a length with bodies (AWS rejects
// chunked uploads), retries buffered requests on 5xx/429, and turns every unexpected answer into an S3Error
// that never carries credentials. Keys are given without the root directory: the layout module adds it.
// Multipart operations live in multipart.ts, presigning in presign.ts; both reach S3 through this class's
// S3Transport methods (transport.ts holds the shared types).

import { AwsClient } from "aws4fetch";
import type { S3Config } from "../../../config";
import { countS3Attempt } from "../../../metrics/s3";
import { md5Digest } from "./md5";
import * as multipart from "./multipart";
import { presignGetUrl } from "./presign";
import { signV2Headers, toBase64 } from "./sigv2";
import {
  discard,
  encodeKey,
  S3Error,
  unquoteEtag,
  validateKey,
  type S3Body,
  type S3Request,
  type S3Transport,
} from "./transport";
import { childElements, childText, escapeXml, tryParseXml, type XmlElement } from "./xml";

export { S3Error, type S3Body } from "./transport";

/** Buffered requests are re-sent on 5xx/429 (what aws4fetch would retry); streams cannot be re-sent. */
const BUFFERED_RETRIES = 3;
const RETRY_BASE_MS = 50;

function encodeQuery(query: [string, string][]): string {
  return query
    .map(([k, v]) =>
      v === "" && (k === "uploads" || k === "delete") ? k : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`,
    )
    .join("&");
}

/** workerd's FixedLengthStream: an identity stream that announces (and enforces) its byte length. */
type FixedLengthStreamCtor = new (length: number) => TransformStream<Uint8Array, Uint8Array>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function toBytes(body: ArrayBuffer | Uint8Array | string): Uint8Array {
  if (typeof body === "string") return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/** Buffer bodies from this size on are sent as a stream (see sign()). */
const STREAM_BUFFERS_FROM = 1 << 20;

export class S3Client implements S3Transport {
  readonly signer: AwsClient;
  private readonly fetcher: typeof fetch;
  private readonly endpoint: string;

  constructor(
    readonly cfg: S3Config,
    fetcher?: typeof fetch,
  ) {
    this.endpoint = cfg.endpoint.replace(/\/+$/, "");
    // Region and service are always explicit: aws4fetch's guessing only knows AWS/R2/B2 host names.
    this.signer = new AwsClient({
      accessKeyId: cfg.accessKey,
      secretAccessKey: cfg.secretKey,
      service: "s3",
      region: cfg.region,
      retries: 0, // only sign() is used; retries happen in send() with the injected fetcher
    });
    this.fetcher = fetcher ?? ((input, init) => fetch(input, init));
  }

  // ---- objects ----

  /** GET (optionally a Range); the streaming 200/206 Response, or null when the object does not exist. */
  async get(key: string, opts?: { range?: string }): Promise<Response | null> {
    const headers: Record<string, string> = opts?.range ? { range: opts.range } : {};
    const req: S3Request = { operation: "GetObject", method: "GET", key, headers };
    const res = await this.send(req);
    if (res.status === 200 || res.status === 206) return res;
    if (res.status === 404) {
      const root = tryParseXml(await res.text());
      const code = root ? (childText(root, "Code") ?? "") : "";
      // A missing bucket is a configuration error, not a missing object.
      if (code === "NoSuchBucket") throw new S3Error(req.operation, 404, code, `bucket ${this.cfg.bucket}`);
      return null;
    }
    return this.fail(req, res);
  }

  async head(key: string): Promise<{ size: number; etag: string; contentType: string | null; lastModified: number } | null> {
    const req: S3Request = { operation: "HeadObject", method: "HEAD", key };
    const res = await this.send(req);
    await discard(res);
    if (res.status === 404) return null;
    if (res.status !== 200) return this.fail(req, res);
    const size = Number(res.headers.get("content-length"));
    if (!Number.isSafeInteger(size) || size < 0) throw new S3Error(req.operation, 200, "", "no valid Content-Length");
    const modified = Date.parse(res.headers.get("last-modified") ?? "");
    return { size, etag: unquoteEtag(res.headers.get("etag")), contentType: res.headers.get("content-type"), lastModified: Number.isFinite(modified) ? modified : 0 };
  }

  /** PutObject. `opts.length` must be the exact byte length; it is sent as Content-Length. */
  async put(
    key: string,
    body: S3Body,
    opts: { length: number; contentType?: string; contentMd5?: string },
  ): Promise<{ etag: string }> {
    const headers: Record<string, string> = { ...this.writeHeaders() };
    if (opts.contentType) headers["content-type"] = opts.contentType;
    if (opts.contentMd5) headers["content-md5"] = opts.contentMd5;
    const data = body instanceof ReadableStream ? body : toBytes(body);
    const req: S3Request = { operation: "PutObject", method: "PUT", key, headers, body: data, length: opts.length };
    const res = await this.send(req);
    if (res.status !== 200) return this.fail(req, res);
    await discard(res);
    return { etag: unquoteEtag(res.headers.get("etag")) };
  }

  /** DeleteObject; deleting a missing object is not an error. */
  async delete(key: string): Promise<void> {
    const req: S3Request = { operation: "DeleteObject", method: "DELETE", key };
    const res = await this.send(req);
    if (res.status === 204 || res.status === 200 || res.status === 404) return discard(res);
    return this.fail(req, res);
  }

  /** DeleteObjects in batches of 1000 (S3's limit). A key S3 reports as failed throws an S3Error. */
  async deleteMany(keys: string[]): Promise<void> {
    for (const k of keys) validateKey(k); // all up front: a bad key must not leave a half-done deletion
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const xml =
        "<Delete><Quiet>true</Quiet>" +
        batch.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join("") +
        "</Delete>";
      const body = new TextEncoder().encode(xml);
      const req: S3Request = {
        operation: "DeleteObjects",
        method: "POST",
        query: [["delete", ""]],
        // Content-MD5 is mandatory for DeleteObjects (Swift and AWS answer 400 without it).
        headers: { "content-type": "application/xml", "content-md5": toBase64(await md5Digest(body)) },
        body,
      };
      const root = await this.readXml(req, await this.send(req));
      const errors = childElements(root, "Error").filter((e) => childText(e, "Code") !== "NoSuchKey");
      const first = errors[0];
      if (first) {
        throw new S3Error(
          req.operation,
          200,
          childText(first, "Code") ?? "",
          `${errors.length} key(s) not deleted, first ${childText(first, "Key") ?? "?"}: ` +
            (childText(first, "Message") ?? ""),
        );
      }
    }
  }

  /** ListObjectsV2, one page. Keys and prefixes are requested URL-encoded and decoded here, so any key
   * round-trips even if it is not valid in XML. */
  async list(opts: {
    prefix: string;
    delimiter?: string;
    startAfter?: string;
    continuationToken?: string;
    maxKeys?: number;
  }): Promise<{ keys: { key: string; size: number; lastModified: number }[]; prefixes: string[]; nextToken?: string }> {
    validateKey(opts.prefix, "prefix");
    const query: [string, string][] = [
      ["list-type", "2"],
      ["encoding-type", "url"],
      ["prefix", opts.prefix],
    ];
    if (opts.delimiter !== undefined) query.push(["delimiter", opts.delimiter]);
    if (opts.startAfter !== undefined) {
      validateKey(opts.startAfter, "start-after");
      query.push(["start-after", opts.startAfter]);
    }
    if (opts.continuationToken !== undefined) query.push(["continuation-token", opts.continuationToken]);
    if (opts.maxKeys !== undefined) query.push(["max-keys", String(opts.maxKeys)]);
    const req: S3Request = { operation: "ListObjectsV2", method: "GET", query };
    const root = await this.readXml(req, await this.send(req));
    // encoding-type=url encodes like a form: "+" is a space (what AWS SDKs decode with unquote_plus).
    const encoded = childText(root, "EncodingType") === "url";
    const decode = (s: string) => (encoded ? decodeURIComponent(s.replace(/\+/g, " ")) : s);
    const keys = childElements(root, "Contents").map((c) => ({
      key: decode(childText(c, "Key") ?? ""),
      size: Number(childText(c, "Size") ?? "0"),
      // ISO 8601 (S3's ListObjectsV2 form); an unparsable or missing date reads as 0, "as old as can be".
      lastModified: Date.parse(childText(c, "LastModified") ?? "") || 0,
    }));
    const prefixes = childElements(root, "CommonPrefixes").map((p) => decode(childText(p, "Prefix") ?? ""));
    if (childText(root, "IsTruncated") !== "true") return { keys, prefixes };
    const token = childText(root, "NextContinuationToken");
    // Returning no token would make the caller stop early and silently miss keys.
    if (!token) throw new S3Error(req.operation, 200, "", "truncated listing without NextContinuationToken");
    return { keys, prefixes, nextToken: token };
  }

  // ---- multipart (multipart.ts) ----

  createMultipart(key: string, opts?: { contentType?: string }): Promise<string> {
    return multipart.createMultipart(this, key, opts);
  }

  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: S3Body,
    length: number,
    contentMd5?: string,
  ): Promise<string> {
    const data = body instanceof ReadableStream ? body : toBytes(body);
    return multipart.uploadPart(this, key, uploadId, partNumber, data, length, contentMd5);
  }

  completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void> {
    return multipart.completeMultipart(this, key, uploadId, parts);
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return multipart.abortMultipart(this, key, uploadId);
  }

  listMultipart(prefix: string, marker?: { key: string; uploadId: string }): ReturnType<typeof multipart.listMultipart> {
    return multipart.listMultipart(this, prefix, marker);
  }

  /** A presigned GET URL, on `redirectEndpoint` when configured. */
  presignGet(key: string, expiresSeconds: number): Promise<string> {
    return presignGetUrl(this, key, expiresSeconds);
  }

  // ---- transport ----

  /** Headers for object-creating requests (PutObject, CreateMultipartUpload). */
  writeHeaders(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.cfg.storageClass.toUpperCase() !== "NONE") h["x-amz-storage-class"] = this.cfg.storageClass;
    if (this.cfg.encrypt) {
      h["x-amz-server-side-encryption"] = this.cfg.keyId ? "aws:kms" : "AES256";
      if (this.cfg.keyId) h["x-amz-server-side-encryption-aws-kms-key-id"] = this.cfg.keyId;
    }
    // "private" is S3's default; an explicit x-amz-acl is refused by AWS buckets whose ACLs are disabled
    // (Object Ownership "bucket owner enforced", the default since 2023), so it is only sent when asked for.
    if (this.cfg.objectAcl !== "private") h["x-amz-acl"] = this.cfg.objectAcl;
    return h;
  }

  /** URL of a key (or of the bucket) on `base`, and the SigV2 resource path ("/bucket/key" as on the wire). */
  urlFor(key: string | undefined, base: string = this.endpoint): { url: URL; resourcePath: string } {
    if (key !== undefined) validateKey(key);
    const { bucket } = this.cfg;
    const path = key === undefined ? "" : `/${encodeKey(key)}`;
    const root = base.replace(/\/+$/, "");
    if (this.cfg.forcePathStyle) {
      return { url: new URL(`${root}/${bucket}${path}`), resourcePath: `/${bucket}${path}` };
    }
    const url = new URL(root);
    url.hostname = `${bucket}.${url.hostname}`;
    url.pathname = `${url.pathname.replace(/\/+$/, "")}${path || "/"}`;
    return { url, resourcePath: `/${bucket}${path || "/"}` };
  }

  /** Signs and sends one request, re-sending buffered ones on 5xx/429 and network errors. Returns whatever
   * status came back last; callers decide what is expected. */
  async send(req: S3Request): Promise<Response> {
    const { url, resourcePath } = this.urlFor(req.key);
    if (req.query?.length) url.search = encodeQuery(req.query);
    const body = req.body;
    const isStream = body instanceof ReadableStream;
    if (isStream && (req.length === undefined || !Number.isSafeInteger(req.length) || req.length < 0)) {
      throw new Error(`S3 ${req.operation}: a stream body needs its exact length`);
    }
    if (body instanceof Uint8Array && req.length !== undefined && req.length !== body.byteLength) {
      throw new Error(`S3 ${req.operation}: length ${req.length} does not match the body (${body.byteLength} bytes)`);
    }
    const retries = isStream ? 0 : BUFFERED_RETRIES;
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      const signed = await this.sign(req, url, resourcePath); // re-signed each attempt: fresh date
      try {
        res = await this.fetcher(...signed);
      } catch (err) {
        countS3Attempt(req.operation, null);
        if (attempt >= retries) throw new S3Error(req.operation, 0, "", `network error: ${(err as Error).message}`);
      }
      if (res) {
        countS3Attempt(req.operation, res.status);
        if ((res.status < 500 && res.status !== 429) || attempt >= retries) return res;
        await discard(res);
      }
      await sleep(Math.random() * RETRY_BASE_MS * 2 ** attempt);
    }
  }

  private async sign(req: S3Request, url: URL, resourcePath: string): Promise<[string | Request, RequestInit]> {
    const headers = new Headers(req.headers);
    let body: Uint8Array | ReadableStream<Uint8Array> | undefined = req.body;
    const init: RequestInit & { duplex?: "half" } = { method: req.method, headers };
    if (req.body instanceof ReadableStream) {
      const length = req.length as number;
      // Looked up at run time (and typed locally) so this module also runs and type-checks under Node.
      const Fixed = (globalThis as { FixedLengthStream?: FixedLengthStreamCtor }).FixedLengthStream;
      if (Fixed) {
        // workerd sends a plain ReadableStream chunked; a FixedLengthStream makes it send Content-Length.
        const fixed = new Fixed(length);
        req.body.pipeTo(fixed.writable).catch(() => {
          // the error surfaces through fetch reading fixed.readable
        });
        body = fixed.readable;
      } else {
        // Node (tests): undici honours an explicit Content-Length on a stream and checks the byte count.
        headers.set("content-length", String(length));
        init.duplex = "half";
      }
    } else if (req.body && req.body.byteLength >= STREAM_BUFFERS_FROM) {
      const Fixed = (globalThis as { FixedLengthStream?: FixedLengthStreamCtor }).FixedLengthStream;
      if (Fixed) {
        // A buffer body is copied into the request and that copy is only freed when the collector gets to
        // the Request: ten-MiB parts pile up as garbage. Written through a stream, the caller's buffer is
        // sent as it is (and may be reused once the call returns).
        const fixed = new Fixed(req.body.byteLength);
        const writer = fixed.writable.getWriter();
        writer.write(req.body).then(() => writer.close()).catch(() => {
          // the error surfaces through fetch reading fixed.readable
        });
        body = fixed.readable;
        if (this.cfg.v4auth && !headers.has("x-amz-content-sha256")) headers.set("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
      }
    } else if (req.method === "PUT" || req.method === "POST") {
      body = req.body ?? new Uint8Array(0); // a buffer gets its Content-Length from the runtime
    }
    init.body = body;
    if (this.cfg.v4auth) {
      // URL string + init: aws4fetch buffers a Request's body when it has a Content-Type.
      const signed = await this.signer.sign(url.toString(), init);
      return [signed, {}];
    }
    await signV2Headers(
      { method: req.method, resourcePath, query: req.query, headers },
      { accessKey: this.cfg.accessKey, secretKey: this.cfg.secretKey },
    );
    return [url.toString(), init];
  }

  async fail(req: S3Request, res: Response, detail?: string): Promise<never> {
    let code = "";
    let message = detail ?? "";
    if (req.method !== "HEAD") {
      const root = tryParseXml(await res.text().catch(() => ""));
      if (root?.name === "Error") {
        code = childText(root, "Code") ?? "";
        if (!message) message = (childText(root, "Message") ?? "").slice(0, 300);
      }
    } else {
      await discard(res);
    }
    const where = req.key !== undefined ? `key ${req.key}` : `bucket ${this.cfg.bucket}`;
    throw new S3Error(req.operation, res.status, code, message ? `${where}: ${message}` : where);
  }

  async readXml(req: S3Request, res: Response): Promise<XmlElement> {
    if (res.status !== 200) return this.fail(req, res);
    const text = await res.text();
    const root = tryParseXml(text);
    if (!root) throw new S3Error(req.operation, res.status, "", "response is not XML");
    if (root.name === "Error") {
      const message = (childText(root, "Message") ?? "").slice(0, 300);
      throw new S3Error(req.operation, res.status, childText(root, "Code") ?? "", message);
    }
    return root;
  }
}
