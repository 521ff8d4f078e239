// A tiny S3 client for e2e assertions: looks into the test bucket (what Berth wrote, which uploads it left
// open) independently of Berth's own storage code. Path-style, SigV4 via aws4fetch; XML parsed with regexes,
// which is enough for the few response shapes used here and keeps test code free of an XML dependency.
import { AwsClient } from "aws4fetch";
import { inject } from "vitest";
import type { S3Settings } from "./global-setup.js";

const TIMEOUT_MS = 30_000;
const MAX_PAGES = 1000; // 1000 keys per page: a million keys is far beyond any test; stops a paging loop bug.

/** The bucket provided by the e2e global setup. */
export function s3Settings(): S3Settings {
  return inject("s3");
}

/**
 * Signed fetch of `pathAndQuery` relative to the bucket URL (e.g. "a/b" or "?uploads"). `override` swaps
 * settings, e.g. a wrong secretKey to prove the server checks signatures. No retries: tests want the first answer.
 */
export function s3Fetch(pathAndQuery: string, init: RequestInit = {}, override: Partial<S3Settings> = {}): Promise<Response> {
  const s = { ...s3Settings(), ...override };
  const client = new AwsClient({
    accessKeyId: s.accessKey,
    secretAccessKey: s.secretKey,
    service: "s3",
    region: s.region,
    retries: 0,
  });
  const base = `${s.endpoint.replace(/\/+$/, "")}/${s.bucket}`;
  const url = pathAndQuery.startsWith("?") ? base + pathAndQuery : `${base}/${pathAndQuery}`;
  return client.fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), ...init });
}

// Keys are sent as path segments: encode each segment but keep the slashes.
function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

function xmlDecode(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) => {
    switch (e) {
      case "lt": return "<";
      case "gt": return ">";
      case "quot": return '"';
      case "apos": return "'";
      case "amp": return "&";
      default: return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

/** Text of every <tag>…</tag> in `xml` (no nesting of the same tag in the responses we parse). */
function tagValues(xml: string, tag: string): string[] {
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  return [...xml.matchAll(re)].map((m) => xmlDecode(m[1] ?? ""));
}

function tagValue(xml: string, tag: string): string | undefined {
  return tagValues(xml, tag)[0];
}

async function expectOk(res: Response, what: string): Promise<string> {
  const body = await res.text();
  if (!res.ok) {
    throw new Error(`S3 ${what}: HTTP ${res.status} ${tagValue(body, "Code") ?? body.slice(0, 200)}`);
  }
  return body;
}

/** All keys under `prefix` (ListObjectsV2, every page), in S3's lexicographic order. */
export async function listKeys(prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const q = new URLSearchParams({ "list-type": "2", prefix });
    if (token) q.set("continuation-token", token);
    const xml = await expectOk(await s3Fetch(`?${q}`), `ListObjectsV2 ${prefix}`);
    for (const contents of tagValues(xml, "Contents")) {
      const key = tagValue(contents, "Key");
      if (key !== undefined) keys.push(key);
    }
    if (tagValue(xml, "IsTruncated") !== "true") return keys;
    token = tagValue(xml, "NextContinuationToken");
    if (!token) throw new Error("S3 ListObjectsV2: truncated listing without NextContinuationToken");
  }
  throw new Error(`S3 ListObjectsV2 ${prefix}: more than ${MAX_PAGES} pages`);
}

/** The object's bytes, or null when it does not exist. */
export async function getObject(key: string): Promise<Uint8Array | null> {
  const res = await s3Fetch(keyPath(key));
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) await expectOk(res, `GET ${key}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Writes an object (e.g. to plant a corrupt blob and watch Berth notice). */
export async function putObject(key: string, bytes: Uint8Array | string): Promise<void> {
  // Copy into a fresh ArrayBuffer-backed array: fetch's BodyInit type rejects SharedArrayBuffer views.
  const body = typeof bytes === "string" ? new TextEncoder().encode(bytes) : new Uint8Array(bytes);
  await expectOk(await s3Fetch(keyPath(key), { method: "PUT", body }), `PUT ${key}`);
}

/** Deletes an object (missing keys are fine: S3 answers 204 either way). */
export async function deleteObject(key: string): Promise<void> {
  await expectOk(await s3Fetch(keyPath(key), { method: "DELETE" }), `DELETE ${key}`);
}

/** Multipart uploads still open under `prefix` (every page): leftovers of cancelled or crashed uploads. */
export async function listMultipartUploads(prefix = ""): Promise<{ key: string; uploadId: string }[]> {
  const out: { key: string; uploadId: string }[] = [];
  let keyMarker = "";
  let uploadIdMarker = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const q = new URLSearchParams({ uploads: "", prefix });
    if (keyMarker) q.set("key-marker", keyMarker);
    if (uploadIdMarker) q.set("upload-id-marker", uploadIdMarker);
    const xml = await expectOk(await s3Fetch(`?${q}`), `ListMultipartUploads ${prefix}`);
    for (const up of tagValues(xml, "Upload")) {
      const key = tagValue(up, "Key");
      const uploadId = tagValue(up, "UploadId");
      if (key !== undefined && uploadId !== undefined) out.push({ key, uploadId });
    }
    if (tagValue(xml, "IsTruncated") !== "true") return out;
    keyMarker = tagValue(xml, "NextKeyMarker") ?? "";
    uploadIdMarker = tagValue(xml, "NextUploadIdMarker") ?? "";
    if (!keyMarker) throw new Error("S3 ListMultipartUploads: truncated listing without NextKeyMarker");
  }
  throw new Error(`S3 ListMultipartUploads ${prefix}: more than ${MAX_PAGES} pages`);
}
