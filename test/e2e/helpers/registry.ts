// Generic helpers for e2e tests that talk to Berth over HTTP like a registry client: digests, random bytes,
// bounded requests that never follow redirects (and one GET that does), the spec's error body, blob pushes
// (in one request, or in two for registries that need it) and upload sessions, a
// request sniffer (to prove how a request was framed on the wire) and a raw-socket request (to send what
// fetch refuses to send: bodies cut short, unnormalised paths, no Accept header). Free of assertions: tests
// decide what to expect. helpers/manifests.ts builds on these and re-exports them; there is one pushBlob and
// one rawRequest.
import { createHash, randomBytes as nodeRandomBytes } from "node:crypto";
import net from "node:net";

const REQUEST_TIMEOUT_MS = 30_000;

export const MiB = 1024 * 1024;

/** Lowercase hex SHA-256 of the bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** "sha256:<hex>" of the bytes. */
export function digestOf(bytes: Uint8Array | string): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/** The digest of zero bytes. */
export const EMPTY_DIGEST = digestOf(new Uint8Array(0));

/** `n` random bytes. */
export function randomBytes(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}

/** Random [a-z0-9] suffix for repository names and root directories. */
export function rand(len = 10): string {
  return nodeRandomBytes(Math.ceil(len / 2)).toString("hex").slice(0, len);
}

/** Concatenation of byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** fetch against Berth (`path` relative to `base`, or an absolute URL): never follows redirects, bounded in time. */
export function req(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  const url = /^https?:\/\//.test(path) ? path : base + path;
  return fetch(url, { redirect: "manual", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...init });
}

/** A Location header resolved against the registry's URL (the spec allows relative ones). */
export function absolute(base: string, location: string): string {
  return new URL(location, base + "/").toString();
}

/** `location` with `?digest=` (or `&digest=`) appended, as a client completing an upload builds it. */
export function withDigest(location: string, digest: string): string {
  return `${location}${location.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
}

export interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** The parsed spec error body, or undefined when the body is not one. Consumes the body. */
export async function errorBody(res: Response): Promise<ErrorBody | undefined> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as ErrorBody;
    return Array.isArray(body?.errors) ? body : undefined;
  } catch {
    return undefined;
  }
}

/** The first `code` of a spec error body (`{"errors":[{code,…}]}`), or undefined. Consumes the body. */
export async function errorCode(res: Response): Promise<string | undefined> {
  return (await errorBody(res))?.errors[0]?.code;
}

/** Status and error code in one value, so one `toEqual` shows both on failure. Consumes the body. */
export async function statusAndCode(res: Response): Promise<{ status: number; code: string | undefined }> {
  return { status: res.status, code: await errorCode(res) };
}

/** POST /v2/<repo>/blobs/uploads/ and return the absolute upload URL; throws unless 202 with a Location. */
export async function startUpload(base: string, repo: string): Promise<string> {
  const res = await req(base, `/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await res.body?.cancel();
  const loc = res.headers.get("location");
  if (res.status !== 202 || !loc) throw new Error(`POST /v2/${repo}/blobs/uploads/: HTTP ${res.status}, Location ${loc}`);
  return absolute(base, loc);
}

/**
 * Monolithic blob push: POST /v2/<repo>/blobs/uploads/?digest=… with the whole body (sized). Takes the bytes,
 * or a blob of helpers/manifests.ts (anything with `bytes`). Throws unless 201; returns the digest.
 */
export async function pushBlob(base: string, repo: string, blob: Uint8Array | { bytes: Uint8Array }): Promise<string> {
  const bytes = blob instanceof Uint8Array ? blob : blob.bytes;
  const digest = digestOf(bytes);
  const res = await req(base, `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    body: bytes,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(bytes.byteLength) },
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`monolithic push of blob ${digest} to ${repo}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return digest;
}

/**
 * Blob push in two requests: POST /v2/<repo>/blobs/uploads/, then PUT <location>?digest=… with the whole body.
 * Every registry takes this one (Distribution 2.8 ignores `?digest=` on the POST and answers 202, so the
 * one-request pushBlob fails there). Throws unless the PUT answers 201; returns the digest.
 */
export async function pushBlobInTwo(base: string, repo: string, blob: Uint8Array | { bytes: Uint8Array }): Promise<string> {
  const bytes = blob instanceof Uint8Array ? blob : blob.bytes;
  const digest = digestOf(bytes);
  const res = await req(base, withDigest(await startUpload(base, repo), digest), {
    method: "PUT",
    body: bytes,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(bytes.byteLength) },
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`PUT of blob ${digest} to ${repo}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return digest;
}

/** GET with redirects followed (a blob GET answers 307 to a presigned S3 URL), body read; bounded in time. */
export async function getFollowing(base: string, path: string, accept = "*/*"): Promise<{ status: number; bytes: Uint8Array; headers: Headers }> {
  const res = await fetch(base + path, { headers: { Accept: accept }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
}

/** A ReadableStream of `bytes` in pieces of `piece` bytes (for streamed, unsized request bodies). */
export function streamOf(bytes: Uint8Array, piece = 256 * 1024): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (off >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(off + piece, bytes.byteLength);
      controller.enqueue(bytes.slice(off, end));
      off = end;
    },
  });
}

/** What a sniffing proxy saw of one request: its request line and headers (lower-cased names). */
export interface SniffedRequest {
  requestLine: string;
  headers: Record<string, string>;
}

/**
 * A transparent TCP proxy to `target` (http://host:port) that records the request head of every connection,
 * to prove how a client framed a request on the wire (e.g. Transfer-Encoding: chunked, no Content-Length).
 * Only the first request of each connection is parsed; bytes are forwarded unchanged both ways.
 */
export async function sniffingProxy(target: string): Promise<{ url: string; requests: SniffedRequest[]; close(): Promise<void> }> {
  const t = new URL(target);
  const requests: SniffedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect({ host: t.hostname, port: Number(t.port) });
    sockets.add(upstream);
    let head = "";
    let parsed = false;
    client.on("data", (buf: Buffer) => {
      if (!parsed) {
        head += buf.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end >= 0) {
          parsed = true;
          const [line, ...rest] = head.slice(0, end).split("\r\n");
          const headers: Record<string, string> = {};
          for (const h of rest) {
            const i = h.indexOf(":");
            if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
          }
          requests.push({ requestLine: line ?? "", headers });
        } else if (head.length > 64 * 1024) {
          parsed = true; // not HTTP as we know it; just forward
        }
      }
      upstream.write(buf);
    });
    upstream.on("data", (buf: Buffer) => client.write(buf));
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
    client.on("close", closeBoth);
    upstream.on("close", closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  /** Lower-cased names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** The body as latin1 text (de-chunked), one character per byte. */
  body: string;
  /** The same body as bytes. */
  bytes: Uint8Array;
}

/**
 * Sends one HTTP/1.1 request over a raw socket exactly as given: `path` is not normalised (so "..", "%2F"
 * and "//" reach the server verbatim), only the given headers are sent besides Host and Connection: close
 * (fetch always adds Accept, so "no Accept header at all" needs this), and `body` may be shorter than the
 * declared Content-Length. With
 * `cutAfterBody`, the socket is destroyed once the body is written (a client that dies mid-upload) and the
 * promise resolves with null. Otherwise resolves with the parsed response (Connection: close).
 */
export function rawRequest(
  base: string,
  opts: { method: string; path: string; headers?: Record<string, string>; body?: Uint8Array; cutAfterBody?: boolean; timeoutMs?: number },
): Promise<RawResponse | null> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`raw ${opts.method} ${opts.path}: no answer within ${opts.timeoutMs ?? REQUEST_TIMEOUT_MS} ms`));
    }, opts.timeoutMs ?? REQUEST_TIMEOUT_MS);
    const chunks: Buffer[] = [];
    sock.on("error", (e) => {
      clearTimeout(timer);
      if (opts.cutAfterBody) resolve(null);
      else reject(e);
    });
    sock.on("data", (b: Buffer) => chunks.push(b));
    sock.on("close", () => {
      clearTimeout(timer);
      if (opts.cutAfterBody) return resolve(null);
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`raw ${opts.method} ${opts.path}: no HTTP response (${JSON.stringify(text.slice(0, 200))})`));
      const [line, ...rest] = text.slice(0, end).split("\r\n");
      const headers: Record<string, string> = {};
      for (const h of rest) {
        const i = h.indexOf(":");
        if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      let body = text.slice(end + 4);
      if (headers["transfer-encoding"]?.toLowerCase() === "chunked") body = dechunk(body);
      resolve({ status: Number(line?.split(" ")[1]), headers, body, bytes: new Uint8Array(Buffer.from(body, "latin1")) });
    });
    sock.once("connect", () => {
      const headers: Record<string, string> = { Host: u.host, Connection: "close", ...opts.headers };
      const head = `${opts.method} ${opts.path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("")}\r\n`;
      sock.write(head, "latin1");
      if (opts.body) {
        sock.write(opts.body, () => {
          if (opts.cutAfterBody) {
            // Let the bytes leave the socket buffer before the connection goes away.
            setTimeout(() => sock.destroy(), 200);
          }
        });
      } else if (opts.cutAfterBody) {
        sock.destroy();
      }
    });
  });
}

function dechunk(s: string): string {
  let out = "";
  let i = 0;
  for (;;) {
    const eol = s.indexOf("\r\n", i);
    if (eol < 0) return out;
    const n = parseInt(s.slice(i, eol), 16);
    if (!Number.isFinite(n) || n === 0) return out;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
