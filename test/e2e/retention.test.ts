// Retention policies end to end: wrangler dev + Swift, BERTH_RETENTION applied by garbage-collection runs
// through the admin API. Push times come from the tag links' Last-Modified in Swift, pull times from the pull
// records Berth writes after a GET (off the request's path). Each rule has a case that keeps and one that
// removes: mostRecentlyPushedCount (with a dry run first that lists the tag and its rule and removes
// nothing), a pattern, pulledWithin, pushedWithin and mostRecentlyPulledCount; a repository no policy
// matches keeps everything.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { listKeys } from "./harness/s3.js";
import { collect, pullsWhole } from "./helpers/gc.js";
import { blobOf, imageManifest, putManifestOk, randomBlob } from "./helpers/manifests.js";
import { errorCode, pollUntil, pushBlob, rand, req } from "./helpers/registry.js";

const ROOT = `t-retention-${rand()}`;
const REPOS = `${ROOT}/docker/registry/v2/repositories/`;
/** pulledWithin's window: short, so that a tag pushed before the wait is not "too new to have been pulled". */
const WINDOW_S = 8;

const RETENTION = {
  delay: "1s",
  policies: [
    { repositories: ["count/**"], keepTags: [{ mostRecentlyPushedCount: 2 }] },
    { repositories: ["pulls/**"], keepTags: [{ pulledWithin: `${WINDOW_S}s` }] },
    { repositories: ["pattern/**"], keepTags: [{ patterns: ["^release-"] }] },
    { repositories: ["pushed/**"], keepTags: [{ pushedWithin: `${WINDOW_S}s` }] },
    { repositories: ["ranked/**"], keepTags: [{ mostRecentlyPulledCount: 1 }] },
  ],
};

let berth: Berth;

beforeAll(async () => {
  berth = await startBerth({
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT,
    BERTH_GC_DELAY: "0",
    BERTH_GC_FENCE_LEASE: "1s",
    BERTH_RETENTION: JSON.stringify(RETENTION),
  });
});

afterAll(async () => {
  await berth?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pushes an image with a layer of its own under `tag`; returns its manifest digest and blob digests. */
async function push(repo: string, tag: string): Promise<{ digest: string; blobs: string[] }> {
  const config = blobOf(JSON.stringify({ os: "linux", architecture: "amd64", r: rand() }));
  const layer = randomBlob(3000);
  for (const b of [config, layer]) await pushBlob(berth.url, repo, b);
  const manifest = imageManifest({ config, layers: [layer] });
  await putManifestOk(berth.url, repo, tag, manifest);
  return { digest: manifest.digest, blobs: [config.digest, layer.digest, manifest.digest] };
}

async function gone(repo: string, tag: string): Promise<void> {
  const res = await req(berth.url, `/v2/${repo}/manifests/${tag}`);
  expect(res.status, `${repo}:${tag}`).toBe(404);
  expect(await errorCode(res)).toBe("MANIFEST_UNKNOWN");
}

async function blobExists(digest: string): Promise<boolean> {
  const hex = digest.slice(7);
  return (await listKeys(`${ROOT}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/`)).length > 0;
}

describe("retention policies", () => {
  it("keep the most recently pushed tags and remove the rest (a dry run lists the tag and its rule first); other repositories keep everything", async () => {
    // Swift's Last-Modified has whole seconds: pushes a little over a second apart are ordered.
    const t1 = await push("count/app", "t1");
    await sleep(1100);
    await push("count/app", "t2");
    await sleep(1100);
    await push("count/app", "t3");
    await push("pattern/app", "release-1");
    await push("pattern/app", "nightly");
    await push("elsewhere/app", "old");

    const dry = await collect(berth, "?dryRun=true");
    const listed = dry.result.tagsRemovedList.map((t) => `${t.repository}:${t.tag}`).sort();
    expect(listed).toEqual(["count/app:t1", "pattern/app:nightly"]);
    const t1Reason = dry.result.tagsRemovedList.find((t) => t.tag === "t1")!;
    expect(t1Reason).toMatchObject({ digest: t1.digest, reason: expect.stringMatching(/^policies\[0\]\.keepTags\[0\]: .*not among the 2 most recently pushed/) });
    expect(dry.result.tagsRemovedList.find((t) => t.tag === "nightly")!.reason).toMatch(/^policies\[2\]: no keepTags rule keeps it/);
    expect([...dry.result.blobs]).toEqual(expect.arrayContaining(t1.blobs));
    await pullsWhole(berth, "count/app", "t1");

    const real = await collect(berth);
    expect(real.result.tagsRemovedList.map((t) => `${t.repository}:${t.tag}`).sort()).toEqual(listed);
    await gone("count/app", "t1");
    await gone("pattern/app", "nightly");
    for (const d of t1.blobs) expect(await blobExists(d), d).toBe(false);
    for (const [repo, tag] of [["count/app", "t2"], ["count/app", "t3"], ["pattern/app", "release-1"], ["elsewhere/app", "old"]] as const) {
      await pullsWhole(berth, repo, tag);
    }
  });

  it("pulledWithin, pushedWithin and mostRecentlyPulledCount keep what was pulled or pushed lately and remove the rest", async () => {
    await push("pulls/app", "used");
    const idle = await push("pulls/app", "idle");
    await push("pushed/app", "old");
    await push("ranked/app", "pulled");
    await push("ranked/app", "unpulled");
    await sleep((WINDOW_S + 1) * 1000); // every push so far is older than the windows
    await push("pushed/app", "new");
    for (const [repo, tag] of [["pulls/app", "used"], ["ranked/app", "pulled"]]) {
      const res = await req(berth.url, `/v2/${repo}/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      expect(res.status).toBe(200);
      await res.body?.cancel();
      // The pull is recorded after the answer: wait for its record in the bucket.
      await pollUntil(`the pull of ${repo}:${tag} is recorded`, async () => ((await listKeys(`${REPOS}${repo}/_berth/pulls/`)).length > 0 ? true : undefined), 10_000);
    }

    const report = await collect(berth);
    const removed = (repo: string) => report.result.tagsRemovedList.filter((t) => t.repository === repo);
    expect(removed("pulls/app").map((t) => t.tag)).toEqual(["idle"]);
    expect(removed("pulls/app")[0]!.reason).toContain(`never pulled (pulledWithin ${WINDOW_S}s)`);
    expect(removed("pushed/app").map((t) => t.tag)).toEqual(["old"]);
    expect(removed("ranked/app").map((t) => t.tag)).toEqual(["unpulled"]);
    await gone("pulls/app", "idle");
    await gone("pushed/app", "old");
    await gone("ranked/app", "unpulled");
    for (const d of idle.blobs) expect(await blobExists(d), d).toBe(false);
    for (const [repo, tag] of [["pulls/app", "used"], ["pushed/app", "new"], ["ranked/app", "pulled"]] as const) await pullsWhole(berth, repo, tag);
  });
});
