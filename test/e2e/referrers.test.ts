// End-to-end tests of the OCI 1.1 referrers API, GET /v2/<name>/referrers/<digest>: which manifests are listed
// (image manifests and indexes with a `subject`), the descriptor fields copied from them (mediaType, digest, size,
// artifactType — from the manifest, else an image manifest's config.mediaType — and annotations), the
// artifactType filter and its OCI-Filters-Applied header, the never-404 rule, and removal on delete.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import {
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  blobOf,
  descriptor,
  digestOf,
  enc,
  imageManifest,
  indexManifest,
  manifestOf,
  putManifest,
  putManifestOk,
  pushBlob,
  pushImageBlobs,
  rand,
  req,
  statusAndCode,
  type Blob,
  type Manifest,
} from "./helpers/manifests.js";

const ROOT = `t-referrers-${rand()}`;
const SBOM = "application/vnd.example.sbom.v1+json";
const SIG_CONFIG = "application/vnd.example.signature.config.v1+json";
const BUNDLE = "application/vnd.example.bundle.v1";

let berth: Berth;
let url: string;

beforeAll(async () => {
  berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT });
  url = berth.url;
});

afterAll(async () => {
  await berth?.stop();
});

type Desc = { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> };
type Index = { schemaVersion: number; mediaType: string; manifests: Desc[] };

const EMPTY = blobOf("{}");

async function referrers(repo: string, subject: string, query = ""): Promise<{ res: Response; body: Index }> {
  const res = await req(url, `/v2/${repo}/referrers/${subject}${query}`);
  expect(res.status, `referrers of ${subject}${query}`).toBe(200);
  expect(res.headers.get("Content-Type")).toBe(OCI_INDEX);
  const body = (await res.json()) as Index;
  expect(body.schemaVersion).toBe(2);
  expect(body.mediaType).toBe(OCI_INDEX);
  return { res, body };
}

const byDigest = (a: Desc, b: Desc) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

/** An artifact: top-level artifactType with the empty config (OCI 1.1 guidance). */
function sbomArtifact(subject: Manifest, payload: Blob, annotations: Record<string, string>): Manifest {
  return manifestOf(
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SBOM,
      config: descriptor(EMPTY, OCI_EMPTY),
      layers: [descriptor(payload, "application/spdx+json")],
      subject: descriptor(subject, subject.mediaType),
      annotations,
    },
    OCI_MANIFEST,
  );
}

/** An artifact typed by its config's mediaType (no artifactType field). */
function sigArtifact(subject: Manifest, config: Blob, annotations: Record<string, string>): Manifest {
  return manifestOf(
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(config, SIG_CONFIG),
      layers: [],
      subject: descriptor(subject, subject.mediaType),
      annotations,
    },
    OCI_MANIFEST,
  );
}

describe("referrers of an image", () => {
  const sbomAnnotations = { "org.opencontainers.image.created": "2026-01-02T03:04:05Z", "com.example.kind": "sbom" };
  const sigAnnotations = { "com.example.kind": "signature", "com.example.key": "k1" };

  /**
   * A repository of its own for each test: an image tagged v1 (the subject), the blobs of two artifacts that
   * refer to it, and (with `pushed`) the artifacts themselves: the SBOM by digest, the signature as "sig-tag".
   */
  async function image(pushed = true): Promise<{ repo: string; subject: Manifest; sbom: Manifest; sig: Manifest }> {
    const repo = `r-${rand()}/app`;
    const subject = (await pushImageBlobs(url, repo)).manifest;
    await putManifestOk(url, repo, "v1", subject);
    const payload = blobOf(JSON.stringify({ spdxVersion: "SPDX-2.3", r: rand() }));
    const sigConfig = blobOf(JSON.stringify({ sig: rand() }));
    for (const b of [EMPTY, payload, sigConfig]) await pushBlob(url, repo, b);
    const sbom = sbomArtifact(subject, payload, sbomAnnotations);
    const sig = sigArtifact(subject, sigConfig, sigAnnotations);
    if (pushed) {
      await putManifestOk(url, repo, sbom.digest, sbom);
      await putManifestOk(url, repo, "sig-tag", sig);
    }
    return { repo, subject, sbom, sig };
  }

  it("pushing artifacts with a subject → 201 with OCI-Subject", async () => {
    const { repo, subject, sbom, sig } = await image(false);
    const a = await putManifest(url, repo, sbom.digest, sbom);
    expect(await statusAndCode(a)).toEqual({ status: 201, code: undefined });
    expect(a.headers.get("OCI-Subject")).toBe(subject.digest);
    const b = await putManifest(url, repo, "sig-tag", sig);
    expect(await statusAndCode(b)).toEqual({ status: 201, code: undefined });
    expect(b.headers.get("OCI-Subject")).toBe(subject.digest);
  });

  it("lists both, with mediaType, digest, size, artifactType and annotations", async () => {
    const { repo, subject, sbom, sig } = await image();
    const { res, body } = await referrers(repo, subject.digest);
    expect(res.headers.get("OCI-Filters-Applied")).toBeNull();
    expect([...body.manifests].sort(byDigest)).toEqual(
      [
        { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.size, artifactType: SBOM, annotations: sbomAnnotations },
        // No artifactType in the manifest: the config's mediaType stands in (image-spec / distribution-spec 1.1).
        { mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.size, artifactType: SIG_CONFIG, annotations: sigAnnotations },
      ].sort(byDigest),
    );
  });

  it("?artifactType= keeps only that type and says so with OCI-Filters-Applied", async () => {
    const { repo, subject, sbom, sig } = await image();
    const only = await referrers(repo, subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    expect(only.res.headers.get("OCI-Filters-Applied")).toBe("artifactType");
    expect(only.body.manifests.map((d) => d.digest)).toEqual([sbom.digest]);

    const sigOnly = await referrers(repo, subject.digest, `?artifactType=${encodeURIComponent(SIG_CONFIG)}`);
    expect(sigOnly.res.headers.get("OCI-Filters-Applied")).toBe("artifactType");
    expect(sigOnly.body.manifests.map((d) => d.digest)).toEqual([sig.digest]);

    const none = await referrers(repo, subject.digest, `?artifactType=${encodeURIComponent("application/vnd.none")}`);
    expect(none.res.headers.get("OCI-Filters-Applied")).toBe("artifactType");
    expect(none.body.manifests).toEqual([]);
  });

  it("an unknown subject, or an unknown repository → 200 with an empty index", async () => {
    const { repo, subject } = await image();
    const unknown = digestOf(enc(`nothing refers to this ${rand()}`));
    expect((await referrers(repo, unknown)).body.manifests).toEqual([]);
    // Referrers are per repository: the same subject seen from another repository has none.
    expect((await referrers(`r-${rand()}/other`, subject.digest)).body.manifests).toEqual([]);
  });

  it("a syntactically invalid digest → 400 DIGEST_INVALID", async () => {
    const repo = `r-${rand()}/app`;
    for (const bad of ["sha256:xyz", `sha256:${"A".repeat(64)}`, "notadigest", `sha256:${"a".repeat(63)}`, "md5:d41d8cd98f00b204e9800998ecf8427e"]) {
      const res = await req(url, `/v2/${repo}/referrers/${bad}`);
      expect(await statusAndCode(res), bad).toEqual({ status: 400, code: "DIGEST_INVALID" });
    }
  });

  it("deleting a referrer's tag keeps it listed; deleting the referrer manifest removes it", async () => {
    const { repo, subject, sbom, sig } = await image();
    const untag = await req(url, `/v2/${repo}/manifests/sig-tag`, { method: "DELETE" });
    expect(untag.status).toBe(202);
    expect((await referrers(repo, subject.digest)).body.manifests.map((d) => d.digest).sort()).toEqual(
      [sbom.digest, sig.digest].sort(),
    );

    const del = await req(url, `/v2/${repo}/manifests/${sig.digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect((await referrers(repo, subject.digest)).body.manifests.map((d) => d.digest)).toEqual([sbom.digest]);
    const filtered = await referrers(repo, subject.digest, `?artifactType=${encodeURIComponent(SIG_CONFIG)}`);
    expect(filtered.body.manifests).toEqual([]);
  });
});

describe("referrers: other shapes", () => {
  const repo = `r-${rand()}/shapes`;
  let subject: Manifest;

  beforeAll(async () => {
    subject = (await pushImageBlobs(url, repo)).manifest;
    await putManifestOk(url, repo, "v1", subject);
    await pushBlob(url, repo, EMPTY);
  });

  it("an index with a subject is listed; its artifactType is reported, or omitted when absent", async () => {
    const a = (await pushImageBlobs(url, repo)).manifest;
    const b = (await pushImageBlobs(url, repo)).manifest;
    for (const c of [a, b]) await putManifestOk(url, repo, c.digest, c);
    const typed = indexManifest([a, b], { artifactType: BUNDLE, subject, annotations: { "com.example.kind": "bundle" } });
    const untyped = indexManifest([a], { subject, annotations: { "com.example.kind": "plain-index" } });
    for (const idx of [typed, untyped]) {
      const res = await putManifest(url, repo, idx.digest, idx);
      expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
      expect(res.headers.get("OCI-Subject")).toBe(subject.digest);
    }

    const { body } = await referrers(repo, subject.digest);
    expect([...body.manifests].sort(byDigest)).toEqual(
      [
        { mediaType: OCI_INDEX, digest: typed.digest, size: typed.size, artifactType: BUNDLE, annotations: { "com.example.kind": "bundle" } },
        { mediaType: OCI_INDEX, digest: untyped.digest, size: untyped.size, annotations: { "com.example.kind": "plain-index" } },
      ].sort(byDigest),
    );
    const filtered = await referrers(repo, subject.digest, `?artifactType=${encodeURIComponent(BUNDLE)}`);
    expect(filtered.body.manifests.map((d) => d.digest)).toEqual([typed.digest]);
  });

  it("a referrer pushed before its subject exists is listed for that digest", async () => {
    const later = imageManifest({ config: EMPTY, layers: [], configMediaType: OCI_EMPTY, annotations: { later: rand() } });
    const ref = manifestOf(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SBOM,
        config: descriptor(EMPTY, OCI_EMPTY),
        layers: [descriptor(EMPTY, OCI_EMPTY)],
        subject: descriptor(later, OCI_MANIFEST),
      },
      OCI_MANIFEST,
    );
    const res = await putManifest(url, repo, ref.digest, ref);
    expect(await statusAndCode(res)).toEqual({ status: 201, code: undefined });
    expect(res.headers.get("OCI-Subject")).toBe(later.digest);
    // No annotations in the referrer: the descriptor has none either.
    expect((await referrers(repo, later.digest)).body.manifests).toEqual([
      { mediaType: OCI_MANIFEST, digest: ref.digest, size: ref.size, artifactType: SBOM },
    ]);
    // Pushing the subject afterwards changes nothing.
    await putManifestOk(url, repo, "later", later);
    expect((await referrers(repo, later.digest)).body.manifests.map((d) => d.digest)).toEqual([ref.digest]);
  });

  it("a refused referrer (missing blob) is not listed", async () => {
    const missing = blobOf(`never pushed ${rand()}`);
    const subj = imageManifest({ config: EMPTY, layers: [], configMediaType: OCI_EMPTY, annotations: { s: rand() } });
    const ref = manifestOf(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SBOM,
        config: descriptor(EMPTY, OCI_EMPTY),
        layers: [descriptor(missing, "application/octet-stream")],
        subject: descriptor(subj, OCI_MANIFEST),
      },
      OCI_MANIFEST,
    );
    const res = await putManifest(url, repo, ref.digest, ref);
    expect(await statusAndCode(res)).toEqual({ status: 400, code: "MANIFEST_BLOB_UNKNOWN" });
    expect((await referrers(repo, subj.digest)).body.manifests).toEqual([]);
  });
});
