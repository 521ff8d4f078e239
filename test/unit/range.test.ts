// Unit tests of src/oci/range.ts: upload Content-Range, blob GET Range (RFC 9110), upload Range header.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/oci/errors";
import {
  chunkOutOfOrder,
  formatContentRange,
  formatUploadRange,
  parseContentRange,
  parseRangeHeader,
} from "../../src/oci/range";
import { caught } from "./oci-error";


describe("parseContentRange", () => {
  it.each([
    ["0-0", 0, 0],
    ["0-99", 0, 99],
    ["100-199", 100, 199],
    ["bytes 0-99", 0, 99],
    ["bytes=0-99", 0, 99],
    ["BYTES 5-9", 5, 9],
    ["  0-99  ", 0, 99],
    ["0-99/100", 0, 99],
    ["bytes 0-99/*", 0, 99],
    ["007-010", 7, 10],
    [`0-${Number.MAX_SAFE_INTEGER}`, 0, Number.MAX_SAFE_INTEGER],
  ])("%j → %d-%d", (h, start, end) => {
    expect(parseContentRange(h)).toEqual({ start, end });
  });

  it("returns null when absent or blank", () => {
    expect(parseContentRange(null)).toBeNull();
    expect(parseContentRange("")).toBeNull();
    expect(parseContentRange("   ")).toBeNull();
  });

  it.each([
    ["abc", /is not <start>-<end>/],
    ["0-", /is not <start>-<end>/],
    ["-5", /is not <start>-<end>/],
    ["5", /is not <start>-<end>/],
    ["0--1", /is not <start>-<end>/],
    ["-1-5", /is not <start>-<end>/],
    ["0-99,100-199", /is not <start>-<end>/],
    ["0 - 99", /is not <start>-<end>/],
    ["1.5-3", /is not <start>-<end>/],
    ["0x10-0x20", /is not <start>-<end>/],
    ["items 0-5", /is not <start>-<end>/],
    ["０-９", /is not <start>-<end>/], // full-width digits: \d must not match them
    ["5-4", /start is after end/],
    ["0-100/100", /end is beyond the total/],
    ["0-99/abc", /is not <start>-<end>/],
    ["0-99999999999999999999", /too large/],
    ["0-".padEnd(300, "9"), /too long/],
  ])("rejects %j with 416 BLOB_UPLOAD_INVALID", (h, why) => {
    const e = caught(() => parseContentRange(h));
    expect(e.code).toBe("BLOB_UPLOAD_INVALID");
    expect(e.status).toBe(416);
    expect(e.message).toMatch(why);
  });
});

describe("chunkOutOfOrder", () => {
  it("is a 416 carrying the upload's Range", () => {
    const e = chunkOutOfOrder(100, 50);
    expect(e.code).toBe("BLOB_UPLOAD_INVALID");
    expect(e.status).toBe(416);
    expect(e.headers).toEqual({ Range: "0-99" });
    expect(e.message).toBe("chunk starts at byte 50, but the upload has 100 bytes");
    expect(chunkOutOfOrder(0, 10).headers).toEqual({ Range: "0-0" });
  });
});

describe("parseRangeHeader", () => {
  const size = 1000;

  it.each([
    ["bytes=0-99", 0, 99],
    ["bytes=0-0", 0, 0],
    ["bytes=999-999", 999, 999],
    ["bytes=500-", 500, 999],
    ["bytes=0-", 0, 999],
    ["bytes=900-5000", 900, 999], // end clamped
    ["bytes=0-99999999999999999999999", 0, 999],
    ["bytes=-100", 900, 999], // suffix
    ["bytes=-1", 999, 999],
    ["bytes=-1000", 0, 999],
    ["bytes=-5000", 0, 999], // suffix longer than the blob: whole
    ["bytes=-99999999999999999999999", 0, 999],
    ["Bytes=1-2", 1, 2],
    [" bytes=1-2 ", 1, 2],
    ["bytes= 1-2", 1, 2],
  ])("%j → %d-%d", (h, start, end) => {
    expect(parseRangeHeader(h, size)).toEqual({ start, end });
  });

  it.each([
    [null],
    [""],
    ["items=0-5"], // unknown unit: MUST ignore
    ["bytes 0-5"], // no "="
    ["bytes=5-4"], // last < first: invalid, ignored
    ["bytes=-"],
    ["bytes=abc"],
    ["bytes=0-5,10-20"], // several ranges: ignored, whole blob
    ["bytes=0-5, 10-20"],
    ["bytes=1.5-3"],
    ["bytes=0 - 5"],
    ["bytes=" + "1".repeat(300) + "-"], // over-long header
  ])("ignores %j (serve the whole blob)", (h) => {
    expect(parseRangeHeader(h, size)).toBeNull();
  });

  it.each([["bytes=1000-"], ["bytes=1000-2000"], ["bytes=99999999999999999999-"], ["bytes=-0"]])(
    "%j is unsatisfiable",
    (h) => {
      expect(parseRangeHeader(h, size)).toBe("unsatisfiable");
    },
  );

  it("handles an empty blob", () => {
    expect(parseRangeHeader("bytes=0-", 0)).toBe("unsatisfiable");
    expect(parseRangeHeader("bytes=0-0", 0)).toBe("unsatisfiable");
    expect(parseRangeHeader("bytes=-0", 0)).toBe("unsatisfiable");
    expect(parseRangeHeader("bytes=-5", 0)).toBeNull();
    expect(parseRangeHeader(null, 0)).toBeNull();
  });

  it("handles a one-byte blob", () => {
    expect(parseRangeHeader("bytes=0-", 1)).toEqual({ start: 0, end: 0 });
    expect(parseRangeHeader("bytes=-10", 1)).toEqual({ start: 0, end: 0 });
    expect(parseRangeHeader("bytes=1-", 1)).toBe("unsatisfiable");
  });

  it("refuses a bad size (a programming error)", () => {
    expect(() => parseRangeHeader("bytes=0-1", -1)).toThrow(RangeError);
    expect(() => parseRangeHeader("bytes=0-1", 1.5)).toThrow(RangeError);
  });
});

describe("formatUploadRange / formatContentRange", () => {
  it("gives 0-0 for an empty upload, else 0-<offset-1>", () => {
    expect(formatUploadRange(0)).toBe("0-0");
    expect(formatUploadRange(1)).toBe("0-0");
    expect(formatUploadRange(100)).toBe("0-99");
    expect(formatUploadRange(10 * 1024 * 1024)).toBe("0-10485759");
    expect(() => formatUploadRange(-1)).toThrow(RangeError);
    expect(() => formatUploadRange(0.5)).toThrow(RangeError);
  });

  it("formats 206 and 416 Content-Range", () => {
    expect(formatContentRange({ start: 0, end: 99 }, 1000)).toBe("bytes 0-99/1000");
    expect(formatContentRange("unsatisfiable", 1000)).toBe("bytes */1000");
  });
});
