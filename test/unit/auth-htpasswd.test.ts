// Unit tests of src/config/htpasswd.ts and src/http/auth/htpasswd.ts: which entries are accepted, that errors
// name the line and never the hash, password verification (unknown users included), the success cache, and Basic
// header parsing.
import bcrypt from "bcryptjs";
import { describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../src/config";
import { parseHtpasswd } from "../../src/config/htpasswd";
import { parseBasic, PasswordVerifier } from "../../src/http/auth/htpasswd";
import { htpasswd } from "./auth-helpers";

const S = "REGISTRY_AUTH_HTPASSWD";

function parseFails(text: string): ConfigError {
  try {
    parseHtpasswd(text, S);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("parseHtpasswd", () => {
  it("reads $2y$, $2a$ and $2b$ entries, skipping blank lines, comments and CR", () => {
    const text = [
      "# team registry",
      htpasswd({ alice: "a" }, "$2y$"),
      "",
      htpasswd({ bob: "b" }, "$2a$") + "\r",
      htpasswd({ carol: "c" }, "$2b$"),
    ].join("\n");
    const users = parseHtpasswd(text, S);
    expect([...users.keys()]).toEqual(["alice", "bob", "carol"]);
    expect(users.get("bob")).toMatch(/^\$2a\$04\$/);
  });

  it.each([
    ["MD5-crypt", "bob:$apr1$salt1234$0123456789abcdefghijkl"],
    ["SHA1", "bob:{SHA}fEqNCco3Yq9h5ZUglD3CZJT4lBs="],
    ["crypt", "bob:rl2Tq0lrBlcyE"],
    ["plain text", "bob:password"],
    ["truncated bcrypt", "bob:$2y$10$abcdefghijklmnopqrstuv"],
  ])("rejects %s entries, naming the line but not the hash", (_kind, line) => {
    const e = parseFails(`${htpasswd({ alice: "a" })}\n${line}`);
    expect(e.setting).toBe(S);
    expect(e.message).toContain("line 2");
    expect(e.message).toContain("bcrypt");
    expect(e.message).not.toContain(line.slice(4));
  });

  it("rejects lines without a user, duplicate users and a bad cost", () => {
    expect(parseFails(":$2y$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz12345").message).toContain("line 1");
    expect(parseFails(`${htpasswd({ a: "1" })}\n${htpasswd({ a: "2" })}`).message).toMatch(/line 2: user "a" appears twice/);
    expect(parseFails("a:$2y$03$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz12345").message).toMatch(/cost/);
  });
});

describe("PasswordVerifier", () => {
  const users = parseHtpasswd(htpasswd({ alice: "wonderland", bob: "builder" }), S);

  it("accepts the right password and refuses a wrong one or an unknown user", async () => {
    const v = new PasswordVerifier(users);
    expect(await v.verify("alice", "wonderland", 0)).toBe(true);
    expect(await v.verify("alice", "Wonderland", 0)).toBe(false);
    expect(await v.verify("alice", "", 0)).toBe(false);
    expect(await v.verify("mallory", "wonderland", 0)).toBe(false);
    expect(v.hashOf("bob")).toMatch(/^\$2y\$/);
    expect(v.hashOf("mallory")).toBeUndefined();
  });

  it("spends a bcrypt compare on unknown users too (same cost as real entries)", async () => {
    const v = new PasswordVerifier(users);
    const spy = vi.spyOn(bcrypt, "compareSync");
    try {
      expect(await v.verify("nobody", "x", 0)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![1]).toMatch(/^\$2b\$04\$/);
    } finally {
      spy.mockRestore();
    }
  });

  it("remembers a success for five minutes, and only for the same password", async () => {
    const v = new PasswordVerifier(users);
    const spy = vi.spyOn(bcrypt, "compareSync");
    try {
      expect(await v.verify("bob", "builder", 1_000)).toBe(true);
      expect(await v.verify("bob", "builder", 2_000)).toBe(true);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(await v.verify("bob", "builderX", 2_000)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(await v.verify("bob", "builder", 1_000 + 5 * 60_000 + 1)).toBe(true);
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
  });
});

describe("parseBasic", () => {
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  it("splits at the first colon and decodes UTF-8", () => {
    expect(parseBasic(`Basic ${b64("alice:pa:ss")}`)).toEqual({ user: "alice", password: "pa:ss" });
    expect(parseBasic(`basic ${b64("jürgen:é")}`)).toEqual({ user: "jürgen", password: "é" });
  });
  it("returns null for anything else", () => {
    expect(parseBasic(null)).toBeNull();
    expect(parseBasic(`Bearer ${b64("a:b")}`)).toBeNull();
    expect(parseBasic(`Basic ${b64("nocolon")}`)).toBeNull();
    expect(parseBasic("Basic !!!")).toBeNull();
    expect(parseBasic(`Basic ${Buffer.from([0x61, 0x3a, 0xff]).toString("base64")}`)).toBeNull();
  });
});
