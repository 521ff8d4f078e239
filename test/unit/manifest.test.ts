// Unit tests of src/oci/manifest.ts: media-type resolution, structure checks, descriptor validation, the
// blobs/manifests a push must reference, and the referrers fields.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/oci/errors";
import { parseManifest } from "../../src/oci/manifest";
import {
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V1,
  DOCKER_MANIFEST_V1_SIGNED,
  DOCKER_MANIFEST_V2,
  OCI_IMAGE_INDEX,
  OCI_IMAGE_MANIFEST,
  isImageManifestMediaType,
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  normalizeMediaType,
} from "../../src/oci/media-types";
import { caught } from "./oci-error";

// Types of what manifests reference: only their shape matters to Berth, so they live here, not in src/.
const OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONTAINER_CONFIG = "application/vnd.docker.container.image.v1+json";
const OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
const OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const D3 = `sha256:${"3".repeat(64)}`;
const D4 = `sha512:${"4".repeat(128)}`;

const enc = new TextEncoder();
const bytes = (v: unknown): Uint8Array => enc.encode(typeof v === "string" ? v : JSON.stringify(v));

const config = { mediaType: OCI_IMAGE_CONFIG, digest: D1, size: 100 };
const layer = { mediaType: OCI_LAYER_TAR_GZIP, digest: D2, size: 2000 };

function image(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: OCI_IMAGE_MANIFEST, config, layers: [layer], ...extra };
}

function index(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_IMAGE_INDEX,
    manifests: [{ mediaType: OCI_IMAGE_MANIFEST, digest: D3, size: 500, platform: { os: "linux", architecture: "amd64" } }],
    ...extra,
  };
}


function invalid(body: unknown, contentType: string | null, why: RegExp, code = "MANIFEST_INVALID"): void {
  const e = caught(() => parseManifest(body instanceof Uint8Array ? body : bytes(body), contentType));
  expect(e.code).toBe(code);
  expect(e.status).toBe(400);
  expect(e.message).toMatch(why);
}

describe("parseManifest: image manifests", () => {
  it("returns config and layers as blobs, and config.mediaType as artifactType", () => {
    const m = parseManifest(bytes(image()), OCI_IMAGE_MANIFEST);
    expect(m).toEqual({
      mediaType: OCI_IMAGE_MANIFEST,
      kind: "image",
      blobs: [config, layer],
      manifests: [],
      artifactType: OCI_IMAGE_CONFIG,
    });
  });

  it("accepts Docker schema2", () => {
    const body = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST_V2,
      config: { mediaType: DOCKER_CONTAINER_CONFIG, digest: D1, size: 1 },
      layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: D2, size: 2 }],
    };
    const m = parseManifest(bytes(body), DOCKER_MANIFEST_V2);
    expect(m.mediaType).toBe(DOCKER_MANIFEST_V2);
    expect(m.kind).toBe("image");
    expect(m.blobs.map((d) => d.digest)).toEqual([D1, D2]);
  });

  it("ignores Content-Type parameters and case", () => {
    expect(parseManifest(bytes(image()), `${OCI_IMAGE_MANIFEST}; charset=utf-8`).mediaType).toBe(OCI_IMAGE_MANIFEST);
    expect(parseManifest(bytes(image()), "Application/VND.OCI.Image.Manifest.v1+JSON").mediaType).toBe(OCI_IMAGE_MANIFEST);
  });

  it("takes the body's mediaType when Content-Type is missing or generic", () => {
    expect(parseManifest(bytes(image()), null).mediaType).toBe(OCI_IMAGE_MANIFEST);
    expect(parseManifest(bytes(image()), "application/json").mediaType).toBe(OCI_IMAGE_MANIFEST);
    expect(parseManifest(bytes(image()), "application/octet-stream").mediaType).toBe(OCI_IMAGE_MANIFEST);
  });

  it("takes Content-Type when the body has no mediaType", () => {
    const { mediaType: _, ...body } = image();
    expect(parseManifest(bytes(body), DOCKER_MANIFEST_V2).mediaType).toBe(DOCKER_MANIFEST_V2);
    expect(parseManifest(bytes(body), OCI_IMAGE_MANIFEST).mediaType).toBe(OCI_IMAGE_MANIFEST);
  });

  it("detects the type from the shape when neither says", () => {
    const { mediaType: _, ...body } = image();
    expect(parseManifest(bytes(body), null).mediaType).toBe(OCI_IMAGE_MANIFEST);
    const { mediaType: __, ...idx } = index();
    expect(parseManifest(bytes(idx), "application/json")).toMatchObject({ mediaType: OCI_IMAGE_INDEX, kind: "index" });
  });

  it("accepts an OCI 1.1 artifact: empty config, no layers, artifactType, subject, annotations", () => {
    const body = image({
      artifactType: "application/vnd.example.sbom.v1",
      config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2, data: "e30=" },
      layers: [],
      subject: { mediaType: OCI_IMAGE_MANIFEST, digest: D3, size: 7 },
      annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
    });
    const m = parseManifest(bytes(body), OCI_IMAGE_MANIFEST);
    expect(m.artifactType).toBe("application/vnd.example.sbom.v1");
    expect(m.blobs).toEqual([{ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }]);
    expect(m.subject).toEqual({ mediaType: OCI_IMAGE_MANIFEST, digest: D3, size: 7 });
    expect(m.annotations).toEqual({ "org.opencontainers.image.created": "2024-01-01T00:00:00Z" });
  });

  it("treats an empty artifactType as missing", () => {
    expect(parseManifest(bytes(image({ artifactType: "" })), null).artifactType).toBe(OCI_IMAGE_CONFIG);
  });

  it("skips foreign layers (non-empty urls) and deduplicates digests", () => {
    const foreign = { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: D3, size: 9, urls: ["https://example.com/l"] };
    const emptyUrls = { ...layer, digest: D4, urls: [] };
    const m = parseManifest(bytes(image({ layers: [layer, foreign, layer, emptyUrls, { ...config }] })), null);
    expect(m.blobs.map((d) => d.digest)).toEqual([D1, D2, D4]);
  });

  it("keeps descriptor extras that matter and drops the rest", () => {
    const l = { ...layer, annotations: { a: "b" }, artifactType: "application/x.y", whatever: 1 };
    const m = parseManifest(bytes(image({ layers: [l] })), null);
    expect(m.blobs[1]).toEqual({ ...layer, annotations: { a: "b" }, artifactType: "application/x.y" });
  });

  it("keeps a __proto__ annotation as plain data", () => {
    const m = parseManifest(bytes('{"schemaVersion":2,"config":' + JSON.stringify(config) + ',"layers":[],"annotations":{"__proto__":"x"}}'), null);
    expect(Object.getPrototypeOf(m.annotations)).toBe(Object.prototype);
    expect(Object.keys(m.annotations!)).toEqual(["__proto__"]);
  });
});

describe("parseManifest: indexes", () => {
  it("returns children as manifests; artifactType only when set", () => {
    const m = parseManifest(bytes(index()), OCI_IMAGE_INDEX);
    expect(m.kind).toBe("index");
    expect(m.mediaType).toBe(OCI_IMAGE_INDEX);
    expect(m.blobs).toEqual([]);
    expect(m.manifests).toEqual([{ mediaType: OCI_IMAGE_MANIFEST, digest: D3, size: 500, platform: { os: "linux", architecture: "amd64" } }]);
    expect(m.artifactType).toBeUndefined();
    expect(parseManifest(bytes(index({ artifactType: "application/x.t" })), null).artifactType).toBe("application/x.t");
  });

  it("accepts a Docker manifest list", () => {
    const body = { schemaVersion: 2, mediaType: DOCKER_MANIFEST_LIST, manifests: [{ mediaType: DOCKER_MANIFEST_V2, digest: D3, size: 1 }] };
    expect(parseManifest(bytes(body), DOCKER_MANIFEST_LIST)).toMatchObject({ kind: "index", mediaType: DOCKER_MANIFEST_LIST });
  });

  it("accepts an empty index", () => {
    expect(parseManifest(bytes(index({ manifests: [] })), null).manifests).toEqual([]);
  });

  it("sends non-manifest children (BuildKit cache) to blobs", () => {
    const cache = index({
      manifests: [
        { mediaType: OCI_LAYER_TAR_GZIP, digest: D1, size: 1 },
        { mediaType: "application/vnd.buildkit.cacheconfig.v0", digest: D2, size: 2 },
        { mediaType: OCI_IMAGE_INDEX, digest: D3, size: 3 },
      ],
    });
    const m = parseManifest(bytes(cache), null);
    expect(m.blobs.map((d) => d.digest)).toEqual([D1, D2]);
    expect(m.manifests.map((d) => d.digest)).toEqual([D3]);
  });
});

describe("parseManifest: refusals", () => {
  it.each([
    [new Uint8Array(), /body is empty/],
    [new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), /not valid UTF-8/],
    [new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode(JSON.stringify(image()))]), /not valid JSON/],
    ["{", /not valid JSON/],
    ["not json", /not valid JSON/],
    ["null", /must be a JSON object/],
    ["[]", /must be a JSON object/],
    ["2", /must be a JSON object/],
    ['"x"', /must be a JSON object/],
  ])("refuses a body that is not a JSON object (%#)", (body, why) => {
    invalid(body, OCI_IMAGE_MANIFEST, why);
  });

  it("refuses schema1 by Content-Type, body mediaType or schemaVersion", () => {
    const why = /^schema1 manifests are not supported/;
    invalid({ schemaVersion: 1, name: "a", tag: "b", fsLayers: [] }, DOCKER_MANIFEST_V1_SIGNED, why);
    invalid({ schemaVersion: 1 }, null, why);
    invalid(image(), DOCKER_MANIFEST_V1, why);
    invalid(image({ mediaType: DOCKER_MANIFEST_V1 }), null, why);
  });

  it("refuses other schemaVersions", () => {
    invalid(image({ schemaVersion: undefined }), null, /schemaVersion is required/);
    invalid(image({ schemaVersion: 3 }), null, /schemaVersion must be 2, got 3/);
    invalid(image({ schemaVersion: "2" }), null, /schemaVersion must be 2, got "2"/);
    invalid('{"schemaVersion":1e400}', null, /schemaVersion must be 2/);
  });

  it("refuses a body mediaType that contradicts a manifest Content-Type", () => {
    invalid(image(), DOCKER_MANIFEST_V2, /Content-Type "application\/vnd.docker.distribution.manifest.v2\+json" does not match/);
    invalid(index(), OCI_IMAGE_MANIFEST, /does not match the manifest's mediaType/);
  });

  it("refuses unknown or non-string body mediaTypes", () => {
    invalid(image({ mediaType: "application/vnd.oci.artifact.manifest.v1+json" }), null, /unsupported manifest mediaType/);
    invalid(image({ mediaType: "Application/vnd.oci.image.manifest.v1+json" }), null, /unsupported manifest mediaType/);
    invalid(image({ mediaType: 5 }), null, /mediaType must be a string/);
  });

  it("refuses a body it cannot classify", () => {
    invalid({ schemaVersion: 2 }, null, /cannot tell the manifest type: Content-Type is missing/);
    invalid({ schemaVersion: 2, foo: 1 }, "text/plain", /Content-Type "text\/plain" is not a manifest type/);
    invalid({ schemaVersion: 2, config, layers: [], manifests: [] }, "application/json", /cannot tell/);
  });

  it("refuses ambiguous manifest/index bodies (CVE-2021-41190)", () => {
    invalid(image({ manifests: [] }), null, /image manifest must not have a manifests field/);
    invalid(index({ layers: [] }), null, /index must not have config or layers/);
    invalid(index({ config }), null, /index must not have config or layers/);
  });

  it("refuses missing or malformed config and layers", () => {
    invalid(image({ config: undefined }), null, /^config is required$/);
    invalid(image({ config: null }), null, /^config must be a descriptor object$/);
    invalid(image({ config: [config] }), null, /^config must be a descriptor object$/);
    invalid(image({ layers: undefined }), null, /^layers is required and must be an array/);
    invalid(image({ layers: {} }), null, /^layers is required and must be an array/);
    invalid(image({ layers: [null] }), null, /^layers\[0\] must be a descriptor object$/);
    invalid(index({ manifests: undefined }), null, /^manifests is required and must be an array/);
    invalid(index({ manifests: "x" }), null, /^manifests is required/);
  });

  it("refuses descriptors without mediaType, digest or size", () => {
    invalid(image({ layers: [{ digest: D2, size: 1 }] }), null, /^layers\[0\]\.mediaType is required/);
    invalid(image({ layers: [{ ...layer, mediaType: "" }] }), null, /^layers\[0\]\.mediaType is required/);
    invalid(image({ layers: [{ ...layer, mediaType: "gzip" }] }), null, /^layers\[0\]\.mediaType "gzip" is not a valid media type/);
    invalid(image({ layers: [{ ...layer, mediaType: "a/b; x=y" }] }), null, /not a valid media type/);
    invalid(image({ config: { mediaType: OCI_IMAGE_CONFIG, size: 1 } }), null, /^config\.digest is required/);
    invalid(image({ config: { ...config, digest: 7 } }), null, /^config\.digest is required and must be a string/);
    invalid(image({ config: { mediaType: OCI_IMAGE_CONFIG, digest: D1 } }), null, /^config\.size is required$/);
  });

  it.each([
    [-1, "-1"],
    [1.5, "1.5"],
    ["10", '"10"'],
    [null, "null"],
    [2 ** 53, String(2 ** 53)],
  ])("refuses size %j", (size, shown) => {
    invalid(image({ layers: [{ ...layer, size }] }), null, new RegExp(`^layers\\[0\\]\\.size must be a non-negative integer, got ${shown.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
  });

  it("refuses huge JSON numbers as sizes", () => {
    const text = JSON.stringify(image()).replace('"size":2000', '"size":1e400');
    invalid(text, null, /^layers\[0\]\.size must be a non-negative integer, got Infinity$/);
    const big = JSON.stringify(image()).replace('"size":2000', '"size":123456789012345678901234567890');
    invalid(big, null, /^layers\[0\]\.size must be a non-negative integer, got 1\.2345678901234568e\+29$/);
  });

  it("accepts size 0", () => {
    expect(parseManifest(bytes(image({ layers: [{ ...layer, size: 0 }] })), null).blobs[1]!.size).toBe(0);
  });

  it("refuses malformed descriptor digests with DIGEST_INVALID naming the field", () => {
    invalid(image({ layers: [{ ...layer, digest: "sha256:abc" }] }), null, /^layers\[0\]\.digest: invalid sha256 digest/, "DIGEST_INVALID");
    invalid(image({ config: { ...config, digest: D1.toUpperCase() } }), null, /^config\.digest: /, "DIGEST_INVALID");
    invalid(image({ config: { ...config, digest: `md5:${"a".repeat(32)}` } }), null, /^config\.digest: unsupported digest algorithm/, "DIGEST_INVALID");
    invalid(index({ manifests: [{ mediaType: OCI_IMAGE_MANIFEST, digest: "", size: 1 }] }), null, /^manifests\[0\]\.digest: /, "DIGEST_INVALID");
    invalid(image({ subject: { mediaType: OCI_IMAGE_MANIFEST, digest: "sha256:", size: 1 } }), null, /^subject\.digest: /, "DIGEST_INVALID");
  });

  it("refuses malformed urls, annotations, artifactType and subject", () => {
    invalid(image({ layers: [{ ...layer, urls: "https://x" }] }), null, /^layers\[0\]\.urls must be an array of strings$/);
    invalid(image({ layers: [{ ...layer, urls: [1] }] }), null, /urls must be an array of strings/);
    invalid(image({ annotations: { a: 1 } }), null, /^annotations\["a"\] must be a string$/);
    invalid(image({ annotations: [] }), null, /^annotations must be an object of string values$/);
    invalid(image({ layers: [{ ...layer, annotations: "x" }] }), null, /^layers\[0\]\.annotations must be an object/);
    invalid(image({ artifactType: 5 }), null, /^artifactType is required and must be a non-empty string$/);
    invalid(image({ artifactType: "sbom" }), null, /^artifactType "sbom" is not a valid media type/);
    invalid(image({ subject: null }), null, /^subject must be a descriptor object$/);
    invalid(image({ subject: { digest: D3, size: 1 } }), null, /^subject\.mediaType is required/);
  });

  it("parses a 4 MiB manifest with 20 000 layers quickly", () => {
    const layers = Array.from({ length: 20_000 }, (_, i) => ({
      mediaType: OCI_LAYER_TAR_GZIP,
      digest: `sha256:${i.toString(16).padStart(64, "0")}`,
      size: i,
    }));
    const body = bytes(image({ layers }));
    const t0 = performance.now();
    const m = parseManifest(body, OCI_IMAGE_MANIFEST);
    // A guard against work quadratic in the layers (minutes here), not a speed test: loose for a loaded machine.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(m.blobs).toHaveLength(20_001);
  });
});

describe("media-types", () => {
  it("normalizes and classifies", () => {
    expect(normalizeMediaType(" Application/JSON ; charset=utf-8")).toBe("application/json");
    expect(normalizeMediaType(null)).toBe("");
    expect(isManifestMediaType(OCI_IMAGE_MANIFEST)).toBe(true);
    expect(isManifestMediaType(`${DOCKER_MANIFEST_LIST}; x=y`)).toBe(true);
    expect(isManifestMediaType(DOCKER_MANIFEST_V1)).toBe(false);
    expect(isManifestMediaType(OCI_IMAGE_CONFIG)).toBe(false);
    expect(isImageManifestMediaType(DOCKER_MANIFEST_V2)).toBe(true);
    expect(isImageManifestMediaType(OCI_IMAGE_INDEX)).toBe(false);
    expect(isIndexMediaType(OCI_IMAGE_INDEX)).toBe(true);
    expect(isIndexMediaType(DOCKER_MANIFEST_LIST)).toBe(true);
    expect(isIndexMediaType(OCI_IMAGE_MANIFEST)).toBe(false);
    expect(isSchema1MediaType(DOCKER_MANIFEST_V1_SIGNED)).toBe(true);
  });
});
