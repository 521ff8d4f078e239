// n/last pagination of tags and catalog: lexical slices, the clamp, n=0, and RFC 5988 Link headers.
import { describe, expect, it } from "vitest";
import { OciError } from "../../src/oci/errors";
import { MAX_PAGE, paginate } from "../../src/registry/pagination";

const all = ["a", "b", "c", "d", "e"];
const page = (q: string) => paginate(all, new URL(`http://r/v2/x/tags/list${q}`), "/v2/x/tags/list");

describe("paginate", () => {
  it("returns everything without parameters", () => {
    expect(page("")).toEqual({ items: all });
  });
  it("returns n items and a Link to the next page", () => {
    expect(page("?n=2")).toEqual({ items: ["a", "b"], link: '</v2/x/tags/list?n=2&last=b>; rel="next"' });
  });
  it("continues after last, and ends without a Link", () => {
    expect(page("?n=2&last=b")).toEqual({ items: ["c", "d"], link: '</v2/x/tags/list?n=2&last=d>; rel="next"' });
    expect(page("?n=2&last=d")).toEqual({ items: ["e"] });
    expect(page("?last=e")).toEqual({ items: [] });
  });
  it("answers n=0 with an empty list", () => {
    expect(page("?n=0")).toEqual({ items: [] });
  });
  it("clamps n to the page limit", () => {
    const many = Array.from({ length: MAX_PAGE + 5 }, (_, i) => String(i).padStart(5, "0"));
    const p = paginate(many, new URL("http://r/v2/_catalog?n=99999"), "/v2/_catalog");
    expect(p.items).toHaveLength(MAX_PAGE);
    expect(p.link).toContain(`n=${MAX_PAGE}`);
  });
  it("refuses a non-numeric n with 400", () => {
    for (const q of ["?n=x", "?n=-1", "?n=1.5"]) {
      try {
        page(q);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(OciError);
        expect((e as OciError).status).toBe(400);
      }
    }
  });
});
