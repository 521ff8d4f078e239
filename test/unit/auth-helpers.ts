// Shared helpers of the auth unit tests: keys made with WebCrypto, the openssl-made fixtures of an external
// issuer (test/fixtures/auth), hand-built JWTs (including forged ones), and a recording sleep so the fail
// delay is asserted without waiting for it.
import type { webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import bcrypt from "bcryptjs";

export const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/auth/${name}`, import.meta.url)), "utf8");

export function pem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  return `-----BEGIN ${label}-----\n${b.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

export async function ecKeyPem(curve = "P-256"): Promise<string> {
  const kp = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  return pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", kp.privateKey));
}

export async function rsaKeyPem(bits = 2048): Promise<string> {
  const kp = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as webcrypto.CryptoKeyPair;
  return pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", kp.privateKey));
}

/** A private key from PEM, for signing test tokens by hand. */
export async function importPrivate(pemText: string, alg: "ES256" | "RS256" | "PS256"): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pemText.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  const params =
    alg === "ES256"
      ? { name: "ECDSA", namedCurve: "P-256" }
      : { name: alg === "PS256" ? "RSA-PSS" : "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  return crypto.subtle.importKey("pkcs8", der, params, false, ["sign"]);
}

const enc = new TextEncoder();
const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");
const part = (v: unknown): string => b64url(enc.encode(JSON.stringify(v)));

/** Signs header.claims with `key` (or returns an unsigned token for alg none). */
export async function rawJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key?: webcrypto.CryptoKey): Promise<string> {
  const input = `${part(header)}.${part(claims)}`;
  if (!key) return `${input}.`;
  const alg = String(header.alg);
  const params = alg.startsWith("ES")
    ? { name: "ECDSA", hash: "SHA-256" }
    : alg.startsWith("PS")
      ? { name: "RSA-PSS", saltLength: 32 }
      : { name: "RSASSA-PKCS1-v1_5" };
  const sig = await crypto.subtle.sign(params, key, enc.encode(input));
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

/** An HS256 token whose HMAC secret is `secret` (the classic key-confusion forgery when it is a public key). */
export async function hs256Jwt(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string): Promise<string> {
  const input = `${part(header)}.${part(claims)}`;
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = await crypto.subtle.sign("HMAC", key, enc.encode(input));
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

/** htpasswd text for user/password pairs, at the lowest bcrypt cost so tests stay fast. */
export function htpasswd(users: Record<string, string>, prefix: "$2y$" | "$2a$" | "$2b$" = "$2y$"): string {
  return Object.entries(users)
    .map(([u, p]) => `${u}:${prefix}${bcrypt.hashSync(p, 4).slice(4)}`)
    .join("\n");
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** A sleep that records what it was asked to wait and returns at once. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; calls: number[] } {
  const calls: number[] = [];
  return { calls, sleep: async (ms: number) => void calls.push(ms) };
}

export function decodeClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}
