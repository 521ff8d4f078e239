// Vitest global setup of the e2e project: starts ONE OpenStack Swift (S3 via s3api) for the whole run on
// free 127.0.0.1 ports, creates the test bucket and hands its settings to tests via provide("s3").
// Starting Swift takes 5-8 s, so tests share it; each test isolates itself by repository name / key prefix.
// The starting is scripts/lib/stack.mjs's startSwift(), shared with `npm start` and the benchmark.
import type { TestProject } from "vitest/node";
import { startSwift } from "../../../scripts/lib/stack.mjs";

export interface S3Settings {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Settings;
  }
}

const REGION = "us-east-1";
const BUCKET = "berth-test";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  let swift;
  try {
    swift = await startSwift({ region: REGION, bucket: BUCKET });
  } catch (e) {
    throw new Error(`[e2e] ${e instanceof Error ? e.message : String(e)}`);
  }
  const { endpoint, accessKey, secretKey } = swift;
  project.provide("s3", { endpoint, region: REGION, accessKey, secretKey, bucket: BUCKET });
  console.log(`[e2e] Swift S3 on ${endpoint}, bucket ${BUCKET} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return () => swift.stop();
}
