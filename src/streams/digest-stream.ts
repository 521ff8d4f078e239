// A running SHA-256 / SHA-512 over bytes as they stream by, with workerd's crypto.DigestStream (fast, in
// native code). Lives down here so every layer that hashes a stream — the upload session, and the sync job
// that copies blobs from an upstream — uses the one implementation. Workers runtime only: unit tests (Node)
// bring their own running hash of the same shape.

import { hexOf, webCryptoName, type DigestAlgorithm } from "../oci/digest";
import type { StreamHash } from "./stream-hash";

export class DigestStreamHash implements StreamHash {
  private readonly stream: DigestStream;
  private readonly writer: WritableStreamDefaultWriter<ArrayBuffer | ArrayBufferView>;
  /** Bytes hashed so far. */
  offset = 0;

  constructor(readonly algorithm: DigestAlgorithm) {
    this.stream = new crypto.DigestStream(webCryptoName(algorithm));
    this.writer = this.stream.getWriter();
  }

  async update(chunk: Uint8Array): Promise<void> {
    this.offset += chunk.byteLength;
    await this.writer.write(chunk);
  }

  async hex(): Promise<string> {
    await this.writer.close();
    return hexOf(await this.stream.digest);
  }
}
