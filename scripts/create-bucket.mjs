#!/usr/bin/env node
// Creates an S3 bucket with a SigV4-signed `PUT /<bucket>` (path-style), e.g. on the local Swift of
// `npm start` and the tests. An existing bucket of ours counts as success. The code is createBucket() in
// scripts/lib/stack.mjs; this is its command line.
// usage: node scripts/create-bucket.mjs ENDPOINT BUCKET REGION ACCESS SECRET
import { pathToFileURL } from "node:url";
import { createBucket } from "./lib/stack.mjs";

export { createBucket };

// Run as a script (not when imported).
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
