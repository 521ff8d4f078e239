// Users and password hashes from an htpasswd file (REGISTRY_AUTH_HTPASSWD holds the file's contents, as a
// Worker secret). Only bcrypt entries are accepted, as Distribution and zot read the file: MD5-crypt, SHA1 and
// plain crypt are too weak to guard a registry on the public internet. Parsing only: checking a password is
// http/auth/htpasswd.ts's (the one place that imports bcryptjs).

import { ConfigError } from "./values";

/** `$2a$`, `$2b$`, `$2y$` (PHP/Apache's name for the same thing); cost, then 22 salt + 31 hash characters. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export type Htpasswd = ReadonlyMap<string, string>;

/**
 * Parses the file: one `user:hash` per line; blank lines and `#` comments are skipped, CRLF is tolerated.
 * Errors name the setting and the line number, never the hash.
 */
export function parseHtpasswd(text: string, setting: string): Map<string, string> {
  const users = new Map<string, string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `line ${i + 1}`;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new ConfigError(setting, `${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (/[\s\x00-\x1f\x7f]/.test(user)) throw new ConfigError(setting, `${where}: the user name contains whitespace or control characters`);
    const m = BCRYPT.exec(hash);
    if (!m) {
      throw new ConfigError(
        setting,
        `${where}: only bcrypt entries ($2y$, $2a$, $2b$) are accepted; create them with \`htpasswd -B\``,
      );
    }
    const cost = Number(m[1]);
    if (cost < 4 || cost > 31) throw new ConfigError(setting, `${where}: bcrypt cost must be between 04 and 31`);
    if (users.has(user)) throw new ConfigError(setting, `${where}: user ${JSON.stringify(user)} appears twice`);
    users.set(user, hash);
  }
  return users;
}
