// A running SHA-256 over an upload's bytes, kept in the upload session's memory between requests.
// workerd's crypto.DigestStream is fast (~0.6 ms CPU per MiB) but its state cannot be saved, so the hash
// only covers an upload while the Durable Object stays in memory; when it was evicted, commit re-hashes the
// session's spool instead (see commit.ts).

import { hexOf } from "../oci/digest";

export interface RunningHash {
  /** Bytes hashed so far: the hash is usable only while this equals the session's offset. */
  readonly offset: number;
  update(chunk: Uint8Array): Promise<void>;
  /** Finishes the hash (the object can't be used afterwards). */
  hex(): Promise<string>;
}

class DigestStreamHash implements RunningHash {
  private readonly stream = new crypto.DigestStream("SHA-256");
  private readonly writer = this.stream.getWriter();
  offset = 0;

  async update(chunk: Uint8Array): Promise<void> {
    this.offset += chunk.byteLength;
    await this.writer.write(chunk);
  }

  async hex(): Promise<string> {
    await this.writer.close();
    return hexOf(await this.stream.digest);
  }
}

export function newRunningHash(): RunningHash {
  return new DigestStreamHash();
}

/** SHA-256 (or SHA-512) of a stream, e.g. a stored object read back for verification. */
export async function hashStream(body: ReadableStream<Uint8Array>, algorithm: "sha256" | "sha512"): Promise<string> {
  const ds = new crypto.DigestStream(algorithm === "sha256" ? "SHA-256" : "SHA-512");
  await body.pipeTo(ds);
  return hexOf(await ds.digest);
}
