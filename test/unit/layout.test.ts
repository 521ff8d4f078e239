// The bucket layout must be exactly Distribution's, and must refuse to build a key from anything that is
// not a valid name, tag or digest (the second fence behind the handlers' validation).
import { describe, expect, it } from "vitest";
import { parseDigest } from "../../src/oci/digest";
import { Layout } from "../../src/storage/layout";

const D = parseDigest(`sha256:${"ab".repeat(32)}`);
const HEX = "ab".repeat(32);

describe("Layout", () => {
  it("builds Distribution's keys under the root directory", () => {
    const l = new Layout("reg/root");
    expect(l.blobData(D)).toBe(`reg/root/docker/registry/v2/blobs/sha256/ab/${HEX}/data`);
    expect(l.layerLink("team/app", D)).toBe(`reg/root/docker/registry/v2/repositories/team/app/_layers/sha256/${HEX}/link`);
    expect(l.manifestRevisionLink("a", D)).toBe(`reg/root/docker/registry/v2/repositories/a/_manifests/revisions/sha256/${HEX}/link`);
    expect(l.tagCurrentLink("a", "v1.0")).toBe("reg/root/docker/registry/v2/repositories/a/_manifests/tags/v1.0/current/link");
    expect(l.tagIndexLink("a", "v1", D)).toBe(`reg/root/docker/registry/v2/repositories/a/_manifests/tags/v1/index/sha256/${HEX}/link`);
    expect(l.referrer("a", D, D)).toBe(`reg/root/docker/registry/v2/repositories/a/_berth/referrers/sha256/${HEX}/sha256/${HEX}`);
  });

  it("starts at docker/ with an empty root directory", () => {
    expect(new Layout("").blobData(D)).toBe(`docker/registry/v2/blobs/sha256/ab/${HEX}/data`);
  });

  it("refuses names, tags and digests that could escape their keys", () => {
    const l = new Layout("");
    for (const bad of ["..", "a/../b", "A", "a//b", "a/", "/a", "a%2fb", "_a", "a".repeat(256)]) {
      expect(() => l.repository(bad)).toThrow();
    }
    for (const bad of ["../x", "a/b", ".v1", "-v", "x".repeat(129), ""]) {
      expect(() => l.tagCurrentLink("a", bad)).toThrow();
    }
    expect(() => l.blobData({ algorithm: "sha256", hex: "../../x" })).toThrow();
    expect(() => l.uploadData("a", "../x")).toThrow();
  });
});
