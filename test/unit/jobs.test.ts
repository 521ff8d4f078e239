// The background job runner (src/jobs/runner.ts) over memory, with the storage-stats job and jobs made up
// here: runs in bounded steps, checkpoints that survive a restart, one run per kind at a time, refusals,
// retries with backoff on an injected clock and failure after MAX_STEP_FAILURES; and the admin API in front
// of it (POST/GET /v2/_berth/ext/jobs/<kind>).
import { describe, expect, it } from "vitest";
import type { Job, JobEnvironment } from "../../src/jobs/job";
import { JOBS } from "../../src/jobs/kinds";
import type { JobReport } from "../../src/jobs/protocol";
import { JobRunner, MAX_STEP_FAILURES } from "../../src/jobs/runner";
import { storageOn } from "../../src/storage";
import { MemoryDriver } from "../../src/storage/driver/memory";
import { pattern, sha256 } from "./support/content";
import { Clock, MemoryRunnerStorage } from "./support/memory";
import { expectError, expectStatus, registry, ROOT } from "./support/registry";

const BASE = `${ROOT}/docker/registry/v2/`;

/** A bucket with `n` blobs of sizes 10, 20, … (`sizes` in key order, as a walk sees them) and keys that are not blobs. */
function bucket(n: number) {
  const clock = new Clock();
  const driver = new MemoryDriver(clock.now);
  const byKey = new Map<string, number>();
  for (let i = 1; i <= n; i++) {
    const data = pattern(10 * i, i);
    const hex = sha256(data).slice(7);
    const key = `${BASE}blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    driver.seed(key, data);
    byKey.set(key, data.byteLength);
  }
  driver.seed(`${BASE}repositories/r/_layers/sha256/${"a".repeat(64)}/link`, "x");
  driver.seed(`${BASE}blobs/sha256/zz/stray`, "not a blob");
  const sizes = [...byKey.keys()].sort().map((k) => byKey.get(k)!);
  const bytes = sizes.reduce((a, b) => a + b, 0);
  return { clock, driver, sizes, bytes, env: { storage: storageOn(driver, ROOT), now: clock.now } as JobEnvironment };
}

function runnerOver(storage: MemoryRunnerStorage, env: JobEnvironment, jobs: ReadonlyMap<string, Job<unknown>> = JOBS) {
  return new JobRunner(storage, jobs, env);
}

/** Fires the runner's alarm while one is set, moving the clock to it; returns the alarms fired. */
async function drive(runner: JobRunner, storage: MemoryRunnerStorage, clock: Clock, max = 50): Promise<number> {
  let n = 0;
  while (storage.alarm !== null && n < max) {
    const at = storage.alarm;
    storage.alarm = null;
    if (at > clock.t) clock.t = at;
    await runner.alarm();
    n++;
  }
  return n;
}

function started(r: Awaited<ReturnType<JobRunner["start"]>>): { started: boolean; report: JobReport } {
  if ("error" in r) throw new Error(`refused: ${r.error}`);
  return r;
}

describe("storage-stats", () => {
  it("counts exactly the blobs and bytes in the bucket, in several steps of perStep blobs", async () => {
    const { clock, env, bytes, sizes } = bucket(7);
    const storage = new MemoryRunnerStorage();
    const runner = runnerOver(storage, env);
    const s = started(await runner.start("storage-stats", { perStep: "3" }));
    expect(s.started).toBe(true);
    expect(s.report).toMatchObject({ kind: "storage-stats", state: "running", steps: 0, result: { blobs: 0, bytes: 0 }, finishedAt: null, error: null });
    expect(storage.alarm).toBe(clock.t);

    storage.alarm = null;
    await runner.alarm();
    expect((await runner.status("storage-stats"))?.result).toEqual({ blobs: 3, bytes: sizes[0]! + sizes[1]! + sizes[2]! });
    expect(storage.alarm).toBe(clock.t); // the next step right away

    await drive(runner, storage, clock);
    const done = (await runner.status("storage-stats"))!;
    expect(done).toMatchObject({ id: s.report.id, state: "done", steps: 3, result: { blobs: 7, bytes }, error: null });
    expect(done.finishedAt).toBe(new Date(clock.t).toISOString());
    expect(storage.alarm).toBeNull(); // nothing left to run
  });

  it("a run resumes from its checkpoint in a new runner (the object restarted): nothing counted twice", async () => {
    const { clock, driver, bytes, sizes } = bucket(5);
    const storage = new MemoryRunnerStorage();
    const envOf = () => ({ storage: storageOn(driver, ROOT), now: clock.now });
    started(await runnerOver(storage, envOf()).start("storage-stats", { perStep: 2 }));
    storage.alarm = null;
    await runnerOver(storage, envOf()).alarm();
    expect((await runnerOver(storage, envOf()).status("storage-stats"))?.result).toEqual({ blobs: 2, bytes: sizes[0]! + sizes[1]! });
    // A new runner over new stores: only the saved state carries over.
    const restarted = runnerOver(storage, envOf());
    storage.alarm = clock.t;
    await drive(restarted, storage, clock);
    expect(await restarted.status("storage-stats")).toMatchObject({ state: "done", steps: 3, result: { blobs: 5, bytes } });
  });

  it("an empty bucket is counted in one step", async () => {
    const { clock, env } = bucket(0);
    const storage = new MemoryRunnerStorage();
    const runner = runnerOver(storage, env);
    started(await runner.start("storage-stats", {}));
    expect(await drive(runner, storage, clock)).toBe(1);
    expect(await runner.status("storage-stats")).toMatchObject({ state: "done", steps: 1, result: { blobs: 0, bytes: 0 } });
  });

  it.each([0, -1, 5001, 1.5, "many"])("refuses perStep %s", async (perStep) => {
    const { env } = bucket(1);
    const r = await runnerOver(new MemoryRunnerStorage(), env).start("storage-stats", { perStep });
    expect(r).toEqual({ error: "perStep must be an integer from 1 to 5000" });
  });
});

describe("JobRunner", () => {
  it("a second start while a run is on returns that run (started: false); after it ended, a new run starts", async () => {
    const { clock, env } = bucket(3);
    const storage = new MemoryRunnerStorage();
    const runner = runnerOver(storage, env);
    const first = started(await runner.start("storage-stats", { perStep: 1 }));
    const second = started(await runner.start("storage-stats", { perStep: 2 }));
    expect(second).toEqual({ started: false, report: first.report });
    await drive(runner, storage, clock);
    const third = started(await runner.start("storage-stats", {}));
    expect(third.started).toBe(true);
    expect(third.report.id).not.toBe(first.report.id);
    expect(third.report.steps).toBe(0);
  });

  it("refuses a kind it does not know, naming the ones it does; status of a kind never run is null", async () => {
    const { env } = bucket(0);
    const runner = runnerOver(new MemoryRunnerStorage(), env);
    expect(await runner.start("compact", {})).toEqual({ error: 'unknown job "compact"; known: storage-stats, gc, referrers-backfill, sync' });
    expect(await runner.status("storage-stats")).toBeNull();
  });

  it("retries a failing step with growing backoff, and gives the run up after MAX_STEP_FAILURES", async () => {
    const { clock, env } = bucket(0);
    let calls = 0;
    const flaky: Job<{ n: number }> = {
      kind: "flaky",
      start: () => ({ n: 0 }),
      step: async () => {
        calls++;
        throw new TypeError("bucket unreachable");
      },
      result: (s) => ({ n: s.n }),
    };
    const storage = new MemoryRunnerStorage();
    const runner = runnerOver(storage, env, new Map([["flaky", flaky as Job<unknown>]]));
    started(await runner.start("flaky", {}));
    const t0 = clock.t;
    const waits: number[] = [];
    for (let i = 1; i < MAX_STEP_FAILURES; i++) {
      const before = clock.t;
      storage.alarm = null;
      await runner.alarm();
      expect(calls).toBe(i);
      const report = (await runner.status("flaky"))!;
      expect(report).toMatchObject({ state: "running", steps: 0, error: "TypeError: bucket unreachable" });
      waits.push(storage.alarm! - before);
      // An alarm before the backoff is over does not run the step.
      clock.t = storage.alarm! - 1;
      await runner.alarm();
      expect(calls).toBe(i);
      clock.t = storage.alarm!;
    }
    expect(waits).toEqual([2000, 4000, 8000, 16000]);
    storage.alarm = null;
    await runner.alarm();
    expect(calls).toBe(MAX_STEP_FAILURES);
    const failed = (await runner.status("flaky"))!;
    expect(failed).toMatchObject({ state: "failed", error: "TypeError: bucket unreachable", finishedAt: new Date(clock.t).toISOString() });
    expect(clock.t - t0).toBe(2000 + 4000 + 8000 + 16000);
    expect(storage.alarm).toBeNull();
  });

  it("a step that succeeds after failures clears the error and the failure count", async () => {
    const { clock, env } = bucket(0);
    let calls = 0;
    const job: Job<{ n: number }> = {
      kind: "bumpy",
      start: () => ({ n: 0 }),
      step: async (s) => {
        calls++;
        if (calls === 1 || calls === 3) throw new Error("hiccup");
        return { state: { n: s.n + 1 }, done: s.n + 1 >= 3 };
      },
      result: (s) => ({ n: s.n }),
    };
    const storage = new MemoryRunnerStorage();
    const runner = runnerOver(storage, env, new Map([["bumpy", job as Job<unknown>]]));
    started(await runner.start("bumpy", {}));
    await drive(runner, storage, clock);
    expect(await runner.status("bumpy")).toMatchObject({ state: "done", steps: 3, result: { n: 3 }, error: null });
    // Fail, wait 2 s, succeed, go on at once, fail: the first backoff again (the success reset the count).
    const waits = storage.alarmsSet.slice(1).map((t, i) => t - storage.alarmsSet[i]!);
    expect(waits).toEqual([2000, 0, 2000, 0]);
  });

  it("a stored run of a kind this version no longer has fails instead of running", async () => {
    const { clock, env } = bucket(0);
    const storage = new MemoryRunnerStorage();
    const gone: Job<null> = { kind: "gone", start: () => null, step: async () => ({ state: null, done: false }), result: () => ({}) };
    started(await runnerOver(storage, env, new Map([["gone", gone as Job<unknown>]])).start("gone", {}));
    const upgraded = runnerOver(storage, env, new Map());
    await drive(upgraded, storage, clock);
    expect(await upgraded.status("gone")).toMatchObject({ state: "failed", error: "this version of Berth no longer has the job" });
  });

  it("runs of different kinds advance side by side", async () => {
    const { clock, env, bytes } = bucket(4);
    const counter: Job<{ n: number }> = {
      kind: "counter",
      start: () => ({ n: 0 }),
      step: async (s) => ({ state: { n: s.n + 1 }, done: s.n + 1 === 2 }),
      result: (s) => ({ n: s.n }),
    };
    const storage = new MemoryRunnerStorage();
    const runner = runnerOver(storage, env, new Map([...JOBS, ["counter", counter as Job<unknown>]]));
    started(await runner.start("storage-stats", { perStep: 1 }));
    started(await runner.start("counter", {}));
    await drive(runner, storage, clock);
    expect(await runner.status("counter")).toMatchObject({ state: "done", steps: 2 });
    expect(await runner.status("storage-stats")).toMatchObject({ state: "done", result: { blobs: 4, bytes } });
  });
});

describe("the admin API: /v2/_berth/ext/jobs/<kind>", () => {
  it("POST starts a run (202, its report), a second POST answers the running one (200); GET shows progress and the result", async () => {
    const r = registry();
    for (const c of ["1", "2", "3"]) r.driver.seed(`${BASE}blobs/sha256/${c}${c}/${c.repeat(64)}/data`, "abc");
    expect(await (await expectStatus(await r.call("GET", "/v2/_berth/ext/jobs/storage-stats"), 200)).json()).toEqual({ kind: "storage-stats", state: "idle" });
    const start = (await (await expectStatus(await r.call("POST", "/v2/_berth/ext/jobs/storage-stats?perStep=2"), 202)).json()) as JobReport;
    expect(start).toMatchObject({ kind: "storage-stats", state: "running", steps: 0 });
    const again = (await (await expectStatus(await r.call("POST", "/v2/_berth/ext/jobs/storage-stats"), 200)).json()) as JobReport;
    expect(again.id).toBe(start.id);
    await r.runJobs();
    const done = (await (await expectStatus(await r.call("GET", "/v2/_berth/ext/jobs/storage-stats"), 200)).json()) as JobReport;
    expect(done).toMatchObject({ id: start.id, state: "done", steps: 2, result: { blobs: 3, bytes: 9 } });
  });

  it("404 UNSUPPORTED for an unknown or malformed kind, 400 for bad parameters", async () => {
    const r = registry();
    expect((await expectError(await r.call("POST", "/v2/_berth/ext/jobs/compact"), 404, "UNSUPPORTED")).message).toContain("unknown job");
    await expectError(await r.call("GET", "/v2/_berth/ext/jobs/Bad_Kind"), 404, "UNSUPPORTED");
    await expectError(await r.call("POST", "/v2/_berth/ext/jobs/storage-stats?perStep=0"), 400, "UNSUPPORTED");
    expect(r.jobStorage.values.size).toBe(0);
  });
});
