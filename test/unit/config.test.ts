// Unit tests of src/config.ts: defaults, Distribution-compatible names and limits, and that errors name
// the setting and never reveal a secret.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, parseGoDuration, type Env } from "../../src/config";

const ACCESS = "AKIAEXAMPLEACCESS";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

function env(extra: Env = {}): Env {
  return {
    REGISTRY_STORAGE_S3_BUCKET: "my-registry",
    REGISTRY_STORAGE_S3_REGION: "eu-west-1",
    REGISTRY_STORAGE_S3_ACCESSKEY: ACCESS,
    REGISTRY_STORAGE_S3_SECRETKEY: SECRET,
    ...extra,
  };
}

function fail(e: Env): ConfigError {
  try {
    parseConfig(e);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

function failsOn(extra: Env, setting: string, why: RegExp): ConfigError {
  const e = fail(env(extra));
  expect(e.setting).toBe(setting);
  expect(e.message).toMatch(new RegExp(`^configuration error: ${setting}: `));
  expect(e.message).toMatch(why);
  expect(e.message).not.toContain(SECRET);
  expect(e.message).not.toContain(ACCESS);
  return e;
}

const MiB = 1024 * 1024;

describe("parseConfig defaults", () => {
  it("fills every default for AWS", () => {
    const { auth, ...rest } = parseConfig(env());
    expect(auth.mode).toBe("unset");
    expect(rest).toEqual({
      s3: {
        bucket: "my-registry",
        region: "eu-west-1",
        endpoint: "https://s3.eu-west-1.amazonaws.com",
        forcePathStyle: false,
        accessKey: ACCESS,
        secretKey: SECRET,
        v4auth: true,
        rootDirectory: "",
        encrypt: false,
        keyId: undefined,
        chunkSize: 10 * MiB,
        storageClass: "STANDARD",
        objectAcl: "private",
        multipartCopyChunkSize: 32 * MiB,
        multipartCopyMaxConcurrency: 100,
        multipartCopyThresholdSize: 32 * MiB,
        redirectEndpoint: undefined,
      },
      redirectDisable: false,
      redirectExpirySeconds: 1200,
      deleteEnabled: true,
      edgeCache: true,
      uploadExpiryMs: 168 * 3600 * 1000,
      chunkMaxLength: 64 * MiB,
      ui: { enabled: true, corsOrigins: [] },
      notifications: { endpoints: [] },
      mirror: { upstreams: [], wholeRegistry: false, evictAfterMs: null },
      observability: { logLevel: "info", metricsToken: null },
      maintenance: { readOnly: false, immutableTags: expect.objectContaining({ empty: true }) },
      gc: { enabled: true, delayMs: 3600_000, intervalMs: 86_400_000, deleteUntagged: false, dryRun: false, uploadPurgeAgeMs: 168 * 3600_000, fenceLeaseMs: 20_000, retention: null },
    });
  });

  it("validates the garbage collector's settings, naming the bad one", () => {
    expect(parseConfig(env({ BERTH_GC: "false", BERTH_GC_DELAY: "0", BERTH_GC_DELETE_UNTAGGED: "true", BERTH_GC_DRY_RUN: "true" })).gc).toMatchObject({
      enabled: false,
      delayMs: 0,
      deleteUntagged: true,
      dryRun: true,
    });
    failsOn({ BERTH_GC_DELAY: "soon" }, "BERTH_GC_DELAY", /duration/);
    failsOn({ BERTH_GC_INTERVAL: "1s" }, "BERTH_GC_INTERVAL", /between/);
    failsOn({ BERTH_GC: "maybe" }, "BERTH_GC", /true|false/);
    failsOn({ BERTH_GC_FENCE_LEASE: "10m" }, "BERTH_GC_FENCE_LEASE", /between/);
  });

  it("validates BERTH_LOG_LEVEL and BERTH_METRICS_TOKEN, never echoing the token", () => {
    expect(parseConfig(env({ BERTH_LOG_LEVEL: "WARN", BERTH_METRICS_TOKEN: "m".repeat(16) })).observability).toEqual({
      logLevel: "warn",
      metricsToken: "m".repeat(16),
    });
    failsOn({ BERTH_LOG_LEVEL: "loud" }, "BERTH_LOG_LEVEL", /debug, info, warn, error, off/);
    failsOn({ BERTH_METRICS_TOKEN: "short-secret" }, "BERTH_METRICS_TOKEN", /at least 16/);
    failsOn({ BERTH_METRICS_TOKEN: "has a space in it, long enough" }, "BERTH_METRICS_TOKEN", /printable/);
    expect(() => parseConfig(env({ BERTH_METRICS_TOKEN: "short-secret" }))).toThrow(expect.objectContaining({ message: expect.not.stringContaining("short-secret") }));
  });

  it("validates BERTH_CHUNK_MAX_LENGTH", () => {
    expect(parseConfig(env({ BERTH_CHUNK_MAX_LENGTH: "99000000" })).chunkMaxLength).toBe(99_000_000);
    expect(() => parseConfig(env({ BERTH_CHUNK_MAX_LENGTH: "1024" }))).toThrow(/BERTH_CHUNK_MAX_LENGTH/);
    expect(() => parseConfig(env({ BERTH_CHUNK_MAX_LENGTH: "lots" }))).toThrow(/BERTH_CHUNK_MAX_LENGTH/);
  });

  it("uses http without SECURE, and amazonaws.com.cn for China regions", () => {
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_SECURE: "false" })).s3.endpoint).toBe("http://s3.eu-west-1.amazonaws.com");
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_REGION: "cn-north-1" })).s3.endpoint).toBe("https://s3.cn-north-1.amazonaws.com.cn");
  });

  it("with a regionendpoint: region defaults to us-east-1 and path style turns on", () => {
    const c = parseConfig(env({ REGISTRY_STORAGE_S3_REGION: undefined, REGISTRY_STORAGE_S3_REGIONENDPOINT: "http://127.0.0.1:8080/" }));
    expect(c.s3.region).toBe("us-east-1");
    expect(c.s3.endpoint).toBe("http://127.0.0.1:8080");
    expect(c.s3.forcePathStyle).toBe(true);
  });

  it("adds the scheme to a scheme-less endpoint by SECURE; an explicit scheme wins", () => {
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_REGIONENDPOINT: "minio.local:9000" })).s3.endpoint).toBe("https://minio.local:9000");
    expect(
      parseConfig(env({ REGISTRY_STORAGE_S3_REGIONENDPOINT: "minio.local:9000", REGISTRY_STORAGE_S3_SECURE: "no" })).s3.endpoint,
    ).toBe("http://minio.local:9000");
    expect(
      parseConfig(env({ REGISTRY_STORAGE_S3_REGIONENDPOINT: "https://x.r2.cloudflarestorage.com", REGISTRY_STORAGE_S3_SECURE: false }))
        .s3.endpoint,
    ).toBe("https://x.r2.cloudflarestorage.com");
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_REGIONENDPOINT: "https://h/base/path/" })).s3.endpoint).toBe("https://h/base/path");
  });

  it("lets FORCEPATHSTYLE override the default both ways", () => {
    const withEndpoint = env({ REGISTRY_STORAGE_S3_REGIONENDPOINT: "https://s3.example.com", REGISTRY_STORAGE_S3_FORCEPATHSTYLE: "false" });
    expect(parseConfig(withEndpoint).s3.forcePathStyle).toBe(false);
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_FORCEPATHSTYLE: "TRUE" })).s3.forcePathStyle).toBe(true);
  });
});

describe("parseConfig values", () => {
  it("accepts booleans and numbers as wrangler delivers them", () => {
    const c = parseConfig(
      env({
        REGISTRY_STORAGE_S3_ENCRYPT: true,
        REGISTRY_STORAGE_S3_V4AUTH: 0,
        REGISTRY_STORAGE_S3_CHUNKSIZE: 16 * MiB,
        REGISTRY_STORAGE_REDIRECT_DISABLE: "Yes",
        REGISTRY_STORAGE_DELETE_ENABLED: "0",
        BERTH_REDIRECT_EXPIRY: 90,
        REGISTRY_STORAGE_S3_MULTIPARTCOPYMAXCONCURRENCY: 1,
      }),
    );
    expect(c.s3.encrypt).toBe(true);
    expect(c.s3.v4auth).toBe(false);
    expect(c.s3.chunkSize).toBe(16 * MiB);
    expect(c.redirectDisable).toBe(true);
    expect(c.deleteEnabled).toBe(false);
    expect(c.redirectExpirySeconds).toBe(90);
    expect(c.s3.multipartCopyMaxConcurrency).toBe(1);
  });

  it("treats blank strings as unset", () => {
    const c = parseConfig(env({ REGISTRY_STORAGE_S3_CHUNKSIZE: "", REGISTRY_STORAGE_S3_KEYID: "  ", BERTH_REDIRECT_EXPIRY: "" }));
    expect(c.s3.chunkSize).toBe(10 * MiB);
    expect(c.s3.keyId).toBeUndefined();
    expect(c.redirectExpirySeconds).toBe(1200);
  });

  it("normalizes rootdirectory", () => {
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: "/" })).s3.rootDirectory).toBe("");
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: "/registry/v1/" })).s3.rootDirectory).toBe("registry/v1");
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: "a.b_c-d" })).s3.rootDirectory).toBe("a.b_c-d");
  });

  it("normalizes storage class and ACL spelling", () => {
    const c = parseConfig(env({ REGISTRY_STORAGE_S3_STORAGECLASS: "none", REGISTRY_STORAGE_S3_OBJECTACL: "Bucket-Owner-Full-Control" }));
    expect(c.s3.storageClass).toBe("NONE");
    expect(c.s3.objectAcl).toBe("bucket-owner-full-control");
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_STORAGECLASS: "EXPRESS_ONEZONE" })).s3.storageClass).toBe("EXPRESS_ONEZONE");
  });

  it("accepts the size limits inclusive", () => {
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * MiB) })).s3.chunkSize).toBe(5 * MiB);
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_CHUNKSIZE: "5368709120" })).s3.chunkSize).toBe(5368709120);
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_CHUNKSIZE: 10.5 * MiB })).s3.chunkSize).toBe(11010048);
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_MULTIPARTCOPYTHRESHOLDSIZE: "0" })).s3.multipartCopyThresholdSize).toBe(0);
  });

  it("reads durations: Go syntax or whole seconds", () => {
    expect(parseConfig(env({ BERTH_REDIRECT_EXPIRY: "1h30m" })).redirectExpirySeconds).toBe(5400);
    expect(parseConfig(env({ BERTH_REDIRECT_EXPIRY: "168h" })).redirectExpirySeconds).toBe(604800);
    expect(parseConfig(env({ BERTH_REDIRECT_EXPIRY: "1s" })).redirectExpirySeconds).toBe(1);
    expect(parseConfig(env({ REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: "24h" })).uploadExpiryMs).toBe(86_400_000);
    expect(parseConfig(env({ REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: "3600" })).uploadExpiryMs).toBe(3_600_000);
  });

  it("keeps the redirect endpoint", () => {
    expect(parseConfig(env({ REGISTRY_STORAGE_S3_REDIRECTENDPOINT: "cdn.example.com" })).s3.redirectEndpoint).toBe("https://cdn.example.com");
  });
});

describe("parseConfig errors", () => {
  it("requires bucket, region (without endpoint) and both keys", () => {
    failsOn({ REGISTRY_STORAGE_S3_BUCKET: undefined }, "REGISTRY_STORAGE_S3_BUCKET", /is required/);
    failsOn({ REGISTRY_STORAGE_S3_REGION: "" }, "REGISTRY_STORAGE_S3_REGION", /required unless REGISTRY_STORAGE_S3_REGIONENDPOINT/);
    failsOn({ REGISTRY_STORAGE_S3_ACCESSKEY: undefined }, "REGISTRY_STORAGE_S3_ACCESSKEY", /is required: Workers have no AWS credential chain/);
    failsOn({ REGISTRY_STORAGE_S3_SECRETKEY: "" }, "REGISTRY_STORAGE_S3_SECRETKEY", /is required/);
  });

  it("never shows a secret, even a malformed one", () => {
    const badSecret = "s3cr3t-with space";
    const e1 = failsOn({ REGISTRY_STORAGE_S3_SECRETKEY: badSecret }, "REGISTRY_STORAGE_S3_SECRETKEY", /whitespace or control/);
    expect(e1.message).not.toContain("s3cr3t");
    const e2 = failsOn({ REGISTRY_STORAGE_S3_ACCESSKEY: "AKIA\nLEAK" }, "REGISTRY_STORAGE_S3_ACCESSKEY", /whitespace or control/);
    expect(e2.message).not.toContain("LEAK");
    const e3 = failsOn({ REGISTRY_STORAGE_S3_SECRETKEY: { value: "objsecret" } }, "REGISTRY_STORAGE_S3_SECRETKEY", /must be a string, got object/);
    expect(e3.message).not.toContain("objsecret");
    const e4 = failsOn(
      { REGISTRY_STORAGE_S3_REGIONENDPOINT: "https://user:hunter2@s3.example.com" },
      "REGISTRY_STORAGE_S3_REGIONENDPOINT",
      /must not contain credentials/,
    );
    expect(e4.message).not.toContain("hunter2");
    const e5 = failsOn({ REGISTRY_STORAGE_S3_REGIONENDPOINT: "http://user:hunter2@[bad" }, "REGISTRY_STORAGE_S3_REGIONENDPOINT", /not a valid URL: \(value hidden\)/);
    expect(e5.message).not.toContain("hunter2");
  });

  it.each([
    ["REGISTRY_STORAGE_S3_SECURE", "maybe", /must be true or false \(or 1\/0, yes\/no\), got "maybe"/],
    ["REGISTRY_STORAGE_S3_ENCRYPT", "2", /got "2"/],
    ["REGISTRY_STORAGE_S3_V4AUTH", "on", /got "on"/],
    ["REGISTRY_STORAGE_DELETE_ENABLED", "enabled", /got "enabled"/],
    ["REGISTRY_STORAGE_REDIRECT_DISABLE", 7, /got "7"/],
    ["REGISTRY_STORAGE_S3_FORCEPATHSTYLE", "t", /got "t"/],
  ])("rejects boolean %s=%j", (name, value, why) => {
    failsOn({ [name]: value }, name, why);
  });

  it.each([
    ["REGISTRY_STORAGE_S3_CHUNKSIZE", "5242879", /between 5242880 \(5 MiB\) and 5368709120 \(5 GiB\), got 5242879/],
    ["REGISTRY_STORAGE_S3_CHUNKSIZE", "5368709121", /got 5368709121/],
    ["REGISTRY_STORAGE_S3_CHUNKSIZE", "10MiB", /must be a whole number between .*, got "10MiB"/],
    ["REGISTRY_STORAGE_S3_CHUNKSIZE", "1e7", /got "1e7"/],
    ["REGISTRY_STORAGE_S3_CHUNKSIZE", "-6000000", /whole number/],
    ["REGISTRY_STORAGE_S3_MULTIPARTCOPYCHUNKSIZE", "1", /between 5242880/],
    ["REGISTRY_STORAGE_S3_MULTIPARTCOPYMAXCONCURRENCY", "0", /at least 1, got 0/],
    ["REGISTRY_STORAGE_S3_MULTIPARTCOPYTHRESHOLDSIZE", String(6 * 1024 * MiB), /between 0 and 5368709120/],
    ["REGISTRY_STORAGE_S3_CHUNKSIZE", "99999999999999999999", /got 99999999999999999999/],
  ])("rejects %s=%j", (name, value, why) => {
    failsOn({ [name]: value }, name, why);
  });

  it("rejects a fractional number from wrangler", () => {
    failsOn({ REGISTRY_STORAGE_S3_CHUNKSIZE: 5.5 * MiB + 0.5 }, "REGISTRY_STORAGE_S3_CHUNKSIZE", /whole number/);
  });

  it.each([
    ["REGISTRY_STORAGE_S3_STORAGECLASS", "GLACIER", /must be one of NONE, STANDARD, .*EXPRESS_ONEZONE; got "GLACIER"/],
    ["REGISTRY_STORAGE_S3_OBJECTACL", "public", /must be one of private, .*log-delivery-write; got "public"/],
  ])("rejects %s=%j", (name, value, why) => {
    failsOn({ [name]: value }, name, why);
  });

  it.each([
    ["/a/../b", /must not contain empty, "\." or "\.\." path components/],
    ["..", /path components/],
    ["a//b", /path components/],
    ["a/./b", /path components/],
    ["a b", /may contain only letters/],
    ["a%2Fb", /may contain only letters/],
    ["ü", /may contain only letters/],
  ])("rejects rootdirectory %j", (value, why) => {
    failsOn({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: value }, "REGISTRY_STORAGE_S3_ROOTDIRECTORY", why);
  });

  it.each([
    ["ftp://s3.example.com", /must be an http or https URL/],
    ["https://s3.example.com/?x=1", /must not have a query or fragment/],
    ["https://s3.example.com/#f", /must not have a query or fragment/],
    ["http://[bad", /is not a valid URL: "http:\/\/\[bad"/],
  ])("rejects regionendpoint %j", (value, why) => {
    failsOn({ REGISTRY_STORAGE_S3_REGIONENDPOINT: value }, "REGISTRY_STORAGE_S3_REGIONENDPOINT", why);
  });

  it("rejects bad bucket names, and non-DNS names in virtual-hosted style", () => {
    failsOn({ REGISTRY_STORAGE_S3_BUCKET: "a/b" }, "REGISTRY_STORAGE_S3_BUCKET", /"a\/b" is not a valid bucket name/);
    failsOn({ REGISTRY_STORAGE_S3_BUCKET: ".." }, "REGISTRY_STORAGE_S3_BUCKET", /is not a valid bucket name/);
    failsOn({ REGISTRY_STORAGE_S3_BUCKET: "My_Bucket" }, "REGISTRY_STORAGE_S3_BUCKET", /set REGISTRY_STORAGE_S3_FORCEPATHSTYLE=true/);
    const swift = env({ REGISTRY_STORAGE_S3_BUCKET: "My_Bucket", REGISTRY_STORAGE_S3_REGIONENDPOINT: "http://127.0.0.1:8080" });
    expect(parseConfig(swift).s3.bucket).toBe("My_Bucket");
  });

  it("rejects a bad region", () => {
    failsOn({ REGISTRY_STORAGE_S3_REGION: "eu west" }, "REGISTRY_STORAGE_S3_REGION", /"eu west" is not a valid region name/);
  });

  it.each([
    ["BERTH_REDIRECT_EXPIRY", "0", /must be between 1s and 7 days \(168h\), got "0"/],
    ["BERTH_REDIRECT_EXPIRY", "169h", /must be between 1s and 7 days/],
    ["BERTH_REDIRECT_EXPIRY", "500ms", /must be between 1s/],
    ["BERTH_REDIRECT_EXPIRY", "-5m", /must be between 1s/],
    ["BERTH_REDIRECT_EXPIRY", "1.5s", /whole number of seconds/],
    ["BERTH_REDIRECT_EXPIRY", "20 minutes", /invalid duration "20 minutes"/],
    ["BERTH_REDIRECT_EXPIRY", "1d", /unknown unit "d"/],
    ["REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "0", /must be at least 1s, got "0"/],
    ["REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "weekly", /invalid duration "weekly"/],
  ])("rejects %s=%j", (name, value, why) => {
    failsOn({ [name]: value }, name, why);
  });
});

describe("parseGoDuration", () => {
  it.each([
    ["0", 0],
    ["+0", 0],
    ["-0", 0],
    ["20m", 1_200_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["90s", 90_000],
    ["300ms", 300],
    ["1h1m1s1ms", 3_661_001],
    [".5s", 500],
    ["1.s", 1000],
    ["-1m", -60_000],
    ["1000us", 1],
    ["1000µs", 1],
    ["1000μs", 1],
    ["1000000ns", 1],
    ["168h", 604_800_000],
  ])("%j = %d ms", (s, ms) => {
    expect(parseGoDuration(s)).toBeCloseTo(ms, 9);
  });

  it.each(["", "1", "h", ".", ".s", "1x", "1hh", "1 h", "1h 30m", "--1s", "1e3s", "s1", "1d", "9999999999999h"])(
    "rejects %j",
    (s) => {
      expect(() => parseGoDuration(s)).toThrow(/invalid duration/);
    },
  );

  it("scans a 100 KB input in linear time", () => {
    const t0 = performance.now();
    expect(() => parseGoDuration("1".repeat(100_000) + "x")).toThrow();
    expect(parseGoDuration("1s".repeat(50_000))).toBe(50_000_000);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
