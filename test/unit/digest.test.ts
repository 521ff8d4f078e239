// Unit tests of src/oci/digest.ts: digest grammar and algorithms, hashing, hex, constant-time compare.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/oci/errors";
import { digestBytes, formatDigest, hexOf, digestFromParts, parseDigest, timingSafeEqual } from "../../src/oci/digest";
import { caught } from "./oci-error";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const EMPTY_SHA512 =
  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";


describe("parseDigest", () => {
  it("parses sha256 and sha512 and formats them back", () => {
    const d = parseDigest(`sha256:${EMPTY_SHA256}`);
    expect(d).toEqual({ algorithm: "sha256", hex: EMPTY_SHA256 });
    expect(formatDigest(d)).toBe(`sha256:${EMPTY_SHA256}`);
    expect(parseDigest(`sha512:${EMPTY_SHA512}`)).toEqual({ algorithm: "sha512", hex: EMPTY_SHA512 });
  });

  it("survives structured clone (plain data)", () => {
    const d = parseDigest(`sha256:${ABC_SHA256}`);
    expect(structuredClone(d)).toEqual(d);
  });

  it.each([
    ["", /empty/],
    ["sha256", /expected <algorithm>:<encoded>/],
    [EMPTY_SHA256, /expected <algorithm>:<encoded>/],
    ["sha256:", /does not match/],
    [":abc", /does not match/],
    [`SHA256:${EMPTY_SHA256}`, /does not match/],
    [`sha256:${EMPTY_SHA256.toUpperCase()}`, /expected 64 lowercase hex characters/],
    [`sha256:${EMPTY_SHA256.slice(0, 63)}`, /expected 64 lowercase hex characters/],
    [`sha256:${EMPTY_SHA256}0`, /expected 64 lowercase hex characters/],
    [`sha256:${"g".repeat(64)}`, /expected 64 lowercase hex characters/],
    [`sha256:${EMPTY_SHA256} `, /does not match/],
    [`sha256:${EMPTY_SHA256}\n`, /does not match/],
    [` sha256:${EMPTY_SHA256}`, /does not match/],
    [`sha256::${EMPTY_SHA256}`, /does not match/],
    [`sha512:${EMPTY_SHA256}`, /expected 128 lowercase hex characters/],
    [`sha256:${"é".repeat(64)}`, /does not match/],
    ["sha256:totallywrong", /expected 64 lowercase hex/],
  ])("rejects %j", (raw, why) => {
    const e = caught(() => parseDigest(raw));
    expect(e.code).toBe("DIGEST_INVALID");
    expect(e.status).toBe(400);
    expect(e.message).toMatch(why);
  });

  it.each([
    `md5:${"a".repeat(32)}`,
    `sha384:${"a".repeat(96)}`,
    "blake3:abcd",
    "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
    "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
  ])("rejects grammatical but unsupported %j as 'unsupported digest algorithm'", (raw) => {
    const e = caught(() => parseDigest(raw));
    expect(e.code).toBe("DIGEST_INVALID");
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^unsupported digest algorithm "[a-z0-9+._-]+" \(supported: sha256, sha512\)$/);
  });

  it("rejects a 10 KB string at once, without echoing it", () => {
    const t0 = performance.now();
    const e = caught(() => parseDigest(`sha256:${"a".repeat(10_000)}`));
    expect(performance.now() - t0).toBeLessThan(20);
    expect(e.message).toBe("invalid digest: longer than 256 characters");
  });

  it("cuts long input short in messages", () => {
    const e = caught(() => parseDigest(`sha256:${"Z".repeat(200)}`));
    expect(e.message.length).toBeLessThan(160);
  });

  it("digestFromParts accepts only a supported algorithm with hex of its length", () => {
    expect(digestFromParts("sha256", ABC_SHA256)).toEqual({ algorithm: "sha256", hex: ABC_SHA256 });
    expect(digestFromParts("sha256", "abc")).toBeNull();
    expect(digestFromParts("sha256", ABC_SHA256.toUpperCase())).toBeNull();
    expect(digestFromParts("md5", ABC_SHA256)).toBeNull();
    expect(digestFromParts("sha512", ABC_SHA256)).toBeNull();
    expect(digestFromParts("sha512", "a".repeat(128))).toEqual({ algorithm: "sha512", hex: "a".repeat(128) });
  });

});

describe("digestBytes", () => {
  const enc = new TextEncoder();

  it("hashes with sha256 and sha512", async () => {
    expect(await digestBytes("sha256", new Uint8Array())).toEqual({ algorithm: "sha256", hex: EMPTY_SHA256 });
    expect(formatDigest(await digestBytes("sha256", enc.encode("abc")))).toBe(`sha256:${ABC_SHA256}`);
    expect((await digestBytes("sha512", new ArrayBuffer(0))).hex).toBe(EMPTY_SHA512);
  });

  it("hashes only the bytes of a view, not its whole buffer", async () => {
    const whole = enc.encode("xxabcxx");
    expect((await digestBytes("sha256", whole.subarray(2, 5))).hex).toBe(ABC_SHA256);
  });

  it("accepts an ArrayBuffer", async () => {
    expect((await digestBytes("sha256", enc.encode("abc").buffer as ArrayBuffer)).hex).toBe(ABC_SHA256);
  });
});

describe("hexOf", () => {
  it("encodes lowercase, two digits per byte", () => {
    expect(hexOf(new Uint8Array([0, 1, 15, 16, 171, 255]))).toBe("00010f10abff");
    expect(hexOf(new Uint8Array([0xde, 0xad]).buffer)).toBe("dead");
    expect(hexOf(new ArrayBuffer(0))).toBe("");
  });
});

describe("timingSafeEqual", () => {
  it.each([
    ["", "", true],
    ["secret", "secret", true],
    ["secret", "secreT", false],
    ["secret", "secret ", false],
    ["secret", "", false],
    ["", "x", false],
    ["abc", "ab", false],
    ["ünï", "ünï", true],
    ["ünï", "uni", false],
    ["a\u0000", "a", false],
  ])("%j vs %j → %s", (a, b, want) => {
    expect(timingSafeEqual(a, b)).toBe(want);
    expect(timingSafeEqual(b, a)).toBe(want);
  });
});
