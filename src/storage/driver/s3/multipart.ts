// Multipart uploads for the S3 client: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
// AbortMultipartUpload, and ListMultipartUploads (for the collector to find abandoned ones). Kept apart from client.ts to keep each file readable; everything goes through the
// client's transport. (Berth writes each blob once, at its own key, so it never needs a server-side copy.)

import { discard, S3Error, unquoteEtag, validateKey, type S3Request, type S3Transport } from "./transport";
import { childElements, childText, escapeXml } from "./xml";

const MAX_PARTS = 10_000;
/** Error codes S3 embeds in a 200 CompleteMultipartUpload answer that its documentation says to retry. */
const RETRYABLE_EMBEDDED = new Set(["InternalError", "SlowDown", "ServiceUnavailable"]);

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new Error(`S3 part number ${partNumber} is outside 1..${MAX_PARTS}`);
  }
}

/** CreateMultipartUpload; returns the upload id. The content type defaults to application/octet-stream (what
 * Distribution sets): without one, Swift gives the finished object the type of the CompleteMultipartUpload
 * request, application/xml. */
export async function createMultipart(t: S3Transport, key: string, opts?: { contentType?: string }): Promise<string> {
  const headers = { ...t.writeHeaders(), "content-type": opts?.contentType ?? "application/octet-stream" };
  const req: S3Request = { operation: "CreateMultipartUpload", method: "POST", key, query: [["uploads", ""]], headers };
  const root = await t.readXml(req, await t.send(req));
  const uploadId = childText(root, "UploadId");
  if (!uploadId) throw new S3Error(req.operation, 200, "", `key ${key}: no UploadId in the answer`);
  return uploadId;
}

/** UploadPart; returns the part's ETag (unquoted). Stream bodies are sent once (no retry). */
export async function uploadPart(
  t: S3Transport,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Uint8Array | ReadableStream<Uint8Array>,
  length: number,
  contentMd5?: string,
): Promise<string> {
  checkPartNumber(partNumber);
  const req: S3Request = {
    operation: "UploadPart",
    method: "PUT",
    key,
    query: [
      ["partNumber", String(partNumber)],
      ["uploadId", uploadId],
    ],
    headers: contentMd5 ? { "content-md5": contentMd5 } : { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    body,
    length,
  };
  const res = await t.send(req);
  if (res.status !== 200) return t.fail(req, res);
  await discard(res);
  const etag = unquoteEtag(res.headers.get("etag"));
  if (!etag) throw new S3Error(req.operation, 200, "", `key ${key}: no ETag for part ${partNumber}`);
  return etag;
}

/** CompleteMultipartUpload. Parts are sent in ascending order, as S3 requires. An <Error> inside a 200 is a
 * failure; the retryable ones (InternalError, SlowDown) are retried a couple of times. */
export async function completeMultipart(
  t: S3Transport,
  key: string,
  uploadId: string,
  parts: { partNumber: number; etag: string }[],
): Promise<void> {
  if (parts.length === 0) throw new Error("S3 CompleteMultipartUpload needs at least one part");
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  for (const p of sorted) checkPartNumber(p.partNumber);
  const partXml = (p: { partNumber: number; etag: string }) =>
    `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${escapeXml(unquoteEtag(p.etag))}"</ETag></Part>`;
  const xml = `<CompleteMultipartUpload>${sorted.map(partXml).join("")}</CompleteMultipartUpload>`;
  const body = new TextEncoder().encode(xml);
  const req: S3Request = {
    operation: "CompleteMultipartUpload",
    method: "POST",
    key,
    query: [["uploadId", uploadId]],
    headers: { "content-type": "application/xml" },
    body,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await t.readXml(req, await t.send(req));
      return;
    } catch (err) {
      if (!(err instanceof S3Error && err.status === 200 && RETRYABLE_EMBEDDED.has(err.code) && attempt < 2)) throw err;
    }
  }
}

/** AbortMultipartUpload; an upload that is already gone (404 NoSuchUpload) is fine. */
export async function abortMultipart(t: S3Transport, key: string, uploadId: string): Promise<void> {
  const req: S3Request = { operation: "AbortMultipartUpload", method: "DELETE", key, query: [["uploadId", uploadId]] };
  const res = await t.send(req);
  if (res.status === 204 || res.status === 200 || res.status === 404) return discard(res);
  return t.fail(req, res);
}

/** One page of ListMultipartUploads under a prefix, from a marker; `next` is where the following page starts. */
export async function listMultipart(
  t: S3Transport,
  prefix: string,
  marker?: { key: string; uploadId: string },
): Promise<{ uploads: { key: string; uploadId: string; initiated: number }[]; next?: { key: string; uploadId: string } }> {
  validateKey(prefix, "prefix");
  const query: [string, string][] = [
    ["uploads", ""],
    ["prefix", prefix],
  ];
  if (marker) query.push(["key-marker", marker.key], ["upload-id-marker", marker.uploadId]);
  const req: S3Request = { operation: "ListMultipartUploads", method: "GET", query };
  const root = await t.readXml(req, await t.send(req));
  const uploads = childElements(root, "Upload").map((u) => ({
    key: childText(u, "Key") ?? "",
    uploadId: childText(u, "UploadId") ?? "",
    // An unparsable or missing date reads as 0: never taken for old.
    initiated: Date.parse(childText(u, "Initiated") ?? "") || 0,
  }));
  if (childText(root, "IsTruncated") !== "true") return { uploads };
  const key = childText(root, "NextKeyMarker");
  if (!key) throw new S3Error(req.operation, 200, "", "truncated listing without NextKeyMarker");
  return { uploads, next: { key, uploadId: childText(root, "NextUploadIdMarker") ?? "" } };
}
