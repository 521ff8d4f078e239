// Retention policies (BERTH_RETENTION, zot's form): the parser's defaults and refusals (each naming the field),
// and the pure decisions of jobs/retention.ts — policy selection, each keepTags criterion, how entries combine,
// unknown times, the delay, and the reasons a dry run prints.
import { describe, expect, it } from "vitest";
import { parseRetention, type RetentionConfig } from "../../src/config/retention";
import { ConfigError } from "../../src/config/values";
import { decideTags, pastDelay, policyFor, type TagFacts } from "../../src/jobs/retention";

const H = 3600_000;
const NOW = Date.UTC(2026, 0, 15, 12);

function cfg(doc: unknown): RetentionConfig {
  const c = parseRetention({ BERTH_RETENTION: JSON.stringify(doc) });
  if (c === null) throw new Error("retention off");
  return c;
}

function refusal(doc: unknown): ConfigError {
  try {
    parseRetention({ BERTH_RETENTION: typeof doc === "string" ? doc : JSON.stringify(doc) });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("accepted");
}

/** A tag pushed `pushedH` hours ago and pulled `pulledH` hours ago (null: never / unknown). */
function tag(name: string, pushedH: number | null, pulledH: number | null = null): TagFacts {
  return {
    tag: name,
    digest: `sha256:${name.padEnd(64, "0").slice(0, 64)}`,
    pushedAt: pushedH === null ? null : NOW - pushedH * H,
    pulledAt: pulledH === null ? null : NOW - pulledH * H,
  };
}

/** The tags kept, in input order. */
function kept(c: RetentionConfig, repo: string, tags: TagFacts[]): string[] {
  return decideTags(c, repo, tags, NOW)
    .filter((d) => d.keep)
    .map((d) => d.tag);
}

const one = (keepTags: unknown[]) => cfg({ policies: [{ repositories: ["**"], keepTags }] });

describe("parsing BERTH_RETENTION", () => {
  it("unset or blank: retention off", () => {
    expect(parseRetention({})).toBeNull();
    expect(parseRetention({ BERTH_RETENTION: "  " })).toBeNull();
  });

  it("fills zot's defaults", () => {
    const c = cfg({ policies: [{ repositories: ["**"] }, { repositories: ["a"], keepTags: [{}] }] });
    expect(c.dryRun).toBe(false);
    expect(c.delay).toBe("24h");
    expect(c.delayMs).toBe(24 * H);
    const [p0, p1] = c.policies;
    expect(p0).toMatchObject({ repositories: ["**"], deleteReferrers: false, deleteUntagged: true, keepTags: [] });
    expect(p1!.keepTags[0]).toEqual({ patterns: [], pushedWithin: null, pulledWithin: null, mostRecentlyPushedCount: 0, mostRecentlyPulledCount: 0 });
    expect(cfg({}).policies).toEqual([]);
  });

  it("reads zot's documented example, field names case-insensitively, and a wrangler table as well as JSON text", () => {
    const doc = {
      dryRun: true,
      delay: "12h",
      policies: [
        {
          repositories: ["infra/*", "tmp/**"],
          deleteReferrers: true,
          deleteUntagged: false,
          keepTags: [{ patterns: ["v2.*", ".*-prod"], mostRecentlyPushedCount: 10, mostRecentlyPulledCount: 5, pulledWithin: "720h", pushedWithin: "1h30m" }],
        },
      ],
    };
    const c = cfg(doc);
    expect(c).toMatchObject({ dryRun: true, delay: "12h", delayMs: 12 * H });
    const p = c.policies[0]!;
    expect(p).toMatchObject({ deleteReferrers: true, deleteUntagged: false });
    expect(p.matches("infra/app")).toBe(true);
    expect(p.matches("tmp/a/b")).toBe(true);
    expect(p.matches("infra/a/b")).toBe(false);
    const r = p.keepTags[0]!;
    expect(r.patterns.map((re) => re.source)).toEqual(["v2.*", ".*-prod"]);
    expect(r).toMatchObject({ mostRecentlyPushedCount: 10, mostRecentlyPulledCount: 5, pulledWithin: { ms: 720 * H, text: "720h" }, pushedWithin: { ms: 1.5 * H } });
    expect(cfg({ DryRun: true, policies: [{ Repositories: ["**"], deleteuntagged: false }] })).toMatchObject({ dryRun: true, policies: [{ deleteUntagged: false }] });
    expect(parseRetention({ BERTH_RETENTION: doc })?.policies[0]?.deleteReferrers).toBe(true);
  });

  it("Go's leading inline flags become JavaScript flags", () => {
    const re = one([{ patterns: ["(?i)^v1", "(?s)a.b"] }]).policies[0]!.keepTags[0]!.patterns;
    expect(re[0]!.test("V1.2")).toBe(true);
    expect(re[1]!.flags).toContain("s");
  });

  it("refuses each bad value naming its field path", () => {
    for (const [doc, path, why] of [
      ["nope", "", /is not valid JSON/],
      [[], "", /must be a JSON object/],
      [{ dryRun: "yes" }, "dryRun", /true or false/],
      [{ delay: "1d" }, "delay", /invalid duration "1d"/],
      [{ delay: 3600 }, "delay", /Go duration string/],
      [{ delay: "-1h" }, "delay", /0 or more/],
      [{ policies: {} }, "policies", /must be a list/],
      [{ policies: [{}] }, "policies[0].repositories", /is required/],
      [{ policies: [{ repositories: [] }] }, "policies[0].repositories", /must not be empty/],
      [{ policies: [{ repositories: ["ok", "Prod/**"] }] }, "policies[0].repositories[1]", /lowercase/],
      [{ policies: [{ repositories: ["a//b"] }] }, "policies[0].repositories[0]", /empty path segment/],
      [{ policies: [{ repositories: [7] }] }, "policies[0].repositories[0]", /repository glob/],
      [{ policies: [{ repositories: ["**"], deleteUntagged: 1 }] }, "policies[0].deleteUntagged", /true or false/],
      [{ policies: [{ repositories: ["**"], deleteReferrers: "true" }] }, "policies[0].deleteReferrers", /true or false/],
      [{ policies: [{ repositories: ["**"], keepTags: {} }] }, "policies[0].keepTags", /must be a list/],
      [{ policies: [{ repositories: ["**"], keepTags: ["v1"] }] }, "policies[0].keepTags[0]", /must be an object/],
      [{ policies: [{ repositories: ["**"] }, { repositories: ["**"], keepTags: [{}, { patterns: ["a", "b", "("] }] }] }, "policies[1].keepTags[1].patterns[2]", /invalid regular expression "\(": /],
      [{ policies: [{ repositories: ["**"], keepTags: [{ patterns: "v1" }] }] }, "policies[0].keepTags[0].patterns", /must be a list/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ patterns: [1] }] }] }, "policies[0].keepTags[0].patterns[0]", /a string/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ patterns: ["[[:alpha:]]"] }] }] }, "policies[0].keepTags[0].patterns[0]", /invalid regular expression/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ patterns: ["(?U)a+"] }] }] }, "policies[0].keepTags[0].patterns[0]", /inline flags/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ pushedWithin: "30 days" }] }] }, "policies[0].keepTags[0].pushedWithin", /invalid duration/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ pulledWithin: "0s" }] }] }, "policies[0].keepTags[0].pulledWithin", /more than 0/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ mostRecentlyPushedCount: -1 }] }] }, "policies[0].keepTags[0].mostRecentlyPushedCount", /whole number/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ mostRecentlyPulledCount: 2.5 }] }] }, "policies[0].keepTags[0].mostRecentlyPulledCount", /whole number/],
      [{ policies: [{ repositories: ["**"], keepTags: [{ mostRecentlyPulledCount: "10" }] }] }, "policies[0].keepTags[0].mostRecentlyPulledCount", /whole number/],
    ] as const) {
      const e = refusal(doc);
      expect(e.setting, path).toBe("BERTH_RETENTION");
      expect(e.message, path).toMatch(new RegExp(`^configuration error: BERTH_RETENTION: ${path.replace(/[[\]]/g, "\\$&")}${path === "" ? "" : ": "}`));
      expect(e.message, path).toMatch(why);
    }
  });

  it("refuses unknown fields at every level, naming them", () => {
    for (const [doc, where, field] of [
      [{ dryrun: true, gcDelay: "1h" }, "", "gcDelay"],
      [{ retention: {} }, "", "retention"],
      [{ policies: [{ repoNames: ["**"] }] }, "policies[0]", "repoNames"],
      [{ policies: [{ repositories: ["**"], keepTag: [] }] }, "policies[0]", "keepTag"],
      [{ policies: [{ repositories: ["**"], keepTags: [{ pattern: [".*"] }] }] }, "policies[0].keepTags[0]", "pattern"],
    ] as const) {
      const e = refusal(doc);
      expect(e.message).toContain(`BERTH_RETENTION: ${where === "" ? "" : `${where}: `}unknown field "${field}"`);
    }
    expect(refusal({ policies: [{ repoNames: ["**"] }] }).message).toMatch(/the field is "repositories"/);
    expect(refusal({ dryRun: true, DRYRUN: false }).message).toMatch(/given twice/);
  });

  it("never echoes a huge value", () => {
    const huge = "x".repeat(5000);
    for (const doc of [{ delay: huge }, { policies: [{ repositories: ["**"], keepTags: [{ patterns: [`(${huge}`.slice(0, 200)] }] }] }, { [huge]: 1 }]) {
      expect(refusal(doc).message.length).toBeLessThan(400);
    }
    expect(refusal({ policies: [{ repositories: ["**"], keepTags: [{ patterns: [huge] }] }] }).message).toMatch(/longer than 256/);
  });
});

describe("policy selection", () => {
  const c = cfg({
    policies: [
      { repositories: ["prod/*"], deleteReferrers: true, keepTags: [{ patterns: ["^v"] }] },
      { repositories: ["prod/**", "legacy"], deleteUntagged: false, keepTags: [] },
    ],
  });

  it("the first policy whose globs match applies; none → every tag kept", () => {
    expect(policyFor(c, "prod/app")?.index).toBe(0);
    expect(policyFor(c, "prod/team/app")?.index).toBe(1);
    expect(policyFor(c, "legacy")?.index).toBe(1);
    expect(policyFor(c, "dev/app")).toBeNull();
    expect(kept(c, "prod/app", [tag("v1", 100), tag("latest", 100)])).toEqual(["v1"]);
    expect(decideTags(c, "dev/app", [tag("latest", 1000)], NOW)).toEqual([{ tag: "latest", keep: true, reason: "no retention policy matches the repository" }]);
  });

  it("empty keepTags keeps every tag", () => {
    expect(decideTags(c, "legacy", [tag("old", 9999)], NOW)).toEqual([{ tag: "old", keep: true, reason: "policies[1]: keepTags is empty, so every tag is kept" }]);
  });
});

describe("keepTags criteria", () => {
  it("patterns only: every matching tag kept; unanchored like Go; non-matching removed", () => {
    const c = one([{ patterns: ["v2.*", "-prod$"] }]);
    expect(kept(c, "a", [tag("v2.1", 5000), tag("app-prod", 5000), tag("xv2", 5000), tag("latest", 1), tag("prod-x", 1)])).toEqual(["v2.1", "app-prod", "xv2"]);
  });

  it("pushedWithin", () => {
    const c = one([{ pushedWithin: "24h" }]);
    expect(kept(c, "a", [tag("new", 23), tag("old", 25, 1)])).toEqual(["new"]);
  });

  it("pulledWithin; it also keeps tags pushed within the window (too new to have been pulled)", () => {
    const c = one([{ pulledWithin: "168h" }]);
    expect(kept(c, "a", [tag("pulled", 1000, 100), tag("stale", 1000, 200), tag("never", 1000), tag("fresh", 10)])).toEqual(["pulled", "fresh"]);
  });

  it("mostRecentlyPushedCount", () => {
    const c = one([{ mostRecentlyPushedCount: 2 }]);
    expect(kept(c, "a", [tag("a", 30), tag("b", 10), tag("c", 20), tag("d", 40)])).toEqual(["b", "c"]);
    // Ties by name, whatever the listing order.
    expect(kept(c, "a", [tag("z", 10), tag("y", 10), tag("x", 10)])).toEqual(["y", "x"]);
  });

  it("mostRecentlyPulledCount; never-pulled tags rank last but fill the slots left", () => {
    const c = one([{ mostRecentlyPulledCount: 2 }]);
    expect(kept(c, "a", [tag("a", 1, 30), tag("b", 1, 10), tag("c", 1, 20), tag("d", 1)])).toEqual(["b", "c"]);
    expect(kept(c, "a", [tag("pulled", 500, 400), tag("never-new", 5), tag("never-old", 50)])).toEqual(["pulled", "never-new"]);
  });

  it("criteria of one entry combine with OR, and apply only to the tags its patterns match", () => {
    const c = one([{ patterns: ["^v"], pushedWithin: "24h", mostRecentlyPulledCount: 1 }]);
    expect(kept(c, "a", [tag("v1", 100, 1), tag("v2", 100, 5), tag("v3", 2), tag("latest", 1, 1)])).toEqual(["v1", "v3"]);
  });

  it("a count of 0 is unset: an entry with only zero counts keeps every tag it matches, as in zot", () => {
    expect(kept(one([{ patterns: ["^v"], mostRecentlyPushedCount: 0 }]), "a", [tag("v1", 900), tag("v2", 900)])).toEqual(["v1", "v2"]);
  });
});

describe("combining keepTags entries", () => {
  it("a tag kept by any entry is kept; the entries' patterns add up", () => {
    const c = one([{ patterns: ["^release-"] }, { patterns: ["^dev-"], mostRecentlyPushedCount: 1 }]);
    expect(kept(c, "a", [tag("release-1", 900), tag("dev-1", 5), tag("dev-2", 9), tag("other", 1)])).toEqual(["release-1", "dev-1"]);
  });

  it("the first entry whose patterns match governs the tag (zot's code), and counts rank only its own tags", () => {
    const c = one([{ patterns: ["-prod$"], pushedWithin: "24h" }, { patterns: [".*"], mostRecentlyPushedCount: 2 }]);
    const tags = [tag("old-prod", 900), tag("new-prod", 1), tag("a", 50), tag("b", 60), tag("c", 70)];
    // old-prod matches entry 0 only for zot, so entry 1 never keeps it; entry 1's two slots go to a and b.
    expect(kept(c, "a", tags)).toEqual(["new-prod", "a", "b"]);
  });
});

describe("unknown times", () => {
  it("unknown push time: kept whatever the rules say, as zot keeps tags without statistics", () => {
    const c = one([{ patterns: ["^v"], pushedWithin: "1h" }]);
    expect(decideTags(c, "a", [tag("latest", null), tag("v1", null, 1)], NOW).every((d) => d.keep)).toBe(true);
    // ...and they take no slot of a count.
    expect(kept(one([{ mostRecentlyPushedCount: 1 }]), "a", [tag("unknown", null), tag("a", 5), tag("b", 9)])).toEqual(["unknown", "a"]);
  });

  it("unknown pull time: not pulled within any window", () => {
    expect(kept(one([{ pulledWithin: "24h" }]), "a", [tag("never", 48), tag("pulled", 48, 1)])).toEqual(["pulled"]);
  });
});

describe("delay", () => {
  it("untagged manifests and orphaned referrers: deletable only once older than delay; unknown age never", () => {
    const c = cfg({ delay: "2h" });
    expect(pastDelay(c.delayMs, NOW - 3 * H, NOW)).toBe(true);
    expect(pastDelay(c.delayMs, NOW - 2 * H, NOW)).toBe(true);
    expect(pastDelay(c.delayMs, NOW - H, NOW)).toBe(false);
    expect(pastDelay(c.delayMs, null, NOW)).toBe(false);
    expect(pastDelay(cfg({}).delayMs, NOW - 23 * H, NOW)).toBe(false);
    expect(pastDelay(cfg({ delay: "0" }).delayMs, NOW, NOW)).toBe(true);
  });

  it("does not protect tags, as in zot: a tag pushed a minute ago that no rule keeps is removed", () => {
    const c = cfg({ delay: "24h", policies: [{ repositories: ["**"], keepTags: [{ patterns: ["^v"] }] }] });
    expect(kept(c, "a", [tag("latest", 1 / 60), tag("v1", 9999)])).toEqual(["v1"]);
  });
});

describe("reasons", () => {
  it("name the policy, the entry and the criterion, for keeps and removals", () => {
    const c = cfg({
      policies: [
        { repositories: ["other"] },
        {
          repositories: ["**"],
          keepTags: [{ patterns: ["^release-"] }, { patterns: ["^v"], pushedWithin: "720h", pulledWithin: "168h", mostRecentlyPushedCount: 1, mostRecentlyPulledCount: 1 }],
        },
      ],
    });
    const got = decideTags(c, "app", [tag("release-1", 9000), tag("v1", 10, 1), tag("v0", 800, 200), tag("vnew", 2), tag("v-1", 900), tag("latest", 1), tag("x", null)], NOW);
    expect(got).toEqual([
      { tag: "release-1", keep: true, reason: "policies[1].keepTags[0]: matches its patterns (an entry without criteria keeps every tag it matches)" },
      { tag: "v1", keep: true, reason: "policies[1].keepTags[1]: pushed within 720h; pulled within 168h; among the 1 most recently pulled" },
      { tag: "v0", keep: false, reason: "policies[1].keepTags[1]: none of its criteria keeps it (not pushed within 720h; not pulled within 168h; not among the 1 most recently pushed; not among the 1 most recently pulled)" },
      { tag: "vnew", keep: true, reason: "policies[1].keepTags[1]: pushed within 720h; pushed within 168h, so too new for its pulledWithin; among the 1 most recently pushed" },
      { tag: "v-1", keep: false, reason: "policies[1].keepTags[1]: none of its criteria keeps it (not pushed within 720h; never pulled (pulledWithin 168h); not among the 1 most recently pushed; not among the 1 most recently pulled)" },
      { tag: "latest", keep: false, reason: "policies[1]: no keepTags rule keeps it (it matches none of their patterns)" },
      { tag: "x", keep: true, reason: "policies[1]: push time unknown, so it is kept (as zot keeps tags it has no statistics for)" },
    ]);
  });

  it("say when a never-pulled tag fills a mostRecentlyPulledCount slot", () => {
    expect(decideTags(one([{ mostRecentlyPulledCount: 3 }]), "a", [tag("a", 5)], NOW)[0]!.reason).toBe(
      "policies[0].keepTags[0]: among the 3 most recently pulled (never pulled, but fewer tags were)",
    );
  });
});
