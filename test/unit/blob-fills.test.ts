// The single flight of pull-through blob fetches (src/metadata/fills.ts): one claim per digest at a time,
// released by its holder only, waiters woken by the release or the lease's end, or their own limit.
import { describe, expect, it } from "vitest";
import { BlobFills } from "../../src/metadata/fills";
import { Clock } from "./support/memory";

const D = `sha256:${"a".repeat(64)}`;

describe("BlobFills", () => {
  it("one claim at a time; only the holder releases it, and the release wakes every waiter", async () => {
    const f = new BlobFills();
    const id = await f.claimFill(D, 60_000);
    expect(id).toEqual(expect.any(String));
    expect(await f.claimFill(D, 60_000)).toBeNull();
    expect(await f.claimFill(`sha256:${"b".repeat(64)}`, 60_000)).not.toBeNull(); // another digest: its own claim
    let woken = 0;
    const waiters = [f.awaitFill(D, 60_000), f.awaitFill(D, 60_000)].map((p) => p.then(() => woken++));
    await f.releaseFill(D, "not-the-holder");
    await new Promise((r) => setTimeout(r, 5));
    expect(woken).toBe(0);
    await f.releaseFill(D, id!);
    await Promise.all(waiters);
    expect(woken).toBe(2);
    expect(await f.claimFill(D, 60_000)).not.toBeNull();
  });

  it("a claim past its lease is taken over, and waiting on it ends with the lease", async () => {
    const clock = new Clock();
    const f = new BlobFills(clock.now);
    const old = await f.claimFill(D, 30);
    const waited = f.awaitFill(D, 60_000); // woken by the take-over (or its own timer, at the lease's end)
    clock.advance(31);
    const next = await f.claimFill(D, 60_000);
    expect(next).not.toBeNull();
    expect(next).not.toBe(old);
    await waited;
    await f.releaseFill(D, old!); // the old holder's late release leaves the new claim alone
    expect(await f.claimFill(D, 60_000)).toBeNull();
  });

  it("a waiter gives up after its own limit or the lease's end; nothing to wait for resolves at once", async () => {
    const f = new BlobFills();
    await f.awaitFill(D, 60_000);
    await f.claimFill(D, 60_000);
    const t0 = Date.now();
    await f.awaitFill(D, 20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
    const short = new BlobFills();
    await short.claimFill(D, 20);
    const t1 = Date.now();
    await short.awaitFill(D, 60_000);
    expect(Date.now() - t1).toBeLessThan(1000);
  });
});
