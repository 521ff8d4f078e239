// The S3 client's counter (storage/driver/s3/client.ts calls it once per attempt): requests by operation, and
// the attempts that failed. An answer like 404 on HeadObject is an answer, not an error; what counts as one is
// a network error, a 5xx, 429 (throttled) and 401/403 (the bucket refused Berth's credentials or policy).
// A function at the bottom of src/, so the storage driver counts without knowing where counts go.

import { isolateTally } from "./flush";

function errorKind(status: number | null): string | null {
  if (status === null) return "network";
  if (status >= 500) return "server";
  if (status === 429) return "throttled";
  if (status === 401 || status === 403) return "refused";
  return null;
}

/** One attempt of `operation`; `status` null when no answer came (a network error). */
export function countS3Attempt(operation: string, status: number | null): void {
  isolateTally.add("berth_s3_requests_total", { operation });
  const kind = errorKind(status);
  if (kind !== null) isolateTally.add("berth_s3_errors_total", { operation, kind });
}
