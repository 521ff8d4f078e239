// The counting S3 proxy: a tiny HTTP proxy on 127.0.0.1 that forwards every request to the S3 server unchanged
// (method, path, query, headers including Host, body) and counts requests and bytes per S3 operation.
// SigV4 signs the Host header, so each registry is pointed at its own proxy port (its regionendpoint), signs
// for that host:port, and the proxy forwards with the same Host: Swift verifies against what it receives, which
// matches. Presigned URLs handed to clients name the proxy too, so client downloads are counted as well.
// The pull-through scenario uses the same proxy for registry traffic, with a classifier of its own.
import http from "node:http";

export interface OpStats {
  count: number;
  /** Request body bytes (client → S3). */
  bytesUp: number;
  /** Response body bytes (S3 → client). */
  bytesDown: number;
  /** Sum of request durations, ms (first byte in to last byte out). */
  ms: number;
  /** Responses with status >= 400. */
  errors: number;
}

export interface Counters {
  /** By S3 operation name; presigned requests get the suffix " (presigned)". */
  ops: Record<string, OpStats>;
  /** Bytes of GetObject answers to requests signed by the registry itself (header auth) for blob data keys. */
  registryBlobDataBytes: number;
  /** The same by blob digest (hex), so manifests (also stored as blobs) can be told apart from layers. */
  registryBlobReads: Record<string, number>;
  /** Bytes of GetObject answers to presigned URLs (client downloads after a 307). */
  presignedGetBytes: number;
  total: number;
}

const emptyOp = (): OpStats => ({ count: 0, bytesUp: 0, bytesDown: 0, ms: 0, errors: 0 });
const emptyCounters = (): Counters => ({ ops: {}, registryBlobDataBytes: 0, registryBlobReads: {}, presignedGetBytes: 0, total: 0 });

/** S3 operation of a path-style request `/<bucket>[/<key>]?query`. */
export function classify(method: string, url: URL, headers: http.IncomingHttpHeaders): string {
  const q = url.searchParams;
  const parts = url.pathname.split("/").filter((s) => s !== "");
  const copy = headers["x-amz-copy-source"] !== undefined;
  if (parts.length === 0) return method === "GET" ? "ListBuckets" : `${method} /`;
  if (parts.length === 1) {
    switch (method) {
      case "GET":
        if (q.has("uploads")) return "ListMultipartUploads";
        if (q.has("location")) return "GetBucketLocation";
        if (q.get("list-type") === "2") return "ListObjectsV2";
        return "ListObjects";
      case "POST":
        return q.has("delete") ? "DeleteObjects" : "POST bucket";
      case "PUT":
        return "CreateBucket";
      case "HEAD":
        return "HeadBucket";
      case "DELETE":
        return "DeleteBucket";
      default:
        return `${method} bucket`;
    }
  }
  switch (method) {
    case "GET":
      return q.has("uploadId") ? "ListParts" : "GetObject";
    case "HEAD":
      return "HeadObject";
    case "PUT":
      if (q.has("partNumber") && q.has("uploadId")) return copy ? "UploadPartCopy" : "UploadPart";
      return copy ? "CopyObject" : "PutObject";
    case "POST":
      if (q.has("uploads")) return "CreateMultipartUpload";
      if (q.has("uploadId")) return "CompleteMultipartUpload";
      return "POST object";
    case "DELETE":
      return q.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
    default:
      return `${method} object`;
  }
}

const BLOB_DATA = /\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/;

/** When an operation's requests ran within a traced window: seconds from its start, and peak concurrency. */
export interface OpTimeline {
  first: number;
  last: number;
  maxConcurrent: number;
}

const TRACE_LIMIT = 200_000;

export interface CountingProxy {
  port: number;
  /** Starts recording each request's start and end (bounded), replacing any earlier trace. */
  startTrace(): void;
  /** Stops recording; per operation: first start, last end (s after startTrace) and most requests at once. */
  stopTrace(): Record<string, OpTimeline>;
  /** A deep copy of the counters now. */
  snapshot(): Counters;
  /** Requests still in flight. */
  inFlight(): number;
  close(): Promise<void>;
}

export type Classifier = (method: string, url: URL, headers: http.IncomingHttpHeaders) => string;

/**
 * Starts a counting proxy on 127.0.0.1 (free port) forwarding to `target` (e.g. http://127.0.0.1:8080);
 * `opOf` names each request's operation (default: its S3 operation).
 */
export async function startCountingProxy(target: string, opOf: Classifier = classify): Promise<CountingProxy> {
  const t = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const counters = emptyCounters();
  let active = 0;
  let trace: { op: string; t0: number; t1: number }[] | undefined;
  let traceStart = 0;

  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    const url = new URL(req.url ?? "/", "http://proxy");
    const presigned = url.searchParams.has("X-Amz-Signature") || url.searchParams.has("Signature");
    const op = opOf(req.method ?? "GET", url, req.headers) + (presigned ? " (presigned)" : "");
    const stats = (counters.ops[op] ??= emptyOp());
    stats.count++;
    counters.total++;
    active++;
    const blobHex = op === "GetObject" ? BLOB_DATA.exec(url.pathname)?.[1] : undefined;
    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      active--;
      const t1 = performance.now();
      stats.ms += t1 - t0;
      if (trace && t0 >= traceStart && trace.length < TRACE_LIMIT) trace.push({ op, t0, t1 });
      if (status >= 400) stats.errors++;
    };

    req.on("data", (c: Buffer) => (stats.bytesUp += c.length));
    const up = http.request(
      {
        host: t.hostname,
        port: t.port,
        method: req.method,
        path: req.url,
        headers: req.headers, // unchanged, Host included: it is part of the signature
        agent,
        timeout: 600_000,
      },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.statusMessage, ures.headers);
        ures.on("data", (c: Buffer) => {
          stats.bytesDown += c.length;
          if (presigned && op.startsWith("GetObject")) counters.presignedGetBytes += c.length;
          else if (blobHex) {
            counters.registryBlobDataBytes += c.length;
            counters.registryBlobReads[blobHex] = (counters.registryBlobReads[blobHex] ?? 0) + c.length;
          }
        });
        ures.pipe(res);
        ures.on("end", () => finish(ures.statusCode ?? 502));
        ures.on("error", () => {
          finish(502);
          res.destroy();
        });
      },
    );
    up.on("timeout", () => up.destroy(new Error("upstream timeout")));
    up.on("error", (e) => {
      finish(502);
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`counting proxy: ${e.message}`);
      } else {
        res.destroy();
      }
    });
    req.pipe(up);
    req.on("aborted", () => up.destroy());
    res.on("close", () => finish(res.statusCode));
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 120_000;
  server.requestTimeout = 0; // a 1 GiB upload may take minutes

  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });

  return {
    port,
    startTrace: () => {
      trace = [];
      traceStart = performance.now();
    },
    stopTrace: () => {
      const events = trace ?? [];
      trace = undefined;
      const out: Record<string, OpTimeline> = {};
      const byOp = new Map<string, { t0: number; t1: number }[]>();
      for (const e of events) {
        const list = byOp.get(e.op) ?? [];
        list.push(e);
        byOp.set(e.op, list);
      }
      for (const [op, list] of byOp) {
        // Sweep: +1 at each start, -1 at each end (ends first on ties).
        const edges = list.flatMap((e) => [[e.t0, 1], [e.t1, -1]] as [number, number][]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        let cur = 0;
        let peak = 0;
        for (const [, d] of edges) peak = Math.max(peak, (cur += d));
        const sec = (t: number) => +((t - traceStart) / 1000).toFixed(2);
        out[op] = { first: sec(Math.min(...list.map((e) => e.t0))), last: sec(Math.max(...list.map((e) => e.t1))), maxConcurrent: peak };
      }
      return out;
    },
    snapshot: () => structuredClone(counters),
    inFlight: () => active,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
        setTimeout(resolve, 2000).unref();
      }),
  };
}

/** after − before, dropping operations that did not occur. */
export function diffCounters(after: Counters, before: Counters): Counters {
  const d = emptyCounters();
  for (const [op, a] of Object.entries(after.ops)) {
    const b = before.ops[op] ?? emptyOp();
    if (a.count === b.count) continue;
    d.ops[op] = {
      count: a.count - b.count,
      bytesUp: a.bytesUp - b.bytesUp,
      bytesDown: a.bytesDown - b.bytesDown,
      ms: Math.round(a.ms - b.ms),
      errors: a.errors - b.errors,
    };
  }
  d.registryBlobDataBytes = after.registryBlobDataBytes - before.registryBlobDataBytes;
  for (const [hex, n] of Object.entries(after.registryBlobReads)) {
    const diff = n - (before.registryBlobReads[hex] ?? 0);
    if (diff > 0) d.registryBlobReads[hex] = diff;
  }
  d.presignedGetBytes = after.presignedGetBytes - before.presignedGetBytes;
  d.total = after.total - before.total;
  return d;
}

/** Requests made with the registry's own credentials (everything but presigned client downloads). */
export function registryRequests(c: Counters): number {
  return Object.entries(c.ops)
    .filter(([op]) => !op.endsWith("(presigned)"))
    .reduce((a, [, s]) => a + s.count, 0);
}

/** "UploadPart 26, PutObject 3, …", most frequent first. */
export function breakdown(c: Counters, perDivisor = 1): string {
  return Object.entries(c.ops)
    .sort((x, y) => y[1].count - x[1].count)
    .map(([op, s]) => `${op} ${+(s.count / perDivisor).toFixed(2)}`)
    .join(", ");
}
