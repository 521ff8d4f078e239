// Unit tests of src/oci/names.ts: repository-name grammar (against the spec's regex), tags, references.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/oci/errors";
import {
  MAX_NAME_LENGTH,
  nameGrammarError,
  parseDigestSegment,
  parseReference,
  validateRepositoryName,
  validateTag,
} from "../../src/oci/names";
import { caught } from "./oci-error";

const HEX64 = "a".repeat(64);


describe("validateRepositoryName", () => {
  it.each([
    "a",
    "0",
    "library/ubuntu",
    "a.b",
    "a_b",
    "a__b",
    "a-b",
    "a---b",
    "a.b_c__d-e--f",
    "a/b/c/d/e",
    "9front/plan9",
    "x".repeat(MAX_NAME_LENGTH),
    `${"a/".repeat(127)}a`, // 255 characters of tiny components
  ])("accepts %j", (name) => {
    expect(validateRepositoryName(name)).toBe(name);
  });

  it.each([
    ["", /empty/],
    ["A", /character "A"/],
    ["Library/ubuntu", /character "L"/],
    ["a..b", /separator "\.\."/],
    ["a._b", /separator "\._"/],
    ["a___b", /separator "___"/],
    ["a_-b", /separator "_-"/],
    ["a-_b", /separator "-_"/],
    [".a", /component 1 must start and end/],
    ["a.", /component 1 must start and end/],
    ["_a", /component 1 must start and end/],
    ["a/_layers", /component 2 must start and end/],
    ["a/_manifests/b", /component 2 must start and end/],
    ["-a", /must start and end/],
    ["a-", /must start and end/],
    ["a//b", /component 2 is empty/],
    ["a/", /component 2 is empty/],
    ["/a", /component 1 is empty/],
    ["/", /component 1 is empty/],
    ["..", /must start and end/],
    ["a/../b", /component 2 must start and end/],
    ["a/./b", /component 2 must start and end/],
    ["a%2Fb", /character "%"/],
    ["a%2fb", /character "%"/],
    ["%2e%2e", /character "%"/],
    ["ü", /character "ü"/],
    ["a\u{1F600}b", /character "\u{1F600}"/u],
    ["a b", /character " "/],
    ["a\nb", /character "\\n"/],
    ["a\u0000b", /character "\\u0000"/],
    ["a\\b", /character "\\\\"/],
    ["a:b", /character ":"/],
    ["a@b", /character "@"/],
  ])("rejects %j", (name, why) => {
    const e = caught(() => validateRepositoryName(name));
    expect(e.code).toBe("NAME_INVALID");
    expect(e.status).toBe(400);
    expect(e.message).toMatch(why);
  });

  it("rejects 256 characters with the length in the message", () => {
    const e = caught(() => validateRepositoryName("x".repeat(256)));
    expect(e.code).toBe("NAME_INVALID");
    expect(e.status).toBe(400);
    expect(e.message).toBe("invalid repository name: 256 characters, the limit is 255");
  });

  it("puts the name in detail, not unbounded text in the message", () => {
    const e = caught(() => validateRepositoryName(`A${"b".repeat(200)}`));
    expect(e.detail).toEqual({ name: `A${"b".repeat(200)}` });
    expect(e.message.length).toBeLessThan(200);
  });

  it("answers a 10 KB adversarial name at once", () => {
    const inputs = [
      "a-".repeat(5000) + "!",
      "a" + "-".repeat(10_000),
      "a" + "._".repeat(5000) + "a",
      ("a".repeat(30) + "__").repeat(300) + "___",
      "a/".repeat(5000),
    ];
    for (const s of inputs) {
      const t0 = performance.now();
      expect(() => validateRepositoryName(s)).toThrow(OciError);
      expect(nameGrammarError(s)).toBeTypeOf("string"); // the grammar scan itself, without the length cut-off
      // A guard against catastrophic backtracking (which takes minutes to forever on these), not a speed test:
      // the bound is loose enough for a loaded machine.
      expect(performance.now() - t0).toBeLessThan(2000);
    }
  });

  it("scans 1 MB in linear time", () => {
    const ok = ("ab-cd__ef." + "gh").repeat(100_000);
    const t0 = performance.now();
    expect(nameGrammarError(ok)).toBeUndefined();
    expect(nameGrammarError(ok + "-")).toMatch(/must start and end/);
    expect(performance.now() - t0).toBeLessThan(5000); // quadratic on 1 MB would take far longer: see above
  });

  it("agrees with the spec's regular expression on 20 000 random short strings", () => {
    const spec = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
    const alphabet = "ab0._-/A%";
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let k = 0; k < 20_000; k++) {
      let s = "";
      const len = 1 + rnd(10);
      for (let i = 0; i < len; i++) s += alphabet[rnd(alphabet.length)];
      expect(nameGrammarError(s) === undefined, s).toBe(spec.test(s));
    }
  });
});

describe("validateTag", () => {
  it.each(["latest", "v1.0.0", "_x", "A", "0", "sha256-" + HEX64, "a".repeat(128), "a-b_c.D", "__", "_"])(
    "accepts %j",
    (tag) => {
      expect(validateTag(tag)).toBe(tag);
    },
  );

  it.each([
    ["", /empty/],
    [".a", /must start with/],
    ["-a", /must start with/],
    ["..", /must start with/],
    ["a".repeat(129), /129 characters, the limit is 128/],
    ["a/b", /only letters/],
    ["a%2Fb", /only letters/],
    ["a:b", /only letters/],
    ["ü", /must start with/],
    ["aü", /only letters/],
    ["a b", /only letters/],
    ["a+b", /only letters/],
  ])("rejects %j: 400 MANIFEST_INVALID when writing", (tag, why) => {
    const e = caught(() => validateTag(tag));
    expect(e.code).toBe("MANIFEST_INVALID");
    expect(e.status).toBe(400);
    expect(e.message).toMatch(why);
    expect(caught(() => validateTag(tag, "write")).code).toBe("MANIFEST_INVALID");
  });

  it("rejects with 404 MANIFEST_UNKNOWN when reading", () => {
    const e = caught(() => validateTag("bad!tag", "read"));
    expect(e.code).toBe("MANIFEST_UNKNOWN");
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/invalid tag "bad!tag"/);
  });

  it("answers a 10 KB tag at once", () => {
    const t0 = performance.now();
    expect(() => validateTag("a".repeat(10_000) + "!")).toThrow(OciError);
    expect(performance.now() - t0).toBeLessThan(2000); // a backtracking guard, not a speed test
  });
});

describe("parseReference", () => {
  it("reads a tag", () => {
    expect(parseReference("latest")).toEqual({ kind: "tag", tag: "latest" });
  });

  it("reads a digest", () => {
    expect(parseReference(`sha256:${HEX64}`)).toEqual({ kind: "digest", digest: { algorithm: "sha256", hex: HEX64 } });
  });

  it("decodes a percent-encoded colon", () => {
    expect(parseReference(`sha256%3A${HEX64}`)).toEqual({ kind: "digest", digest: { algorithm: "sha256", hex: HEX64 } });
    expect(parseReference(`sha256%3a${HEX64}`).kind).toBe("digest");
    expect(parseDigestSegment(`sha256%3a${HEX64}`)).toEqual({ algorithm: "sha256", hex: HEX64 });
  });

  it.each(["read", "write"] as const)("gives 400 DIGEST_INVALID for a malformed digest (%s)", (use) => {
    for (const ref of ["sha256:totallywrong", `sha256:${HEX64.toUpperCase()}`, "sha256:", "md5:abc", "a:b"]) {
      const e = caught(() => parseReference(ref, use));
      expect(e.code).toBe("DIGEST_INVALID");
      expect(e.status).toBe(400);
    }
  });

  it("applies the read/write rule to bad tags", () => {
    expect(caught(() => parseReference("..")).code).toBe("MANIFEST_INVALID");
    expect(caught(() => parseReference("..", "read")).status).toBe(404);
    expect(caught(() => parseReference("%2F", "read")).code).toBe("MANIFEST_UNKNOWN");
  });
});
