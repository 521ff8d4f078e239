// Referrers pushed through Distribution 2.8 by a client that falls back to the spec's referrers tag schema
// (Distribution has no referrers API): the subject's `sha256-<hex>` tag names an index listing the artifacts.
// Berth, on the same bucket, must include the listed manifests whose subject is valid in its referrers API
// (the spec's "Enabling the Referrers API"), before and after its backfill job indexed them, and leave out
// a listed manifest that refers to something else.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { listKeys } from "./harness/s3.js";
import { ensureTools } from "./harness/tools.js";
import { blobOf, imageManifest, indexManifest, putManifestOk, randomBlob, type Manifest } from "./helpers/manifests.js";
import { pollUntil, pushBlobInTwo, rand, req } from "./helpers/registry.js";

const ROOT = `t-referrers-tag-${rand()}`;
const REPO = "tagschema/app";
const EMPTY = blobOf("{}");

let berth: Berth;
let dist: Distribution;

beforeAll(async () => {
  await ensureTools("reference", ["docker-registry"]);
  [berth, dist] = await Promise.all([startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT }), startDistribution({ rootdirectory: ROOT })]);
});

afterAll(async () => {
  await Promise.all([berth?.stop(), dist?.stop()]);
});

/** An artifact manifest (empty config, one layer) with the given subject, pushed by digest to Distribution. */
async function pushArtifact(subject: Manifest, artifactType: string): Promise<Manifest> {
  const layer = randomBlob(200);
  for (const b of [EMPTY, layer]) await pushBlobInTwo(dist.url, REPO, b);
  const m = imageManifest({ config: EMPTY, configMediaType: "application/vnd.oci.empty.v1+json", layers: [layer], artifactType, subject });
  await putManifestOk(dist.url, REPO, m.digest, m);
  return m;
}

async function referrers(digest: string): Promise<{ digest: string; artifactType?: string }[]> {
  const res = await req(berth.url, `/v2/${REPO}/referrers/${digest}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { manifests: { digest: string; artifactType?: string }[] }).manifests;
}

describe("referrers written with the tag schema through Distribution", () => {
  it("are in Berth's referrers API at once, are indexed by the backfill job, and only those with a valid subject", async () => {
    const config = blobOf(JSON.stringify({ os: "linux", architecture: "amd64", r: rand() }));
    const layer = randomBlob(1000);
    for (const b of [config, layer]) await pushBlobInTwo(dist.url, REPO, b);
    const subject = imageManifest({ config, layers: [layer] });
    await putManifestOk(dist.url, REPO, "v1", subject);
    const other = imageManifest({ config, layers: [layer], annotations: { other: "yes" } });
    await putManifestOk(dist.url, REPO, other.digest, other);

    const sbom = await pushArtifact(subject, "application/spdx+json");
    const sig = await pushArtifact(subject, "application/vnd.dev.cosign.artifact.sig.v1+json");
    const elsewhere = await pushArtifact(other, "application/spdx+json");
    // What a tag-schema client does on a registry without the API: the subject's referrers tag lists them.
    // (The list also names a referrer of another subject: a client's mistake Berth must not repeat.)
    const tag = `sha256-${subject.digest.slice(7)}`;
    await putManifestOk(dist.url, REPO, tag, indexManifest([sbom, sig, elsewhere]));
    expect((await req(dist.url, `/v2/${REPO}/referrers/${subject.digest}`)).status).toBe(404); // Distribution 2.8

    const want = [sbom.digest, sig.digest].sort();
    const before = await referrers(subject.digest);
    expect(before.map((m) => m.digest)).toEqual(want);
    expect(before.find((m) => m.digest === sbom.digest)?.artifactType).toBe("application/spdx+json");
    expect(await listKeys(`${ROOT}/docker/registry/v2/repositories/${REPO}/_berth/referrers/`)).toEqual([]);

    const started = await req(berth.url, "/v2/_berth/ext/jobs/referrers-backfill", { method: "POST" });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const done = await pollUntil(
      "the backfill finishes",
      async () => {
        const r = (await (await req(berth.url, "/v2/_berth/ext/jobs/referrers-backfill")).json()) as { id: string; state: string; result: Record<string, number> };
        return r.id === id && r.state !== "running" ? r : undefined;
      },
      60_000,
    );
    expect(done).toMatchObject({ state: "done", result: { tags: 1, indexed: 2, gone: 0 } });
    const indexed = await listKeys(`${ROOT}/docker/registry/v2/repositories/${REPO}/_berth/referrers/sha256/${subject.digest.slice(7)}/`);
    expect(indexed.map((k) => `sha256:${k.split("/").at(-1)}`).sort()).toEqual(want);
    expect((await referrers(subject.digest)).map((m) => m.digest)).toEqual(want);
    // Distribution still serves its own content after the index was written beside it.
    expect((await req(dist.url, `/v2/${REPO}/manifests/${tag}`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.index.v1+json" } })).status).toBe(200);
  });
});
