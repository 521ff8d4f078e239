// Presigned GET URLs for blob downloads (the registry answers blob GETs with a 307 to one, as Distribution
// does). Signed for `redirectEndpoint` when configured (a public host in front of the bucket), else for the
// endpoint. A URL presigned for GET is only valid for GET: S3 signs the method, so HEAD must be answered by
// the registry itself.

import type { S3Transport } from "./transport";
import { presignV2Url } from "./sigv2";

/** SigV4 presigned URLs may live at most 7 days. */
const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;

export async function presignGetUrl(t: S3Transport, key: string, expiresSeconds: number): Promise<string> {
  if (!Number.isFinite(expiresSeconds) || expiresSeconds < 1) {
    throw new Error(`S3 presign: invalid expiry ${expiresSeconds}`);
  }
  const expires = Math.min(Math.floor(expiresSeconds), MAX_EXPIRES_SECONDS);
  const { url, resourcePath } = t.urlFor(key, t.cfg.redirectEndpoint ?? t.cfg.endpoint);
  if (t.cfg.v4auth) {
    // X-Amz-Expires goes into the query before signing: as a header aws4fetch would add it to
    // SignedHeaders, which S3 then rejects (SignatureDoesNotMatch).
    url.searchParams.set("X-Amz-Expires", String(expires));
    const signed = await t.signer.sign(url.toString(), { method: "GET", aws: { signQuery: true } });
    return signed.url;
  }
  const signed = await presignV2Url(
    { method: "GET", url, resourcePath, expires: Math.floor(Date.now() / 1000) + expires },
    { accessKey: t.cfg.accessKey, secretKey: t.cfg.secretKey },
  );
  return signed.toString();
}
