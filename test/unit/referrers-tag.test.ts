// Referrers recorded with the spec's referrers tag schema (content Berth did not index, e.g. written by
// Distribution): the tag's name, the referrers API including the listed manifests whose subject is valid, and
// the backfill job indexing them through the repository's metadata object.
import { describe, expect, it } from "vitest";
import { referrersTag } from "../../src/oci/referrers-tag";
import { imageIndex } from "./support/content";
import { pushImage, putManifest } from "./support/flows";
import { expectStatus, registry, ROOT, type TestRegistry } from "./support/registry";

describe("referrers tag", () => {
  it("is the algorithm and the encoded part cut to 32 and 64 characters, with characters a tag may not hold replaced", () => {
    const a64 = "a".repeat(64);
    expect(referrersTag(`sha256:${a64}`)).toBe(`sha256-${a64}`);
    expect(referrersTag(`sha512:${"a".repeat(128)}`)).toBe(`sha512-${a64}`);
    expect(
      referrersTag(
        "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation",
      ),
    ).toBe("test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot");
  });
});

/** A subject with two referrers the way a tag-schema client leaves them: Berth's own index entries gone. */
async function taggedContent(r: TestRegistry) {
  const subject = await pushImage(r, "app", "v1", 1);
  const sbom = await pushImage(r, "app", null, 2, { subject: subject.manifest, artifactType: "application/spdx+json" });
  const sig = await pushImage(r, "app", null, 3, { subject: subject.manifest, artifactType: "application/vnd.dev.cosign" });
  const other = await pushImage(r, "app", null, 4); // listed in the tag, but has no subject
  const stranger = await pushImage(r, "app", null, 5, { subject: other.manifest }); // listed, but refers elsewhere
  for (const k of r.keys("repositories/app/_berth/referrers/")) r.driver.objects.delete(`${ROOT}/docker/registry/v2/${k}`);
  const list = imageIndex([sbom.manifest, sig.manifest, other.manifest, stranger.manifest]);
  await putManifest(r, "app", referrersTag(subject.manifest.digest), list);
  return { subject, sbom, sig };
}

async function referrers(r: TestRegistry, digest: string, query = ""): Promise<{ digest: string; artifactType?: string }[]> {
  const res = await expectStatus(await r.call("GET", `/v2/app/referrers/${digest}${query}`), 200);
  return ((await res.json()) as { manifests: { digest: string; artifactType?: string }[] }).manifests;
}

describe("referrers from the tag schema", () => {
  it("the referrers API includes the listed manifests whose subject is valid, and no others", async () => {
    const r = registry();
    const { subject, sbom, sig } = await taggedContent(r);
    expect(r.keys("repositories/app/_berth/referrers/")).toEqual([]);
    const got = await referrers(r, subject.manifest.digest);
    expect(got.map((m) => m.digest)).toEqual([sbom.manifest.digest, sig.manifest.digest].sort());
    expect(got.find((m) => m.digest === sbom.manifest.digest)?.artifactType).toBe("application/spdx+json");
    expect((await referrers(r, subject.manifest.digest, "?artifactType=application/vnd.dev.cosign")).map((m) => m.digest)).toEqual([sig.manifest.digest]);
    // A listed manifest deleted since is not served.
    await expectStatus(await r.call("DELETE", `/v2/app/manifests/${sbom.manifest.digest}`), 202);
    expect((await referrers(r, subject.manifest.digest)).map((m) => m.digest)).toEqual([sig.manifest.digest]);
  });

  it("the backfill job indexes them through the metadata object, once, and the API then lists each once", async () => {
    const r = registry();
    const { subject, sbom, sig } = await taggedContent(r);
    const started = await r.jobRunner.start("referrers-backfill", {});
    expect(started).toMatchObject({ started: true });
    for (let i = 0; i < 20 && r.jobStorage.alarm !== null; i++) {
      r.jobStorage.alarm = null;
      await r.jobRunner.alarm();
    }
    const report = await r.jobRunner.status("referrers-backfill");
    expect(report).toMatchObject({ state: "done", result: { repositories: 1, tags: 1, indexed: 2, gone: 0 } });
    const hex = (d: string) => d.slice("sha256:".length);
    expect(r.keys("repositories/app/_berth/referrers/").sort()).toEqual(
      [sbom, sig].map((m) => `repositories/app/_berth/referrers/sha256/${hex(subject.manifest.digest)}/sha256/${hex(m.manifest.digest)}`).sort(),
    );
    expect((await referrers(r, subject.manifest.digest)).map((m) => m.digest)).toEqual([sbom.manifest.digest, sig.manifest.digest].sort());
  });
});
