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
  });

  it("reads keys back: blobs and every kind of repository link, nothing else", () => {
    const l = new Layout("r");
    expect(l.blobOfKey(l.blobData(D))).toEqual(D);
    expect(l.blobOfKey(`r/docker/registry/v2/blobs/sha256/cd/${HEX}/data`)).toBeNull(); // wrong fan-out dir
    expect(l.blobOfKey(`r/docker/registry/v2/blobs/md5/ab/${HEX}/data`)).toBeNull();
    expect(l.blobOfKey(`other/docker/registry/v2/blobs/sha256/ab/${HEX}/data`)).toBeNull();
    expect(l.linkOfKey(l.layerLink("team/app", D))).toEqual({ kind: "layer", repository: "team/app", digest: D });
    expect(l.linkOfKey(l.manifestRevisionLink("a", D))).toEqual({ kind: "revision", repository: "a", digest: D });
    expect(l.linkOfKey(l.tagCurrentLink("a/b", "v1.0"))).toEqual({ kind: "tag", repository: "a/b", tag: "v1.0" });
    expect(l.linkOfKey(l.tagIndexLink("a", "v1", D))).toEqual({ kind: "tag-index", repository: "a", tag: "v1", digest: D });
    expect(l.linkOfKey(l.pullRecord("team/app", D))).toEqual({ kind: "pull", repository: "team/app", digest: D });
    expect(l.linkOfKey(l.referrer("a", D, D))).toBeNull();
    expect(l.linkOfKey("r/docker/registry/v2/repositories/a/_uploads/x/data")).toBeNull();
    expect(l.linkOfKey("r/docker/registry/v2/repositories/A/_layers/sha256/" + HEX + "/link")).toBeNull();
  });
});
