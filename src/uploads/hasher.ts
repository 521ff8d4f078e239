// A running hash (SHA-256 or SHA-512, the session's `digest-algorithm`) over an upload's bytes, kept in the
// upload session's memory between requests, and how the session gets one. The Worker's implementation
// (runtime.ts) is workerd's crypto.DigestStream: fast (~0.6 ms CPU per MiB) but its state cannot be saved, so
// the hash only covers an upload while the Durable Object stays in memory; when it was evicted, commit
// re-hashes the session's spool instead (see commit.ts), as it does when the client's digest turns out to be
// of another algorithm than the one the session hashed.

import type { DigestAlgorithm } from "../oci/digest";

export interface RunningHash {
  readonly algorithm: DigestAlgorithm;
  /** Bytes hashed so far: the hash is usable only while this equals the session's offset. */
  readonly offset: number;
  update(chunk: Uint8Array): Promise<void>;
  /** Finishes the hash (the object can't be used afterwards). */
  hex(): Promise<string>;
}

/** How the session hashes: workerd's DigestStream in the Worker; unit tests (Node) bring their own. */
export interface Hashing {
  /** A new running hash. */
  running(algorithm: DigestAlgorithm): RunningHash;
  /** Hex digest of a whole stream, e.g. the spool read back for verification. */
  ofStream(body: ReadableStream<Uint8Array>, algorithm: DigestAlgorithm): Promise<string>;
}
