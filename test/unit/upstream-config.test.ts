// The pull-through cache's settings: BERTH_UPSTREAMS (every field, defaults, the messages naming the bad
// field) and Distribution's REGISTRY_PROXY_* (the whole registry one upstream's cache); secrets never echoed.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config";
import { parseUpstreams } from "../../src/config/upstreams";
import { BASE_ENV } from "./support/registry";

const hub = { name: "hub", urls: ["https://registry-1.docker.io"], prefix: "hub" };
const parse = (list: unknown, env: Record<string, unknown> = {}) => parseUpstreams({ BERTH_UPSTREAMS: JSON.stringify(list), ...env });

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("no ConfigError");
}

describe("BERTH_UPSTREAMS", () => {
  it("Docker Hub needs nothing but its URL and a prefix; the defaults", () => {
    const { upstreams, wholeRegistry } = parse([hub]);
    expect(wholeRegistry).toBe(false);
    expect(upstreams).toEqual([
      {
        name: "hub",
        urls: ["https://registry-1.docker.io"],
        prefix: "hub",
        namespaces: [],
        default: false,
        credentials: null,
        ttlMs: 600_000,
        dockerHub: true,
        onDemand: true,
        sync: null,
      },
    ]);
  });

  it("reads every field, the password from the named secret, and zot's sync fields", () => {
    const [u] = parse(
      [
        {
          ...hub,
          urls: ["https://mirror.example.com/", "https://registry-1.docker.io"],
          namespaces: ["Docker.io"],
          default: true,
          credentials: { username: "bob", secret: "HUB_TOKEN" },
          ttl: "1h30m",
          onDemand: false,
          pollInterval: "6h",
          content: [{ prefix: "library/**", tags: { regex: "^3\\.", semver: true }, destination: "/sync/", stripPrefix: true }],
          maxRetries: 3,
          retryDelay: "5m",
        },
      ],
      { HUB_TOKEN: "dckr_pat_secret" },
    ).upstreams;
    expect(u).toMatchObject({
      urls: ["https://mirror.example.com", "https://registry-1.docker.io"],
      namespaces: ["docker.io"],
      default: true,
      credentials: { username: "bob", password: "dckr_pat_secret" },
      ttlMs: 5_400_000,
      onDemand: false,
      sync: { pollIntervalMs: 6 * 3600_000, maxRetries: 3, retryDelayMs: 300_000 },
    });
    expect(u!.sync!.content[0]).toMatchObject({ prefix: "library/**", tagsSemver: true, destination: "sync", stripPrefix: true });
    expect(u!.sync!.content[0]!.tagsRegex!.test("3.19")).toBe(true);
  });

  it.each([
    [[{ ...hub, urls: [] }], "BERTH_UPSTREAMS: [0].urls: must be a non-empty list"],
    [[{ ...hub, urls: ["ftp://x"] }], "[0].urls[0]: must be an http or https URL"],
    [[{ ...hub, urls: ["https://u:p@x.test"] }], "[0].urls[0]: must not contain credentials"],
    [[{ ...hub, prefix: "Hub" }], "[0].prefix: must be a repository name"],
    [[{ ...hub, ttl: "10" }], "[0].ttl: invalid duration"],
    [[{ ...hub, ttl: 600 }], "[0].ttl: must be a Go duration string"],
    [[{ ...hub, namespaces: ["docker io"] }], "[0].namespaces[0]: must be a host name"],
    [[{ ...hub, colour: "red" }], '[0]: unknown field "colour"'],
    [[{ ...hub, default: "yes" }], "[0].default: must be true or false"],
    [[hub, { ...hub, prefix: "other" }], '[1].name: "hub" is also the name of [0]'],
    [[hub, { ...hub, name: "b", prefix: "hub/x" }], '[1].prefix: "hub/x" overlaps the prefix "hub" of [0]'],
    [[{ ...hub, namespaces: ["docker.io"] }, { ...hub, name: "b", prefix: "b", namespaces: ["docker.io"] }], '[1].namespaces: "docker.io" is also a namespace of [0]'],
    [[{ ...hub, default: true }, { ...hub, name: "b", prefix: "b", default: true }], '[1].default: only one upstream may be the default ("hub" is)'],
    [[{ ...hub, credentials: { username: "bob", password: "inline" } }], '[0].credentials: unknown field "password"'],
    [[{ ...hub, credentials: { username: "bob", secret: "NOT_SET" } }], "[0].credentials.secret: names NOT_SET, which is not set"],
    [[{ ...hub, pollInterval: "10s" }], "[0].pollInterval: must be at least 1m"],
    [[{ ...hub, pollInterval: "1h", content: [{ prefix: "a", tags: { regex: "(" } }] }], "[0].content[0].tags.regex: is not a valid regular expression"],
    [[{ ...hub, maxRetries: -1 }], "[0].maxRetries: must be a whole number from 0 to 100"],
    [{ upstreams: [] }, "must be a JSON list of upstreams"],
  ])("%j fails naming the field", (list, message) => {
    expect(failure(() => parse(list))).toContain(message);
  });

  it("bad JSON names the setting and where, not the text", () => {
    const msg = failure(() => parseUpstreams({ BERTH_UPSTREAMS: '[{"name": "hub", "urls": ["x"]' }));
    expect(msg).toMatch(/^configuration error: BERTH_UPSTREAMS: is not valid JSON/);
  });
});

describe("REGISTRY_PROXY_* (Distribution's proxy mode)", () => {
  it("makes the whole registry one upstream's cache, asked on every pull by tag", () => {
    const m = parseUpstreams({ REGISTRY_PROXY_REMOTEURL: "https://registry-1.docker.io", REGISTRY_PROXY_USERNAME: "bob", REGISTRY_PROXY_PASSWORD: "pw-secret", REGISTRY_PROXY_TTL: "24h" });
    expect(m.wholeRegistry).toBe(true);
    expect(m.evictAfterMs).toBe(86_400_000);
    expect(m.upstreams[0]).toMatchObject({ prefix: "", default: true, ttlMs: 0, dockerHub: true, credentials: { username: "bob", password: "pw-secret" } });
  });

  it("refuses a user name without a password, and both forms at once; never shows the password", () => {
    expect(failure(() => parseUpstreams({ REGISTRY_PROXY_REMOTEURL: "https://r.test", REGISTRY_PROXY_PASSWORD: "pw-secret" }))).toContain(
      "REGISTRY_PROXY_USERNAME: must be set together",
    );
    const both = failure(() => parseUpstreams({ REGISTRY_PROXY_REMOTEURL: "https://r.test", BERTH_UPSTREAMS: JSON.stringify([hub]) }));
    expect(both).toContain("BERTH_UPSTREAMS: cannot be combined with REGISTRY_PROXY_REMOTEURL");
    const bad = failure(() => parseConfig({ ...BASE_ENV, BERTH_UPSTREAMS: JSON.stringify([{ ...hub, credentials: { username: "bob", secret: "S" }, ttl: "x" }]), S: "pw-secret" }));
    expect(bad).not.toContain("pw-secret");
  });
});
