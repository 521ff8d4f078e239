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

/** How the session hashes: workerd's DigestStream in the Worker; unit tests (Node) bring their own. */
export interface Hashing {
  /** A new running SHA-256. */
  running(): RunningHash;
  /** Hex digest of a whole stream, e.g. the spool read back for verification. */
  ofStream(body: ReadableStream<Uint8Array>, algorithm: "sha256" | "sha512"): Promise<string>;
}

export const workerdHashing: Hashing = {
  running: () => new DigestStreamHash(),
  async ofStream(body, algorithm) {
    const ds = new crypto.DigestStream(algorithm === "sha256" ? "SHA-256" : "SHA-512");
    await body.pipeTo(ds);
    return hexOf(await ds.digest);
  },
};
