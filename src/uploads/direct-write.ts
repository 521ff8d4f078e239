// A speculative write of an upload's bytes straight to the blob key of the digest they will probably have
// (the session's hint, see registry/upload-hints.ts), running while the bytes arrive. The spool stays the
// source of truth: every byte is spooled and hashed as before, and the direct write only gets a copy. At
// commit, when the verified digest is the hinted one and the write saw every byte, the multipart upload is
// completed and the blob is stored without being read back from the spool; otherwise it is aborted and the
// spool is uploaded as usual. Bytes become visible at the key only after their digest was verified, so a wrong
// hint costs upload bandwidth and nothing else.
//
// Slices are handed to the writer without copying: `feed` returns once the writer has copied the slice into
// its part buffer, so the caller may refill it; a slow S3 server slows the feeder down (bounded memory).

import { formatDigest, type Digest } from "../oci/digest";
import type { BlobStore, BlobWriteHandle } from "../storage/blobs";

export class DirectWrite {
  /** Bytes fed so far, in order. */
  fed = 0;
  private failed = false;
  private readonly handoff = new Handoff();
  private decide!: (ok: boolean) => void;
  private readonly outcome: Promise<boolean>;

  /** The hinted digest, canonical form. */
  readonly digest: string;

  constructor(blobs: BlobStore, digest: Digest, partSize: number, onStarted: (handle: BlobWriteHandle) => Promise<void>) {
    this.digest = formatDigest(digest);
    const verdict = new Promise<boolean>((resolve) => (this.decide = resolve));
    this.outcome = blobs.write(digest, this.handoff.readable, {
      partSize,
      onStarted,
      beforeComplete: async () => {
        if (!(await verdict)) throw new Error("direct write abandoned");
      },
    }).then(
      () => true,
      () => {
        // writeBlob aborted its multipart upload; from now on the spool alone carries the upload.
        this.failed = true;
        this.handoff.fail();
        return false;
      },
    );
  }

  /** True while the write may still succeed. */
  get alive(): boolean {
    return !this.failed;
  }

  /** Hands the next bytes over; resolves once they were copied, so the caller can reuse the buffer. */
  async feed(bytes: Uint8Array): Promise<void> {
    this.fed += bytes.byteLength;
    if (!this.failed) await this.handoff.give(bytes);
  }

  /** The bytes hashed to the hinted digest: finish the upload. False when the write failed on the way. */
  async complete(): Promise<boolean> {
    this.handoff.end();
    this.decide(true);
    return this.outcome;
  }

  /** The guess was wrong (or the session is over): abort the multipart upload and wait until it is gone. */
  async abandon(): Promise<void> {
    this.decide(false);
    this.handoff.fail();
    await this.outcome;
  }
}

/**
 * A ReadableStream fed one buffer at a time by a producer that wants its buffer back: `give` resolves when
 * the reader has asked for the next chunk, i.e. is done with the previous one (the part writer copies every
 * chunk into its part buffer before reading on).
 */
class Handoff {
  readonly readable: ReadableStream<Uint8Array>;
  private offered: { bytes: Uint8Array; taken: () => void } | null = null;
  /** Resolves the `give` of the chunk the reader holds now. */
  private held: (() => void) | null = null;
  /** A pull waiting for the producer. */
  private wake: (() => void) | null = null;
  private state: "open" | "ended" | "failed" = "open";

  constructor() {
    this.readable = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          this.release();
          while (!this.offered && this.state === "open") await new Promise<void>((r) => (this.wake = r));
          if (this.state === "failed") {
            controller.error(new Error("direct write abandoned"));
            return;
          }
          const offer = this.offered;
          if (!offer) {
            controller.close();
            return;
          }
          this.offered = null;
          this.held = offer.taken;
          controller.enqueue(offer.bytes);
        },
        cancel: () => this.fail(),
      },
      { highWaterMark: 0 },
    );
  }

  give(bytes: Uint8Array): Promise<void> {
    if (this.state !== "open") return Promise.resolve();
    return new Promise<void>((taken) => {
      this.offered = { bytes, taken };
      this.poke();
    });
  }

  /** No more chunks: the reader sees the end of the stream. */
  end(): void {
    if (this.state === "open") this.state = "ended";
    this.poke();
  }

  /** The reader sees an error, and no producer waits any longer. */
  fail(): void {
    this.state = "failed";
    this.offered?.taken();
    this.offered = null;
    this.release();
    this.poke();
  }

  private release(): void {
    const held = this.held;
    this.held = null;
    held?.();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
