#!/usr/bin/env node
// Creates an S3 bucket with a SigV4-signed `PUT /<bucket>` (path-style), for the local Swift used by
// `npm start` and the tests. An existing bucket of ours counts as success, so it can run on every start.
// usage: node scripts/create-bucket.mjs ENDPOINT BUCKET REGION ACCESS SECRET
import { pathToFileURL } from "node:url";
import { AwsClient } from "aws4fetch";

/**
 * @param {{endpoint: string, bucket: string, region: string, accessKey: string, secretKey: string, timeoutMs?: number}} o
 * @returns {Promise<"created" | "exists">}
 */
export async function createBucket({ endpoint, bucket, region, accessKey, secretKey, timeoutMs = 15000 }) {
  // service "s3" + explicit region: aws4fetch cannot guess them for 127.0.0.1. retries 0: a failure
  // should surface now, not after aws4fetch's ten silent retries.
  const client = new AwsClient({ accessKeyId: accessKey, secretAccessKey: secretKey, service: "s3", region, retries: 0 });
  const url = `${endpoint.replace(/\/+$/, "")}/${encodeURIComponent(bucket)}`;
  const res = await client.fetch(url, { method: "PUT", signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  if (res.status === 200) return "created";
  if (res.status === 409 && /BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(body)) return "exists";
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? "";
  throw new Error(`create bucket ${bucket} at ${endpoint}: HTTP ${res.status} ${code}`.trim());
}

// Run as a script (not when imported by start.mjs).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [endpoint, bucket, region, accessKey, secretKey] = process.argv.slice(2);
  if (!endpoint || !bucket || !region || !accessKey || !secretKey) {
    console.error("usage: create-bucket.mjs ENDPOINT BUCKET REGION ACCESS SECRET");
    process.exit(2);
  }
  try {
    const r = await createBucket({ endpoint, bucket, region, accessKey, secretKey });
    console.log(`bucket ${bucket} ${r} at ${endpoint}`);
  } catch (e) {
    console.error(String(e instanceof Error ? e.message : e));
    process.exit(1);
  }
}
