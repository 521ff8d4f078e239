// The upload hint board: which blob a new session is probably for, from the repository's recent blob 404s.
// Order (oldest first), freshness, forgetting, bounds, and that a session gets a hint of the algorithm it hashes.
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
    expect(hints.claim("a/b", "sha256")).toBe(s("1"));
    expect(hints.claim("a/b", "sha256")).toBe(s("2"));
    expect(hints.claim("a/b", "sha256")).toBeNull();
    expect(hints.claim("other", "sha256")).toBe(s("3"));
  });

  it("a repeated HEAD moves the digest to the back instead of listing it twice", () => {
    const { hints } = board();
    hints.noteMissing("r", d("1"));
    hints.noteMissing("r", d("2"));
    hints.noteMissing("r", d("1"));
    expect(hints.claim("r", "sha256")).toBe(s("2"));
    expect(hints.claim("r", "sha256")).toBe(s("1"));
    expect(hints.claim("r", "sha256")).toBeNull();
  });

  it("forgets a blob that arrived (committed or mounted) and misses older than 30 s", () => {
    const { hints, advance } = board();
    hints.noteMissing("r", d("1"));
    hints.noteMissing("r", d("2"));
    hints.forget("r", d("1"));
    expect(hints.claim("r", "sha256")).toBe(s("2"));
    hints.noteMissing("r", d("3"));
    advance(30_001);
    hints.noteMissing("r", d("4"));
    expect(hints.claim("r", "sha256")).toBe(s("4"));
    expect(hints.claim("r", "sha256")).toBeNull();
  });

  it("a session gets the oldest miss of the algorithm it hashes; the others stay for sessions of theirs", () => {
    const { hints } = board();
    const long = { algorithm: "sha512", hex: "a".repeat(128) } as const;
    hints.noteMissing("r", long);
    hints.noteMissing("r", d("1"));
    expect(hints.claim("r", "sha256")).toBe(s("1"));
    expect(hints.claim("r", "sha256")).toBeNull();
    expect(hints.claim("r", "sha512")).toBe(`sha512:${long.hex}`);
    expect(hints.claim("r", "sha512")).toBeNull();
  });

  it("stays bounded: 32 misses per repository, 256 repositories (least recently noted dropped)", () => {
    const { hints } = board();
    for (let i = 0; i < 40; i++) hints.noteMissing("r", { algorithm: "sha256", hex: i.toString(16).padStart(64, "0") });
    const first = hints.claim("r", "sha256");
    expect(first).toBe(`sha256:${(8).toString(16).padStart(64, "0")}`);
    for (let i = 0; i < 300; i++) hints.noteMissing(`repo${i}`, d("a"));
    expect(hints.claim("repo0", "sha256")).toBeNull(); // dropped
    expect(hints.claim("repo299", "sha256")).toBe(s("a"));
    expect(hints.claim("r", "sha256")).toBeNull(); // "r" was the oldest of all
  });
});
