// Reading a small request body (a manifest) whole, with a hard cap checked while reading, so an oversized or
// endless body costs at most the cap in memory and is refused with 413.

import { OciError } from "../oci/errors";

export async function readLimited(req: Request, limit: number, what: string): Promise<Uint8Array> {
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
