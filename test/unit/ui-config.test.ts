// Unit tests of src/config/ui.ts: BERTH_UI (on by default, the boolean syntax of every other setting) and
// BERTH_CORS_ORIGINS (comma-separated http(s) origins in the browser's spelling; anything else is a
// ConfigError naming the setting).
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type Env } from "../../src/config";
import { parseOrigin, parseUiConfig } from "../../src/config/ui";

function fails(env: Env, setting: string, why: RegExp): void {
  let err: unknown;
  try {
    parseUiConfig(env);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).setting).toBe(setting);
  expect((err as ConfigError).message).toMatch(why);
}

describe("BERTH_UI", () => {
  it("is on by default and when blank", () => {
    expect(parseUiConfig({}).enabled).toBe(true);
    expect(parseUiConfig({ BERTH_UI: "" }).enabled).toBe(true);
  });

  it.each([
    ["false", false],
    ["0", false],
    ["no", false],
    ["FALSE", false],
    [false, false],
    ["true", true],
    ["1", true],
    ["yes", true],
    [true, true],
  ])("reads %j as %j", (v, want) => {
    expect(parseUiConfig({ BERTH_UI: v }).enabled).toBe(want);
  });

  it("refuses anything else, naming the setting", () => {
    fails({ BERTH_UI: "off" }, "BERTH_UI", /must be true or false/);
  });
});

describe("BERTH_CORS_ORIGINS", () => {
  it("is empty by default", () => {
    expect(parseUiConfig({}).corsOrigins).toEqual([]);
    expect(parseUiConfig({ BERTH_CORS_ORIGINS: "  " }).corsOrigins).toEqual([]);
  });

  it("takes comma-separated origins in the spelling browsers send", () => {
    const { corsOrigins } = parseUiConfig({
      BERTH_CORS_ORIGINS: " https://UI.Example.com , http://127.0.0.1:8080,https://ui.example.com:443,http://localhost:80/,",
    });
    expect(corsOrigins).toEqual(["https://ui.example.com", "http://127.0.0.1:8080", "http://localhost"]);
  });

  it("keeps IPv6 and non-default ports", () => {
    expect(parseOrigin("http://[::1]:5000")).toBe("http://[::1]:5000");
    expect(parseOrigin("https://registry-ui.example.org:8443")).toBe("https://registry-ui.example.org:8443");
  });

  it.each([
    ["*", /wildcard/],
    ["ui.example.com", /start with http:\/\/ or https:\/\//],
    ["ftp://ui.example.com", /start with http:\/\/ or https:\/\//],
    ["https://ui.example.com/app", /no path/],
    ["https://ui.example.com/?x=1", /no path, query/],
    ["https://ui.example.com#top", /no path, query, fragment/],
    ["https://user:pw@ui.example.com", /credentials/],
    ["https://", /scheme:\/\/host/],
    ["http://ui.example.com:99999", /host is not valid/],
    ["http://bad host", /scheme:\/\/host/],
  ])("refuses %j", (v, why) => {
    fails({ BERTH_CORS_ORIGINS: `https://ok.example.com,${v}` }, "BERTH_CORS_ORIGINS", why);
  });

  it("is part of the Worker's configuration, so a bad value fails every request naming it", () => {
    const base = { REGISTRY_STORAGE_S3_BUCKET: "my-registry", REGISTRY_STORAGE_S3_REGION: "us-east-1", REGISTRY_STORAGE_S3_ACCESSKEY: "k", REGISTRY_STORAGE_S3_SECRETKEY: "s" };
    expect(parseConfig({ ...base, BERTH_UI: "false", BERTH_CORS_ORIGINS: "https://a.example" }).ui).toEqual({ enabled: false, corsOrigins: ["https://a.example"] });
    expect(() => parseConfig({ ...base, BERTH_CORS_ORIGINS: "https://a.example/path" })).toThrow(/BERTH_CORS_ORIGINS/);
  });
});
