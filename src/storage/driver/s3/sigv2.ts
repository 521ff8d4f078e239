// AWS Signature Version 2 for S3 (HMAC-SHA1 over WebCrypto), used when Distribution's `v4auth: false` is
// configured: some older S3-compatible servers only speak SigV2. aws4fetch has no SigV2, so it lives here.
// Follows the REST authentication rules of S3's SigV2 documentation: the string to sign is the method,
// Content-MD5, Content-Type, Date (empty when x-amz-date carries the time; Expires for presigned URLs), the
// canonical x-amz-* headers and the canonical resource (/bucket/key as sent on the wire plus the signed
// sub-resources).

export interface V2Credentials {
  accessKey: string;
  secretKey: string;
}

/** Query parameters that name a sub-resource and must be part of the signed resource (S3's list, plus the
 * response-* overrides and the multi-object `delete`); any other query parameter is left unsigned. */
const SIGNED_SUBRESOURCES = new Set([
  "acl",
  "cors",
  "delete",
  "lifecycle",
  "location",
  "logging",
  "notification",
  "partNumber",
  "policy",
  "requestPayment",
  "response-cache-control",
  "response-content-disposition",
  "response-content-encoding",
  "response-content-language",
  "response-content-type",
  "response-expires",
  "restore",
  "tagging",
  "torrent",
  "uploadId",
  "uploads",
  "versionId",
  "versioning",
  "versions",
  "website",
]);

const encoder = new TextEncoder();

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Base64 HMAC-SHA1 of the UTF-8 string to sign: the SigV2 signature. */
export async function hmacSha1Base64(secret: string, stringToSign: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-1" }, false, [
    "sign",
  ]);
  return toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(stringToSign))));
}

/**
 * CanonicalizedAmzHeaders: x-amz-* headers lowercased, sorted by name, repeated names joined with ","
 * (no space), values trimmed with folded whitespace collapsed; each line ends with "\n".
 * Takes name/value pairs so repeated headers can be represented (a Headers object merges them with ", ").
 */
export function canonicalAmzHeaders(headers: Iterable<readonly [string, string]>): string {
  const grouped = new Map<string, string[]>();
  for (const [rawName, rawValue] of headers) {
    const name = rawName.trim().toLowerCase();
    if (!name.startsWith("x-amz-")) continue;
    const value = rawValue.replace(/\s*\r?\n\s*/g, " ").trim();
    const list = grouped.get(name);
    if (list) list.push(value);
    else grouped.set(name, [value]);
  }
  return [...grouped.keys()]
    .sort()
    .map((name) => `${name}:${(grouped.get(name) ?? []).join(",")}\n`)
    .join("");
}

/**
 * CanonicalizedResource: `resourcePath` is "/bucket/key" exactly as URI-encoded on the wire (for
 * virtual-hosted requests the caller puts the bucket in front, since the Host header carries it), followed
 * by the signed sub-resources sorted by name. Sub-resource values are signed decoded; a valueless
 * sub-resource ("?uploads", "?delete") is signed as its bare name.
 */
export function canonicalResource(resourcePath: string, query?: Iterable<readonly [string, string]>): string {
  const subs: [string, string][] = [];
  for (const [k, v] of query ?? []) if (SIGNED_SUBRESOURCES.has(k)) subs.push([k, v]);
  if (subs.length === 0) return resourcePath;
  subs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return `${resourcePath}?${subs.map(([k, v]) => (v ? `${k}=${v}` : k)).join("&")}`;
}

export interface V2StringToSignInput {
  method: string;
  contentMd5?: string;
  contentType?: string;
  /** Date header value, "" when x-amz-date is sent, or the Expires epoch seconds of a presigned URL. */
  dateOrExpires: string;
  amzHeaders?: Iterable<readonly [string, string]>;
  resourcePath: string;
  query?: Iterable<readonly [string, string]>;
}

export function stringToSignV2(input: V2StringToSignInput): string {
  return [
    input.method.toUpperCase(),
    input.contentMd5 ?? "",
    input.contentType ?? "",
    input.dateOrExpires,
    canonicalAmzHeaders(input.amzHeaders ?? []) + canonicalResource(input.resourcePath, input.query),
  ].join("\n");
}

export interface V2HeaderRequest {
  method: string;
  /** "/bucket/key" as URI-encoded on the wire (see canonicalResource). */
  resourcePath: string;
  /** The request's query parameters, decoded; only sub-resources are signed. */
  query?: Iterable<readonly [string, string]>;
  /** Headers to send; Content-MD5, Content-Type and x-amz-* among them are signed. Modified in place. */
  headers: Headers;
}

/**
 * Signs a request for header authentication: adds `x-amz-date` (unless a Date or x-amz-date header is
 * already there; fetch implementations may refuse or rewrite Date, x-amz-date is ours) and
 * `Authorization: AWS <access>:<signature>`.
 */
export async function signV2Headers(req: V2HeaderRequest, creds: V2Credentials, now: Date = new Date()): Promise<void> {
  const h = req.headers;
  if (!h.has("x-amz-date") && !h.has("date")) h.set("x-amz-date", now.toUTCString());
  const toSign = stringToSignV2({
    method: req.method,
    contentMd5: h.get("content-md5") ?? undefined,
    contentType: h.get("content-type") ?? undefined,
    // With x-amz-date present the Date position is empty: the time is signed among the x-amz-* headers.
    dateOrExpires: h.has("x-amz-date") ? "" : (h.get("date") ?? ""),
    amzHeaders: h.entries(),
    resourcePath: req.resourcePath,
    query: req.query,
  });
  h.set("authorization", `AWS ${creds.accessKey}:${await hmacSha1Base64(creds.secretKey, toSign)}`);
}

export interface V2PresignRequest {
  method: string;
  /** The URL to sign (path already URI-encoded); its query may carry sub-resources such as response-*. */
  url: URL;
  /** "/bucket/key" as on the wire (see canonicalResource). */
  resourcePath: string;
  /** Expiry as epoch seconds. */
  expires: number;
}

/** Query-string authentication: returns a copy of the URL with AWSAccessKeyId, Expires and Signature. */
export async function presignV2Url(req: V2PresignRequest, creds: V2Credentials): Promise<URL> {
  const url = new URL(req.url);
  const expires = String(Math.floor(req.expires));
  const toSign = stringToSignV2({
    method: req.method,
    dateOrExpires: expires,
    resourcePath: req.resourcePath,
    query: url.searchParams,
  });
  url.searchParams.set("AWSAccessKeyId", creds.accessKey);
  url.searchParams.set("Expires", expires);
  url.searchParams.set("Signature", await hmacSha1Base64(creds.secretKey, toSign));
  return url;
}
