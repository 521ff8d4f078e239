// The upload hint board: which blob a new session is probably for, from the repository's recent blob 404s.
// Order (oldest first), freshness, forgetting, bounds, and that only SHA-256 digests are hinted.
import { describe, expect, it } from "vitest";
import type { Digest } from "../../src/oci/digest";
import { UploadHints } from "../../src/registry/upload-hints";

const d = (c: string): Digest => ({ algorithm: "sha256", hex: c.repeat(64) });
const s = (c: string) => `sha256:${c.repeat(64)}`;

function board() {
  let t = 1_000_000;
  const hints = new UploadHints(() => t);
  return { hints, advance: (ms: number) => (t += ms) };
}

describe("UploadHints", () => {
  it("hands out a repository's misses oldest first, each once", () => {
    const { hints } = board();
    hints.noteMissing("a/b", d("1"));
    hints.noteMissing("a/b", d("2"));
    hints.noteMissing("other", d("3"));
    expect(hints.claim("a/b")).toBe(s("1"));
    expect(hints.claim("a/b")).toBe(s("2"));
    expect(hints.claim("a/b")).toBeNull();
    expect(hints.claim("other")).toBe(s("3"));
  });

  it("a repeated HEAD moves the digest to the back instead of listing it twice", () => {
    const { hints } = board();
    hints.noteMissing("r", d("1"));
    hints.noteMissing("r", d("2"));
    hints.noteMissing("r", d("1"));
    expect(hints.claim("r")).toBe(s("2"));
    expect(hints.claim("r")).toBe(s("1"));
    expect(hints.claim("r")).toBeNull();
  });

  it("forgets a blob that arrived (committed or mounted) and misses older than 30 s", () => {
    const { hints, advance } = board();
    hints.noteMissing("r", d("1"));
    hints.noteMissing("r", d("2"));
    hints.forget("r", d("1"));
    expect(hints.claim("r")).toBe(s("2"));
    hints.noteMissing("r", d("3"));
    advance(30_001);
    hints.noteMissing("r", d("4"));
    expect(hints.claim("r")).toBe(s("4"));
    expect(hints.claim("r")).toBeNull();
  });

  it("ignores sha512 digests (sessions hash SHA-256 as bytes arrive)", () => {
    const { hints } = board();
    hints.noteMissing("r", { algorithm: "sha512", hex: "a".repeat(128) });
    expect(hints.claim("r")).toBeNull();
  });

  it("stays bounded: 32 misses per repository, 256 repositories (least recently noted dropped)", () => {
    const { hints } = board();
    for (let i = 0; i < 40; i++) hints.noteMissing("r", { algorithm: "sha256", hex: i.toString(16).padStart(64, "0") });
    const first = hints.claim("r");
    expect(first).toBe(`sha256:${(8).toString(16).padStart(64, "0")}`);
    for (let i = 0; i < 300; i++) hints.noteMissing(`repo${i}`, d("a"));
    expect(hints.claim("repo0")).toBeNull(); // dropped
    expect(hints.claim("repo299")).toBe(s("a"));
    expect(hints.claim("r")).toBeNull(); // "r" was the oldest of all
  });
});
