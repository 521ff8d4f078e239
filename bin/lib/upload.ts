// One blob into the registry, in chunks: HEAD (skip when present), POST to open an upload session, PATCH
// pieces of at most the chunk size (Content-Range + Content-Length, streamed from the source), and PUT
// ?digest= to commit. After a failed or cut-off request it asks the session's status (GET) and resumes
// from the `Range` the registry reports; failures in a row are bounded, with backoff.

import type { Readable } from "node:stream";
import { PushError, httpError, networkError } from "./errors.ts";
import { formatSize } from "./options.ts";
import type { Output } from "./progress.ts";
import { type Registry, type Response, backoffMs, header, sleep } from "./registry.ts";

export interface BlobSource {
  digest: string;
  size: number;
  /** What the blob is, for messages: "config", "layer", ... */
  kind: string;
  /** A stream of the blob's bytes [start, end). */
  open(start: number, end: number): Readable;
}

export interface UploadOptions {
  /** Largest PATCH body the user allows (--chunk-size); the registry's OCI-Chunk-Max-Length may lower it. */
  chunkSize: number;
  out: Output;
  /** Messages already shown once (notes about the registry's chunk limits). */
  notes: Set<string>;
}

interface Session {
  url: URL;
  /** Bytes the registry holds. */
  offset: number;
  /** PATCH body size for this session. */
  chunk: number;
}

/** `Range: 0-<end>` of an upload → bytes held (end + 1); "0-0" means none, as Distribution and Berth send it. */
export function parseUploadRange(value: string | undefined): number | null {
  const m = /^\s*(?:bytes[ =])?0-(\d+)\s*$/i.exec(value ?? "");
  if (!m) return null;
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

function intHeader(res: Response, name: string): number | undefined {
  const v = header(res, name);
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}

export function shortDigest(digest: string): string {
  return digest.slice(0, digest.indexOf(":") + 13);
}

/** Whether the repository already has the blob. A redirect (Distribution answers HEAD with 307) means yes. */
export async function blobExists(reg: Registry, digest: string): Promise<boolean> {
  const url = reg.url(`/v2/${reg.opts.repository}/blobs/${digest}`);
  const res = await reg.sendWithRetry({ method: "HEAD", url });
  if (res.status === 200 || (res.status >= 300 && res.status < 400)) return true;
  if (res.status === 404) return false;
  throw httpError(`HEAD ${url.pathname}`, res);
}

async function openSession(reg: Registry, opts: UploadOptions): Promise<Session> {
  const url = reg.url(`/v2/${reg.opts.repository}/blobs/uploads/`);
  const res = await reg.sendWithRetry({ method: "POST", url });
  if (res.status !== 202) throw httpError(`POST ${url.pathname}`, res);
  const location = header(res, "location");
  if (!location) throw new PushError(`POST ${url.pathname}: the registry sent no upload Location`);
  let chunk = opts.chunkSize;
  const max = intHeader(res, "oci-chunk-max-length");
  if (max !== undefined && max < chunk) {
    chunk = max;
    note(opts, `registry limits chunks to ${formatSize(max)} (OCI-Chunk-Max-Length); using that`);
  }
  const min = intHeader(res, "oci-chunk-min-length");
  if (min !== undefined && min > chunk) {
    note(opts, `registry prefers chunks of at least ${formatSize(min)} (OCI-Chunk-Min-Length); the ${formatSize(chunk)} limit wins`);
  }
  return { url: new URL(location, res.url), offset: 0, chunk };
}

function note(opts: UploadOptions, line: string): void {
  if (opts.notes.has(line)) return;
  opts.notes.add(line);
  opts.out.info(line);
}

/** Pushes the blob unless the repository has it. Throws a PushError when it cannot. */
export async function pushBlob(reg: Registry, blob: BlobSource, opts: UploadOptions): Promise<"exists" | "pushed"> {
  const label = `${blob.kind} ${shortDigest(blob.digest)}`;
  if (await blobExists(reg, blob.digest)) {
    opts.out.info(`${label}: already in the registry`);
    return "exists";
  }
  const started = Date.now();
  const bar = opts.out.bar(label, blob.size);
  const retries = reg.opts.retries;
  let session = await openSession(reg, opts);
  let chunks = 0;
  let failures = 0;

  /** After a failure: back off, then ask the registry how much it holds (a new session if it lost ours). */
  const recover = async (failure: PushError, rejectedStart: number | null): Promise<void> => {
    failures++;
    bar.update(session.offset); // the failed attempt's bytes do not count
    if (failures > retries) {
      throw new PushError(`${label}: giving up after ${retries} ${retries === 1 ? "retry" : "retries"}: ${failure.message}`);
    }
    opts.out.info(`${label}: ${failure.message}; retry ${failures}/${retries}`);
    await sleep(backoffMs(failures));
    let res: Response;
    try {
      res = await reg.send({ method: "GET", url: session.url });
    } catch {
      return; // the next attempt finds out again
    }
    if (res.status === 404) {
      opts.out.info(`${label}: the registry no longer knows the upload; starting it again`);
      session = await openSession(reg, opts);
      return;
    }
    const held = res.status === 204 || res.status === 200 ? parseUploadRange(header(res, "range")) : null;
    if (held === null) return;
    const loc = header(res, "location");
    if (loc) session.url = new URL(loc, res.url);
    // "0-0" is both "nothing" and "one byte": if a chunk from 0 was just refused as out of order, it is one byte.
    session.offset = held === 0 && rejectedStart === 0 ? 1 : held;
    bar.update(session.offset);
    if (session.offset > 0) opts.out.info(`${label}: resuming at byte ${session.offset} of ${blob.size}`);
  };

  for (;;) {
    while (session.offset < blob.size) {
      const start = session.offset;
      const end = Math.min(start + session.chunk, blob.size);
      let sent = 0;
      let failure: PushError;
      let rejected: number | null = null;
      try {
        const res = await reg.send({
          method: "PATCH",
          url: session.url,
          headers: { "Content-Type": "application/octet-stream", "Content-Range": `${start}-${end - 1}` },
          body: () => blob.open(start, end),
          bodyLength: end - start,
          onSent: (n) => {
            sent += n;
            bar.update(start + sent);
          },
        });
        if (res.status === 202) {
          chunks++;
          const loc = header(res, "location");
          if (loc) session.url = new URL(loc, res.url);
          const held = parseUploadRange(header(res, "range"));
          session.offset = held !== null && held > start ? held : end;
          failures = 0;
          bar.update(session.offset);
          continue;
        }
        const what = `PATCH ${session.url.pathname}`;
        if (res.status === 413) {
          throw httpError(what, res, ` (the registry or a proxy refused a ${formatSize(end - start)} chunk; try a smaller --chunk-size)`);
        }
        failure = httpError(what, res);
        // Out of order (416) or a lost session (404) are resolved by asking for the upload's status.
        if (!failure.retryable && res.status !== 416 && res.status !== 404) throw failure;
        if (res.status === 416) rejected = start;
      } catch (e) {
        failure = networkError(`PATCH ${session.url.pathname}`, e);
        if (!failure.retryable) throw failure;
      }
      await recover(failure, rejected);
    }

    const put = new URL(session.url);
    put.searchParams.set("digest", blob.digest);
    let failure: PushError;
    try {
      const res = await reg.send({ method: "PUT", url: put, headers: { "Content-Type": "application/octet-stream" } });
      if (res.status === 201 || res.status === 204) {
        const got = header(res, "docker-content-digest");
        if (got && got !== blob.digest) throw new PushError(`${label}: the registry stored it as ${got}`);
        break;
      }
      failure = httpError(`PUT ${put.pathname}`, res);
      if (!failure.retryable) throw failure;
    } catch (e) {
      failure = networkError(`PUT ${put.pathname}`, e);
      if (!failure.retryable) throw failure;
    }
    // The commit may have happened even though the answer was lost.
    if (await blobExists(reg, blob.digest).catch(() => false)) break;
    await recover(failure, null);
  }

  const secs = (Date.now() - started) / 1000;
  const rate = secs > 0 ? `, ${formatSize(blob.size / secs)}/s` : "";
  bar.finish(`${label}: pushed ${formatSize(blob.size)} in ${chunks} chunk${chunks === 1 ? "" : "s"} (${secs.toFixed(1)} s${rate})`);
  return "pushed";
}
