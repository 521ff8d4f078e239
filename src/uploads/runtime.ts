// The halves of the upload session that exist only in the Workers runtime, kept apart so the session's logic
// type-checks and runs under Node in unit tests: the spool's slices in the Durable Object's SQLite, and
// SHA-256 / SHA-512 with workerd's crypto.DigestStream (streams/digest-stream.ts).

import { hexOf, webCryptoName } from "../oci/digest";
import { DigestStreamHash } from "../streams/digest-stream";
import type { Hashing } from "./hasher";
import type { SliceStore } from "./spool";

/** The slices in a plain rowid table of the object's SQLite: appending by integer key never reads rows back. */
export function sqlSlices(storage: DurableObjectStorage): SliceStore {
  let ready = false;
  const sql = (): SqlStorage => {
    if (!ready) {
      storage.sql.exec("CREATE TABLE IF NOT EXISTS spool (n INTEGER PRIMARY KEY, data BLOB NOT NULL)");
      ready = true;
    }
    return storage.sql;
  };
  return {
    put: (n, bytes) => void sql().exec("INSERT OR REPLACE INTO spool (n, data) VALUES (?, ?)", n, bytes),
    range: (from, to) =>
      sql()
        .exec<{ data: ArrayBuffer }>("SELECT data FROM spool WHERE n >= ? AND n < ? ORDER BY n", from, to)
        .toArray()
        .map((r) => new Uint8Array(r.data)),
    forget: () => {
      ready = false; // deleteAll() drops the table with everything else
    },
  };
}

export const workerdHashing: Hashing = {
  running: (algorithm) => new DigestStreamHash(algorithm),
  async ofStream(body, algorithm) {
    const ds = new crypto.DigestStream(webCryptoName(algorithm));
    await body.pipeTo(ds);
    return hexOf(await ds.digest);
  },
};
