// Byte-range headers of the registry API: `Content-Range` on chunked upload PATCH/PUT (the spec's
// `<start>-<end>`, inclusive), `Range` on blob GET (RFC 9110, single range), and the `Range: 0-<end>`
// header of upload status responses. Pure parsing; the upload handler compares against its offset.

import { OciError } from "./errors";

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/** Headers longer than this are not ranges anybody sends; refuse them before running any pattern. */
const MAX_HEADER_LENGTH = 200;

// Digits only, no nested quantifiers: linear-time matching.
const CONTENT_RANGE = /^(\d+)-(\d+)(?:\/(\d+|\*))?$/;

/**
 * A chunk's Content-Range the upload cannot take. The spec names the status (416) but no code; Distribution's
 * RANGE_INVALID is not in the spec's table, so the code is the table's BLOB_UPLOAD_INVALID (code-2): it is
 * the upload that the chunk does not fit.
 */
export function chunkRangeInvalid(message: string, headers: Record<string, string> = {}): OciError {
  return new OciError("BLOB_UPLOAD_INVALID", message, { status: 416, headers });
}

/** A run of digits as a number, or undefined when it does not fit exactly in a double. */
function safeInt(digits: string): number | undefined {
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Content-Range of an upload chunk. The spec's form is `^[0-9]+-[0-9]+$`; tolerated besides: a leading
 * `bytes ` or `bytes=` (RFC-minded clients) and a trailing `/<total>` or `/*`. Returns null when the header
 * is absent or blank (a streamed PATCH carries none). Throws BLOB_UPLOAD_INVALID 416 when malformed, when
 * start > end, or when end is beyond a stated total. The spec names 416 for out-of-order chunks and its
 * endpoint table lists only 404/416 as PATCH failures; zot answers 416 for malformed ranges too, so one
 * status covers both (Distribution returns 500 UNKNOWN for a malformed one, which helps nobody).
 * Whether start equals the session's offset is the caller's check: see chunkOutOfOrder().
 */
export function parseContentRange(header: string | null): ByteRange | null {
  if (header === null) return null;
  let v = header.trim();
  if (v === "") return null;
  if (v.length > MAX_HEADER_LENGTH) throw chunkRangeInvalid("Content-Range is too long");
  const lower = v.slice(0, 6).toLowerCase();
  if (lower === "bytes " || lower === "bytes=") v = v.slice(6).trim();
  const m = CONTENT_RANGE.exec(v);
  if (m === null) {
    throw chunkRangeInvalid(`Content-Range ${JSON.stringify(header.slice(0, 64))} is not <start>-<end>`);
  }
  const start = safeInt(m[1]!);
  const end = safeInt(m[2]!);
  if (start === undefined || end === undefined) throw chunkRangeInvalid("Content-Range values are too large");
  if (start > end) throw chunkRangeInvalid(`Content-Range ${start}-${end}: start is after end`);
  const total = m[3];
  if (total !== undefined && total !== "*") {
    const t = safeInt(total);
    if (t === undefined || end >= t) throw chunkRangeInvalid(`Content-Range ${start}-${end}/${total}: end is beyond the total`);
  }
  return { start, end };
}

/**
 * The 416 for a chunk that does not start at the session's current offset (spec: "If a chunk is uploaded
 * out of order, the registry MUST respond with a 416"). Carries the upload's `Range` header so a client
 * can resume without the extra GET the spec suggests (the handler may add Location).
 */
export function chunkOutOfOrder(offset: number, start: number): OciError {
  return chunkRangeInvalid(`chunk starts at byte ${start}, but the upload has ${offset} bytes`, { Range: formatUploadRange(offset) });
}

/**
 * `Range` of a blob GET, per RFC 9110 §14: `bytes=a-b`, `bytes=a-` and suffix `bytes=-n`, against a blob
 * of `size` bytes. Returns:
 * - null → serve the whole blob with 200: no header; a unit other than bytes (RFC: MUST ignore);
 *   syntax errors, including last < first (RFC: a server MAY ignore an invalid ranges-specifier);
 *   several ranges (RFC: a server MAY ignore the header — multipart/byteranges is not worth it for blobs,
 *   and common servers and S3-compatibles do the same); a suffix range against an empty blob (the
 *   "whole representation" is zero bytes, which a 206 cannot express).
 * - "unsatisfiable" → 416 with `Content-Range: bytes *\/size`: first byte at or past the end (always for an
 *   empty blob), or a zero-length suffix `bytes=-0` (RFC: satisfiable only if non-zero).
 * - { start, end } inclusive, with end clamped to size-1 and a suffix longer than the blob taken whole.
 */
export function parseRangeHeader(header: string | null, size: number): ByteRange | null | "unsatisfiable" {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid blob size ${size}`);
  if (header === null) return null;
  const v = header.trim();
  if (v === "" || v.length > MAX_HEADER_LENGTH) return null;
  const eq = v.indexOf("=");
  if (eq < 0 || v.slice(0, eq).trim().toLowerCase() !== "bytes") return null;
  const set = v.slice(eq + 1).trim();
  if (set.includes(",")) return null;
  const m = /^(\d*)-(\d*)$/.exec(set);
  if (m === null) return null;
  const [, first, last] = m as unknown as [string, string, string];

  if (first === "") {
    if (last === "") return null; // "bytes=-" is not a range
    const suffix = Number(last); // may exceed 2^53 or be Infinity: the comparisons below still hold
    if (suffix === 0) return "unsatisfiable";
    if (size === 0) return null;
    return { start: suffix >= size ? 0 : size - suffix, end: size - 1 };
  }

  const start = Number(first);
  if (last !== "" && Number(last) < start) return null; // invalid per RFC 9110 §14.1.1: ignore
  if (start >= size) return "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}

/**
 * `Range` header of upload responses (202 after POST/PATCH, 204 on GET status): `0-<last byte>`. For an
 * empty upload this is "0-0", not "0--1": that is what Distribution and zot send and what clients parse
 * (the spec's `0-<end-of-range>` has no form for "nothing yet").
 */
export function formatUploadRange(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`invalid upload offset ${offset}`);
  return offset === 0 ? "0-0" : `0-${offset - 1}`;
}

/** `Content-Range` of a 206 (`bytes a-b/size`) and of a 416 (`bytes *\/size`). */
export function formatContentRange(range: ByteRange | "unsatisfiable", size: number): string {
  return range === "unsatisfiable" ? `bytes */${size}` : `bytes ${range.start}-${range.end}/${size}`;
}
