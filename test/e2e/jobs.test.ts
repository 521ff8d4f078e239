// Background jobs end to end: the job coordinator Durable Object under wrangler dev runs the storage-stats job
// (a walk of blobs/ that counts blobs and bytes) in bounded steps, started by the admin API and by a Cron
// Trigger (`wrangler dev --test-scheduled` serves /__scheduled), survives a reload of the Worker mid-run, and
// the admin API refuses callers outside the adminPolicy.
import bcrypt from "bcryptjs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { listKeys } from "./harness/s3.js";
import { pollUntil, pushBlob, rand, randomBytes, req } from "./helpers/registry.js";

const ROOT = `t-jobs-${rand()}`;
const JOB = "/v2/_berth/ext/jobs/storage-stats";

interface Report {
  id?: string;
  kind: string;
  state: string;
  steps?: number;
  result?: { blobs: number; bytes: number };
  error?: string | null;
}

let berth: Berth;
/** Every blob pushed, and their bytes. */
const pushed = { blobs: 0, bytes: 0 };

async function report(base = berth.url): Promise<Report> {
  const res = await req(base, JOB);
  expect(res.status).toBe(200);
  return (await res.json()) as Report;
}

async function finished(id: string, base = berth.url): Promise<Report> {
  return pollUntil(
    `storage-stats run ${id} finishes`,
    async () => {
      const r = await report(base);
      return r.id === id && r.state !== "running" ? r : undefined;
    },
    60_000,
  );
}

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT }, { extraArgs: ["--test-scheduled"] });
  // 7 blobs in two repositories, one of them in both (content-addressed: stored once).
  const shared = randomBytes(3000);
  for (const [repo, bytes] of [
    ["jobs/a", shared],
    ["jobs/b", shared],
    ["jobs/a", randomBytes(10)],
    ["jobs/a", randomBytes(1)],
    ["jobs/b", randomBytes(70_000)],
    ["jobs/b", randomBytes(0)],
    ["jobs/a", randomBytes(5)],
    ["jobs/b", randomBytes(123)],
  ] as const) {
    await pushBlob(berth.url, repo, bytes);
  }
  const keys = (await listKeys(`${ROOT}/docker/registry/v2/blobs/`)).filter((k) => k.endsWith("/data"));
  pushed.blobs = keys.length;
  pushed.bytes = 3000 + 10 + 1 + 70_000 + 0 + 5 + 123;
});

afterAll(async () => {
  await berth?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.error(`--- berth logs (tail)\n${berth.logs().slice(-4000)}`);
});

describe("storage-stats", () => {
  it("has never run: GET says idle", async () => {
    const fresh = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `${ROOT}-empty` });
    try {
      expect(await report(fresh.url)).toEqual({ kind: "storage-stats", state: "idle" });
    } finally {
      await fresh.stop();
    }
  });

  it("started by the admin API, runs in several steps and counts every blob and byte", async () => {
    expect(pushed.blobs).toBe(7);
    const res = await req(berth.url, `${JOB}?perStep=2`, { method: "POST" });
    expect(res.status).toBe(202);
    const started = (await res.json()) as Report;
    expect(started).toMatchObject({ kind: "storage-stats", state: "running" });
    const done = await finished(started.id!);
    expect(done.state).toBe("done");
    expect(done.result).toEqual({ blobs: pushed.blobs, bytes: pushed.bytes });
    expect(done.steps).toBeGreaterThanOrEqual(4); // 7 blobs, 2 per step
  });

  it("a start while a run is on answers that run (200), not a second one", async () => {
    const first = (await (await req(berth.url, `${JOB}?perStep=1`, { method: "POST" })).json()) as Report;
    const again = await req(berth.url, `${JOB}?perStep=1`, { method: "POST" });
    const second = (await again.json()) as Report;
    if (second.id === first.id) expect(again.status).toBe(200);
    else expect(first.state).not.toBe("running"); // the first was already done: a new run was started
    await finished(second.id!);
  });

  it("bad parameters and unknown jobs are refused", async () => {
    const bad = await req(berth.url, `${JOB}?perStep=0`, { method: "POST" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { code: string; message: string }[] }).errors[0]?.message).toMatch(/perStep/);
    const unknown = await req(berth.url, "/v2/_berth/ext/jobs/no-such-job", { method: "POST" });
    expect(unknown.status).toBe(404);
    expect((await req(berth.url, JOB, { method: "DELETE" })).status).toBe(405);
  });

  it("survives a reload of the Worker mid-run and still counts exactly", async () => {
    const started = (await (await req(berth.url, `${JOB}?perStep=1`, { method: "POST" })).json()) as Report;
    await berth.reload();
    const done = await finished(started.id!);
    expect(done.state).toBe("done");
    expect(done.result).toEqual({ blobs: pushed.blobs, bytes: pushed.bytes });
  });

  it("a Cron Trigger starts it (wrangler dev --test-scheduled)", async () => {
    const before = await report();
    const res = await req(berth.url, "/__scheduled?cron=17+3+*+*+*");
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const run = await pollUntil(
      "a scheduled run appears",
      async () => {
        const r = await report();
        return r.id !== before.id ? r : undefined;
      },
      30_000,
    );
    const done = await finished(run.id!);
    expect(done.result).toEqual({ blobs: pushed.blobs, bytes: pushed.bytes });
  });
});

describe("the admin API is for admins only", () => {
  let guarded: Berth;

  beforeAll(async () => {
    const htpasswd = ["alice", "bob"].map((u) => `${u}:${bcrypt.hashSync(`${u}-pw`, 4)}`).join("\n");
    guarded = await startBerth({
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT,
      REGISTRY_AUTH: "htpasswd",
      REGISTRY_AUTH_HTPASSWD: htpasswd,
      BERTH_AUTH_FAIL_DELAY: "0s",
      REGISTRY_ACCESSCONTROL: JSON.stringify({
        repositories: { "**": { defaultPolicy: ["read", "create", "update", "delete"] } },
        adminPolicy: { users: ["alice"], actions: ["read", "create", "update", "delete"] },
      }),
    });
  });

  afterAll(async () => {
    await guarded?.stop();
  });

  const basic = (u: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${u}-pw`).toString("base64")}` });

  it("anonymous: 401 with the Basic challenge; a user outside adminPolicy: 403 DENIED; alice: 200", async () => {
    const anon = await req(guarded.url, JOB);
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toMatch(/^Basic /);
    const bob = await req(guarded.url, JOB, { method: "POST", headers: basic("bob") });
    expect(bob.status).toBe(403);
    expect(((await bob.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("DENIED");
    const alice = await req(guarded.url, JOB, { headers: basic("alice") });
    expect(alice.status).toBe(200);
    expect(((await alice.json()) as Report).kind).toBe("storage-stats");
  });
});
