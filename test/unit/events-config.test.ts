// REGISTRY_NOTIFICATIONS (src/config/notifications.ts): Distribution's endpoint fields with its defaults,
// Berth's format/maxbackoff/maxattempts/blobpulls/ignore.untagged, header values from Worker secrets (and
// credentials refused as literal text), and errors that name the field without echoing a header value.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { parseNotifications } from "../../src/config/notifications";
import { BASE_ENV } from "./support/registry";

const N = "REGISTRY_NOTIFICATIONS";
const parse = (doc: unknown, extra: Record<string, unknown> = {}) => parseNotifications({ [N]: JSON.stringify(doc), ...extra });
const one = (ep: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parse({ endpoints: [{ name: "hook", url: "https://hooks.example.com/in", ...ep }] }, extra).endpoints[0]!;

describe("REGISTRY_NOTIFICATIONS", () => {
  it("unset or without endpoints: nothing to notify", () => {
    expect(parseNotifications({}).endpoints).toEqual([]);
    expect(parseNotifications({ [N]: "  " }).endpoints).toEqual([]);
    expect(parse({}).endpoints).toEqual([]);
    expect(parseConfig(BASE_ENV).notifications.endpoints).toEqual([]);
  });

  it("fills Distribution's defaults (timeout 1s, threshold 10, backoff 1s) and Berth's", () => {
    expect(one({})).toEqual({
      name: "hook",
      url: "https://hooks.example.com/in",
      headers: [],
      format: "distribution",
      timeoutMs: 1000,
      threshold: 10,
      backoffMs: 1000,
      maxBackoffMs: 600_000,
      maxAttempts: 50,
      ignoredMediaTypes: [],
      ignoredActions: [],
      ignoreUntagged: false,
      blobPulls: false,
      disabled: false,
    });
  });

  it("reads every field", () => {
    const ep = one({
      format: "cloudevents",
      timeout: "500ms",
      threshold: 3,
      backoff: "2s",
      maxbackoff: "1h",
      maxattempts: 7,
      ignoredmediatypes: ["application/octet-stream"],
      ignore: { mediatypes: ["Application/Vnd.OCI.Image.Index.v1+json"], actions: ["pull", "delete"], untagged: true },
      headers: { Accept: ["text/plain", "application/json"], "X-Team": "registry" },
      blobpulls: true,
      disabled: true,
    });
    expect(ep).toMatchObject({
      format: "cloudevents",
      timeoutMs: 500,
      threshold: 3,
      backoffMs: 2000,
      maxBackoffMs: 3_600_000,
      maxAttempts: 7,
      ignoredMediaTypes: ["application/octet-stream", "application/vnd.oci.image.index.v1+json"],
      ignoredActions: ["pull", "delete"],
      ignoreUntagged: true,
      blobPulls: true,
      disabled: true,
      headers: [
        ["Accept", "text/plain"],
        ["Accept", "application/json"],
        ["X-Team", "registry"],
      ],
    });
  });

  it("takes a header value from a Worker secret", () => {
    const ep = one({ headers: { Authorization: { secret: "HOOK_TOKEN" } } }, { HOOK_TOKEN: "Bearer s3cr3t-value" });
    expect(ep.headers).toEqual([["Authorization", "Bearer s3cr3t-value"]]);
  });

  it("refuses a credential written in the configuration, and never echoes it", () => {
    for (const name of ["Authorization", "X-Webhook-Secret", "X-Api-Key", "X-Auth-Token", "Cookie"]) {
      let message = "";
      try {
        one({ headers: { [name]: ["Bearer literal-credential"] } });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(new RegExp(`REGISTRY_NOTIFICATIONS: endpoints\\[0\\] \\(hook\\)\\.headers\\.${name}: .*Worker secret`));
      expect(message).not.toContain("literal-credential");
    }
  });

  it("a missing secret, credentials in the URL, and bad values name the field", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ headers: { Authorization: { secret: "NOPE" } } }, /headers\.Authorization: the Worker secret NOPE is not set/],
      [{ headers: { Authorization: { secret: "bad name" } } }, /headers\.Authorization: secret must name a Worker secret/],
      [{ headers: { "Content-Type": "text/plain" } }, /headers\.Content-Type: is set by Berth itself/],
      [{ url: "https://user:pw@hooks.example.com/" }, /\.url: must not contain credentials/],
      [{ url: "https://hooks.example.com/webhook?type=cloudevents&secret=abc" }, /\.url: must not carry a credential in \?secret=/],
      [{ url: "ftp://hooks.example.com/" }, /\.url: must be an http or https URL/],
      [{ url: undefined }, /\.url: is required/],
      [{ format: "harbor" }, /\.format: must be "distribution" or "cloudevents"/],
      [{ timeout: 500 }, /\.timeout: must be a Go duration string/],
      [{ timeout: "2m" }, /\.timeout: must be between/],
      [{ backoff: "1x" }, /\.backoff: invalid duration/],
      [{ backoff: "5m", maxbackoff: "1m" }, /\.maxbackoff: must not be shorter than backoff/],
      [{ threshold: 0 }, /\.threshold: must be a whole number from 1 to 100/],
      [{ maxattempts: 1.5 }, /\.maxattempts: must be a whole number/],
      [{ ignore: { actions: ["pull", "tag"] } }, /\.ignore\.actions: "tag" is not one of push, pull, mount, delete/],
      [{ ignore: { media: [] } }, /\.ignore: unknown key "media"/],
      [{ disabled: "yes" }, /\.disabled: must be true or false/],
      [{ retries: 3 }, /endpoints\[0\]: unknown key "retries"/],
    ];
    for (const [ep, re] of cases) {
      expect(() => one(ep), JSON.stringify(ep)).toThrow(re);
    }
    expect(() => parse({ endpoints: [{ url: "https://x.example/" }] })).toThrow(/endpoints\[0\]\.name: is required/);
    expect(() => parse({ endpoints: [{ name: "a", url: "https://x.example/" }, { name: "a", url: "https://y.example/" }] })).toThrow(/the name "a" is used twice/);
    expect(() => parse({ endpoints: {} })).toThrow(/endpoints: must be a list/);
    expect(() => parse({ events: { includereferences: true } })).toThrow(/unknown key "events"/);
    expect(() => parseNotifications({ [N]: "{nope" })).toThrow(/REGISTRY_NOTIFICATIONS: is not valid JSON/);
    // parseConfig reports it like every other setting.
    expect(() => parseConfig({ ...BASE_ENV, [N]: JSON.stringify({ endpoints: [{ name: "a" }] }) })).toThrow(/configuration error: REGISTRY_NOTIFICATIONS: endpoints\[0\] \(a\)\.url/);
  });
});

describe("README notification examples", () => {
  it("parse, with their secrets set", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Notifications (webhooks)"));
    const examples = [...section.matchAll(/REGISTRY_NOTIFICATIONS = '''\n([\s\S]*?)\n'''/g)].map((m) => m[1]!);
    expect(examples).toHaveLength(2);
    const secrets = { HOOK_TOKEN: "Bearer t", ARGO_WEBHOOK_SECRET: "s" };
    const [plain, argo] = examples.map((e) => parseNotifications({ REGISTRY_NOTIFICATIONS: e, ...secrets }).endpoints[0]!);
    expect(plain).toMatchObject({ name: "audit", format: "distribution", headers: [["Authorization", "Bearer t"]], threshold: 3 });
    expect(argo).toMatchObject({ format: "cloudevents", ignoreUntagged: true, ignoredActions: ["pull", "delete", "mount"], headers: [["X-Webhook-Secret", "s"]] });
  });
});
