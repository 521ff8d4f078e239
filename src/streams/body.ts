// Bodies that are read whole or refused: a small body (a manifest, a token form, an upstream's manifest) read with a hard cap
// checked while reading, so an oversized or endless body costs at most the cap in memory and is refused with
// 413; and a refused body drained before the answer, so the client sees the answer and not a reset.

import { OciError } from "../oci/errors";
import { readerOf, type ChunkReader } from "./blocks";

export async function readLimited(req: Pick<Request, "headers" | "body">, limit: number, what: string): Promise<Uint8Array> {
  const declared = req.headers.get("Content-Length");
  // A refused body is drained by the Worker's error path, so the client gets the 413 and not a reset.
  if (declared !== null && Number(declared) > limit) throw tooLarge(what, limit);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.releaseLock();
      throw tooLarge(what, limit);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

function tooLarge(what: string, limit: number): OciError {
  return new OciError("SIZE_INVALID", `${what} is larger than the registry's limit of ${limit} bytes`, { status: 413 });
}

/**
 * Reads and drops up to `limit` bytes of a request body that is being refused. HTTP/1.1 clients send the
 * whole body before they read the answer: an answer sent over an unread body makes the connection close
 * under them, and Go's client then reports a broken connection instead of the 416 or 404 it was given.
 * Beyond `limit` the body is cancelled (the client sees a reset; it was sending that much for nothing).
 */
export async function discardBody(body: ReadableStream<Uint8Array> | null, limit: number): Promise<void> {
  if (!body) return;
  let reader: ChunkReader;
  try {
    reader = readerOf(body);
  } catch {
    return; // already being read elsewhere (handed to the upload session)
  }
  let seen = 0;
  try {
    while (seen <= limit) {
      const r = await reader.read();
      if (r.done) return;
      seen += r.value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the client went away: nothing left to drop
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // already released
    }
  }
}
