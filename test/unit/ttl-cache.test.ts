// The per-isolate cache behind blob sizes and links: entries expire, the size bound drops the oldest, and a
// delete forgets at once.
import { describe, expect, it } from "vitest";
import { TtlCache } from "../../src/storage/ttl-cache";

describe("TtlCache", () => {
  it("answers within the time limit and forgets after it", () => {
    const c = new TtlCache<number>(1000);
    c.set("a", 1, 0);
    expect(c.get("a", 999)).toBe(1);
    expect(c.get("a", 1001)).toBeUndefined();
    expect(c.get("a", 500)).toBeUndefined(); // expired entries are gone for good
  });

  it("drops the oldest entry when full, and a delete forgets at once", () => {
    const c = new TtlCache<string>(10_000, 2);
    c.set("a", "A", 0);
    c.set("b", "B", 1);
    c.set("c", "C", 2);
    expect(c.get("a", 3)).toBeUndefined();
    expect(c.get("b", 3)).toBe("B");
    c.delete("b");
    expect(c.get("b", 3)).toBeUndefined();
    expect(c.get("c", 3)).toBe("C");
  });
});
