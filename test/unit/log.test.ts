// The operator's log (src/log): BERTH_LOG_LEVEL drops the lines below it, `off` drops them all, and the
// audit log does not go through it (http/audit.ts writes with console.log whatever the level).
import { afterEach, describe, expect, it, vi } from "vitest";
import { audit } from "../../src/http/audit";
import { routeOf } from "../../src/http/outcome";
import { log, logLevel, setLogLevel } from "../../src/log";

afterEach(() => {
  setLogLevel("info");
  vi.restoreAllMocks();
});

function capture(): string[] {
  const out: string[] = [];
  for (const m of ["debug", "info", "warn", "error", "log"] as const) vi.spyOn(console, m).mockImplementation((line: string) => void out.push(`${m}: ${line}`));
  return out;
}

describe("the operator's log", () => {
  it("writes the lines at or above the level, info by default", () => {
    expect(logLevel()).toBe("info");
    const out = capture();
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    setLogLevel("error");
    log.warn("w2");
    log.error("e2");
    expect(out).toEqual(["info: i", "warn: w", "error: e", "error: e2"]);
  });

  it("off silences it, not the audit log", () => {
    const out = capture();
    setLogLevel("off");
    log.error("nobody hears this");
    const url = new URL("https://r.example/v2/a/manifests/v1");
    audit({
      id: "r1",
      startedAt: 0,
      durationMs: 1,
      method: "DELETE",
      url,
      route: routeOf(url.pathname, null),
      status: 202,
      error: null,
      caller: { user: "alice", groups: [], anonymous: false },
      clientAddress: null,
      userAgent: null,
      credentialsPresented: true,
      authenticationFailed: false,
      written: [{ action: "tag.delete", repository: "a", tag: "v1" }],
      pulled: [],
    });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^log: \{"audit":"berth",.*"action":"delete"/);
  });
});
