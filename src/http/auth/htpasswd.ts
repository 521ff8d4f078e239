// Password checks against the htpasswd entries (parsed by config/htpasswd.ts; bcrypt only), and the Basic
// header; the only module that imports bcryptjs. Verification costs one bcrypt compare per unknown login
// (unknown users too, so timing does not reveal who exists); a successful login is then remembered for a few
// minutes, because clients send Basic credentials on every request and a cost-10 bcrypt is ~75 ms of CPU.

import bcrypt from "bcryptjs";
import type { Htpasswd } from "../../config/htpasswd";

/**
 * A well-formed bcrypt hash for users that do not exist: the compare against it is done and its answer
 * discarded. Only its cost matters, so that unknown users cost as much as real ones.
 */
function dummyHash(cost: number): string {
  return `$2b$${String(cost).padStart(2, "0")}$${"berthdummysaltberthdum"}${"berthdummyhashberthdummyhashber"}`;
}

/** The cost most entries use: the dummy compare for unknown users should take as long as a real one. */
function typicalCost(users: Htpasswd): number {
  const counts = new Map<number, number>();
  for (const h of users.values()) {
    const c = Number(h.slice(4, 6));
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best = 10;
  let n = 0;
  for (const [c, k] of counts) if (k > n) [best, n] = [c, k];
  return best;
}

const CACHE_TTL_MS = 5 * 60 * 1000;
const CACHE_MAX = 1000;

/**
 * Checks user/password pairs against the entries. Successful checks are cached under an HMAC (with a key
 * made fresh per isolate) of user, password and hash, never the password itself; a changed hash or a
 * removed user stops matching at once, since the hash is part of the key and the entry is looked up first.
 */
export class PasswordVerifier {
  private readonly users: Htpasswd;
  private readonly dummy: string;
  private readonly cache = new Map<string, number>();
  private hmacKey: ReturnType<typeof crypto.subtle.importKey> | null = null;

  constructor(users: Htpasswd) {
    this.users = users;
    this.dummy = dummyHash(typicalCost(users));
  }

  /** The stored hash of a user (for refresh-token binding), or undefined. */
  hashOf(user: string): string | undefined {
    return this.users.get(user);
  }

  async verify(user: string, password: string, now: number): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) {
      bcrypt.compareSync(password, this.dummy);
      return false;
    }
    const key = await this.cacheKey(user, password, hash);
    const until = this.cache.get(key);
    if (until !== undefined && until > now) return true;
    if (until !== undefined) this.cache.delete(key);
    // The synchronous form: in a Worker the asynchronous one only adds scheduling delays.
    const ok = bcrypt.compareSync(password, hash);
    if (ok) this.remember(key, now);
    return ok;
  }

  private remember(key: string, now: number): void {
    if (this.cache.size >= CACHE_MAX) {
      for (const [k, until] of this.cache) if (until <= now) this.cache.delete(k);
      // Still full: drop the oldest insertions (Map keeps insertion order).
      for (const k of this.cache.keys()) {
        if (this.cache.size < CACHE_MAX) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, now + CACHE_TTL_MS);
  }

  private async cacheKey(user: string, password: string, hash: string): Promise<string> {
    this.hmacKey ??= crypto.subtle.importKey("raw", crypto.getRandomValues(new Uint8Array(32)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const data = new TextEncoder().encode(`${user}\u0000${password}\u0000${hash}`);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await this.hmacKey, data));
    let s = "";
    for (const b of mac) s += b.toString(16).padStart(2, "0");
    return s;
  }
}

/** Splits `Authorization: Basic …` into user and password; null when absent or malformed. */
export function parseBasic(header: string | null): { user: string; password: string } | null {
  if (header === null) return null;
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!m) return null;
  let decoded: string;
  try {
    const bin = atob(m[1]!);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
