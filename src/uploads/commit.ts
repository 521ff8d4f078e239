// Finishing an upload session: take the last bytes, verify the digest, and only then write the blob under its
// digest and link it into the repository. Nothing reaches the blob's key before its digest matched, and a
// mismatch or failure leaves no trace in the bucket.
//
// Two ways to the blob's key:
//  - monolithic (the whole blob arrives in this request, its digest known up front): streamed straight to
//    the blob's key as parts, hashed on the way with the digest's algorithm, and the multipart upload
//    completed only if the hash matched (a small blob is verified in memory before its single PutObject);
//  - otherwise the bytes are in the session's spool, already hashed as they arrived with the session's
//    algorithm and verified first. The client's digest decides: when it is of another algorithm than the
//    session hashed (the spec's `digest-algorithm` is only a hint), or the object lost its memory, the spool
//    is re-hashed with the digest's algorithm. If they were also written to the hinted
//    blob's key while arriving and the digest is that one, completing that write stores the blob; else the
//    spool is uploaded once to the blob's key.

import { formatDigest, parseDigest, type Digest, type DigestAlgorithm } from "../oci/digest";
import { OciError } from "../oci/errors";
import type { BlobStore, BlobWriteHandle } from "../storage/blobs";
import { BodyCutError } from "../storage/blob-writer";
import type { DirectWrite } from "./direct-write";
import type { Hashing, RunningHash } from "./hasher";
import type { CommittedBlob, UploadChunk } from "./protocol";
import type { Spool } from "./spool";

export interface SessionState {
  repo: string;
  uuid: string;
  startedAt: number;
  touchedAt: number;
  /** Bytes received and spooled. */
  offset: number;
  /** Slices in the spool. */
  slices: number;
  /** A multipart upload opened at commit (recorded so the alarm can abort it if the commit dies). */
  pending: BlobWriteHandle | null;
  /** The digest the bytes will probably have (registry/upload-hints.ts), or null. */
  hint?: string | null;
  /** What the session hashes as bytes arrive (the POST's `digest-algorithm`); sha256 when absent. */
  algorithm?: DigestAlgorithm;
}

export interface CommitDeps {
  blobs: BlobStore;
  hashing: Hashing;
  partSize: number;
  spool: Spool;
  /** The session's running hash as it stands now (null when lost). */
  hash(): RunningHash | null;
  /** The write to the hinted blob's key that ran while the bytes arrived, if any (null when lost). */
  direct(): DirectWrite | null;
  /** Aborts that write. */
  dropDirect(): Promise<void>;
  /** Appends a chunk to the spool. */
  write(chunk: UploadChunk): Promise<void>;
  save(): Promise<void>;
}

export async function finishUpload(st: SessionState, digestRaw: string, chunk: UploadChunk, deps: CommitDeps): Promise<CommittedBlob> {
  const digest = parseDigest(digestRaw);
  const { blobs } = deps;
  const onStarted = async (handle: BlobWriteHandle) => {
    st.pending = handle;
    await deps.save();
  };

  if (st.offset === 0 && chunk.body) {
    const existing = await blobs.stat(digest);
    let size: number;
    if (existing) {
      // Content addressing: the verified blob is already stored, the client's copy is not needed.
      await chunk.body.cancel().catch(() => {});
      if (chunk.length !== null && chunk.length !== existing.size) throw mismatch(digest, null);
      size = existing.size;
    } else {
      const hash = deps.hashing.running(digest.algorithm);
      size = await blobs.write(digest, chunk.body, {
        partSize: deps.partSize,
        onStarted,
        onPart: (bytes) => hash.update(bytes),
        beforeComplete: async (size) => {
          checkLength(chunk, size);
          await verify(digest, { algorithm: digest.algorithm, hex: await hash.hex() });
        },
      }).catch((e: unknown) => {
        throw e instanceof BodyCutError ? new OciError("SIZE_INVALID", e.message) : e;
      });
    }
    await blobs.link(st.repo, digest);
    return { digest: formatDigest(digest), size };
  }

  const before = st.offset;
  await deps.write(chunk);
  checkLength(chunk, st.offset - before);
  const live = deps.hash();
  const actual =
    live && live.offset === st.offset && live.algorithm === digest.algorithm
      ? { algorithm: digest.algorithm, hex: await live.hex() }
      : { algorithm: digest.algorithm, hex: await deps.hashing.ofStream(deps.spool.stream(st.slices), digest.algorithm) };
  await verify(digest, actual);
  const direct = deps.direct();
  if (direct && direct.digest === formatDigest(digest) && direct.fed === st.offset && (await direct.complete())) {
    // The hint was right: the verified bytes are already at the blob's key.
  } else {
    await deps.dropDirect();
    // A blob of one part is simply written (rewriting identical verified bytes is harmless and saves the
    // existence check); a bigger one is looked for first, since writing it again would cost the whole upload.
    if (st.offset <= deps.partSize || !(await blobs.stat(digest))) {
      await blobs.write(digest, deps.spool.stream(st.slices), { partSize: deps.partSize, onStarted });
    }
  }
  await blobs.link(st.repo, digest);
  return { digest: formatDigest(digest), size: st.offset };
}

function checkLength(chunk: UploadChunk, received: number): void {
  if (chunk.length !== null && received !== chunk.length) {
    throw new OciError("SIZE_INVALID", `body ended after ${received} of ${chunk.length} bytes`);
  }
}

async function verify(expected: Digest, actual: Digest): Promise<void> {
  if (expected.algorithm !== actual.algorithm || expected.hex !== actual.hex) throw mismatch(expected, actual);
}

function mismatch(expected: Digest, actual: Digest | null): OciError {
  return new OciError("DIGEST_INVALID", "provided digest did not match uploaded content", {
    detail: actual ? { expected: formatDigest(expected), actual: formatDigest(actual) } : { expected: formatDigest(expected) },
  });
}
