// Driving garbage-collection runs in unit tests as the coordinator drives them: fire the runner's alarms,
// moving the clock to each, and read the report.
import { expect } from "vitest";
import type { JobReport } from "../../../src/jobs/protocol";
import type { TestRegistry } from "./registry";

/** Fires the runner's alarms until the run is over, or until `until` says stop (checked after each step). */
export async function drive(r: TestRegistry, max = 200, until?: (report: JobReport) => boolean): Promise<JobReport> {
  for (let n = 0; n < max && r.jobStorage.alarm !== null; n++) {
    const at = r.jobStorage.alarm;
    r.jobStorage.alarm = null;
    if (at > r.clock.t) r.clock.t = at;
    await r.jobRunner.alarm();
    if (until) {
      const s = await r.jobRunner.status("gc");
      if (s && until(s)) return s;
    }
  }
  const report = await r.jobRunner.status("gc");
  expect(report?.state).toBe("done");
  return report!;
}

/** Starts a run and drives it to its end. */
export async function collect(r: TestRegistry, params: Record<string, unknown> = {}): Promise<JobReport> {
  await start(r, params);
  return drive(r);
}

export async function start(r: TestRegistry, params: Record<string, unknown> = {}): Promise<void> {
  const started = await r.jobRunner.start("gc", params);
  if ("error" in started) throw new Error(started.error);
}

/** A blob's data key under the registry's root (as TestRegistry.keys lists them). */
export function blobKey(digest: string): string {
  const [alg, hex] = digest.split(":") as [string, string];
  return `blobs/${alg}/${hex.slice(0, 2)}/${hex}/data`;
}
