// The README's configuration examples must be accepted by the real parser: a documented example that does not
// parse is a broken promise to every user who copies it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { policyAllows } from "../../src/http/auth/access";
import { METRICS } from "../../src/metrics/catalog";
import { localName } from "../../src/jobs/sync/match";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const STORAGE = {
  REGISTRY_STORAGE_S3_BUCKET: "my-registry",
  REGISTRY_STORAGE_S3_REGION: "us-east-1",
  REGISTRY_STORAGE_S3_ACCESSKEY: "k",
  REGISTRY_STORAGE_S3_SECRETKEY: "s",
};

describe("README examples", () => {
  it("the access-control example parses, and grants what the text says", () => {
    const m = /REGISTRY_ACCESSCONTROL = '''\n([\s\S]*?)\n'''/.exec(readme);
    expect(m, "access-control example in README").not.toBeNull();
    const cfg = parseConfig({
      ...STORAGE,
      REGISTRY_AUTH: "htpasswd",
      REGISTRY_AUTH_HTPASSWD: `alice:$2y$05$${"a".repeat(53)}\nbob:$2y$05$${"b".repeat(53)}`,
      REGISTRY_ACCESSCONTROL: (m as RegExpExecArray)[1],
    });
    const access = cfg.auth.access;
    expect(access).not.toBeNull();
    if (!access) return;
    const may = (user: string | null, repo: string, action: "read" | "create" | "update" | "delete") =>
      policyAllows("htpasswd", access, user, access.groupsOf(user), repo, action);
    // The team pushes to team/*; others may only read there; anonymous callers may not.
    expect(may("bob", "team/app", "create")).toBe(true);
    expect(may("bob", "team/app", "delete")).toBe(true);
    expect(may("carol", "team/app", "create")).toBe(false);
    expect(may("carol", "team/app", "read")).toBe(true);
    expect(may(null, "team/app", "read")).toBe(false);
    // Anonymous pull of public/**, push there only for alice (and the admin policy).
    expect(may(null, "public/tools/x", "read")).toBe(true);
    expect(may(null, "public/tools/x", "create")).toBe(false);
    expect(may("alice", "public/tools/x", "create")).toBe(true);
    expect(may("bob", "public/tools/x", "create")).toBe(false);
  });

  it("the pull-through cache example parses: two upstreams, Docker Hub the default, the password from its secret", () => {
    const m = /BERTH_UPSTREAMS = '''\n([\s\S]*?)\n'''/.exec(readme);
    expect(m, "BERTH_UPSTREAMS example in README").not.toBeNull();
    const cfg = parseConfig({
      ...STORAGE,
      BERTH_UPSTREAMS: (m as RegExpExecArray)[1],
      HUB_TOKEN: "dckr_pat_x",
    });
    expect(cfg.mirror.upstreams.map((u) => [u.name, u.prefix, u.default, u.dockerHub, u.ttlMs])).toEqual([
      ["hub", "hub", true, true, 600_000],
      ["ghcr", "ghcr", false, false, 3_600_000],
    ]);
    expect(cfg.mirror.upstreams[0]!.credentials).toEqual({ username: "me", password: "dckr_pat_x" });
  });

  it("the periodic sync example parses, and places copies where the text says; its report is JSON", () => {
    const blocks = [...readme.matchAll(/BERTH_UPSTREAMS = '''\n([\s\S]*?)\n'''/g)];
    expect(blocks.length).toBe(2);
    const cfg = parseConfig({ ...STORAGE, BERTH_UPSTREAMS: blocks[1]![1], CORP_TOKEN: "t" });
    const corp = cfg.mirror.upstreams[0]!;
    expect(corp).toMatchObject({ name: "corp", onDemand: false, sync: { pollIntervalMs: 6 * 3600_000, maxRetries: 3, retryDelayMs: 300_000 } });
    const [team, base] = corp.sync!.content;
    expect(localName(corp.prefix, "team/app", team!)).toBe("corp/team/app");
    expect(localName(corp.prefix, "base/images/alpine", base!)).toBe("corp/base/alpine");
    const report = /A report:\n\n```json\n([\s\S]*?)\n```/.exec(readme);
    expect(report, "sync report example").not.toBeNull();
    expect(JSON.parse(report![1]!)).toMatchObject({ kind: "sync", result: { upstream: "corp", copied: 2 } });
  });

  it("the metrics table names every metric of the catalog with its type, and the settings table has the new settings", () => {
    for (const m of METRICS) expect(readme, m.name).toContain(`| \`${m.name}\` | ${m.type} |`);
    for (const setting of ["BERTH_METRICS_TOKEN", "BERTH_LOG_LEVEL"]) expect(readme, setting).toMatch(new RegExp(`^\\| \`${setting}\` \\|`, "m"));
  });
});
