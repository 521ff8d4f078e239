// Finishing an upload session: take the last bytes, verify the digest over exactly the bytes stored, and only
// then make the blob visible under its digest and link it into the repository. Nothing is visible before the
// digest matched; on a mismatch or any failure everything the session stored is removed.
//
// Three ways to the blob's key, cheapest first:
//  - small blob (all bytes fit in one part and wait in the session's tail): hashed in memory, one PutObject;
//  - monolithic upload with a SHA-256 digest known up front: the multipart upload is opened at the blob's own
//    key and completed only after the running hash matched, so there is nothing to copy;
//  - otherwise: parts went to the session's temporary key; complete, verify, copy into place, delete.

import { digestBytes, formatDigest, parseDigest, type Digest } from "../oci/digest";
import { OciError } from "../oci/errors";
import type { Storage } from "../storage/index";
import { hashStream, type RunningHash } from "./hasher";
import type { CommittedBlob, UploadChunk } from "./protocol";
import type { TailStore } from "./tail-store";

export interface SessionState {
  repo: string;
  uuid: string;
  startedAt: number;
  touchedAt: number;
  /** Bytes stored: complete parts plus the tail. */
  offset: number;
  /** Key of the open multipart upload: the session's temporary key, or the blob's own key (direct path). */
  mpuKey: string | null;
  uploadId: string | null;
  parts: { partNumber: number; etag: string; size: number }[];
}

export interface CommitDeps {
  store: Storage;
  tails: TailStore;
  /** The session's running hash as it stands after the last write (null when lost). */
  hash(): RunningHash | null;
  write(chunk: UploadChunk): Promise<void>;
}

export async function finishUpload(st: SessionState, digestRaw: string, chunk: UploadChunk, deps: CommitDeps): Promise<CommittedBlob> {
  const digest = parseDigest(digestRaw);
  const { store } = deps;
  const direct = st.offset === 0 && !st.uploadId && chunk.body !== null && digest.algorithm === "sha256";
  try {
    if (direct) {
      const existing = await store.blobs.stat(digest);
      if (existing) {
        // Content addressing: the verified blob is already stored; the client's copy is not needed.
        await chunk.body?.cancel().catch(() => {});
        if (chunk.length !== null && chunk.length !== existing.size) {
          throw new OciError("DIGEST_INVALID", "uploaded content does not match digest");
        }
        await store.blobs.link(st.repo, digest);
        return { digest: formatDigest(digest), size: existing.size };
      }
      st.mpuKey = store.layout.blobData(digest);
    }
    const before = st.offset;
    await deps.write(chunk);
    if (chunk.length !== null && st.offset - before !== chunk.length) {
      throw new OciError("SIZE_INVALID", `body ended after ${st.offset - before} of ${chunk.length} bytes`);
    }
    const size = st.offset;
    const tail = await deps.tails.load();

    if (!st.uploadId || !st.mpuKey) {
      await verify(digest, await digestBytes(digest.algorithm, tail));
      if (!(await store.blobs.stat(digest))) await store.blobs.putVerified(digest, tail);
    } else {
      if (tail.byteLength > 0) {
        const partNumber = st.parts.length + 1;
        const etag = await store.s3.uploadPart(st.mpuKey, st.uploadId, partNumber, tail, tail.byteLength);
        st.parts.push({ partNumber, etag, size: tail.byteLength });
      }
      const h = deps.hash();
      const liveHash = h && h.offset === size && digest.algorithm === "sha256" ? h : null;
      if (liveHash) {
        // Verified before completing: when the key is the blob's own, nothing unverified ever appears there.
        await verify(digest, { algorithm: "sha256", hex: await liveHash.hex() });
        await store.s3.completeMultipart(st.mpuKey, st.uploadId, st.parts);
        st.uploadId = null;
      } else {
        // The hash was lost with the object's memory (or another algorithm): read the stored bytes back.
        if (st.mpuKey === store.layout.blobData(digest)) throw new Error("direct upload lost its running hash");
        await store.s3.completeMultipart(st.mpuKey, st.uploadId, st.parts);
        st.uploadId = null;
        const stored = await store.s3.get(st.mpuKey);
        if (!stored?.body) throw new Error("completed upload is not readable");
        await verify(digest, { algorithm: digest.algorithm, hex: await hashStream(stored.body, digest.algorithm) });
      }
      if (st.mpuKey !== store.layout.blobData(digest)) await store.blobs.adoptVerified(digest, st.mpuKey, size);
      st.mpuKey = null;
    }
    await store.blobs.link(st.repo, digest);
    return { digest: formatDigest(digest), size };
  } catch (e) {
    await discard(st, store);
    throw e;
  }
}

async function verify(expected: Digest, actual: Digest): Promise<void> {
  if (expected.algorithm !== actual.algorithm || expected.hex !== actual.hex) {
    throw new OciError("DIGEST_INVALID", "provided digest did not match uploaded content", {
      detail: { expected: formatDigest(expected), actual: formatDigest(actual) },
    });
  }
}

/** Best effort: remove the multipart upload and the temporary object; never the blob's key unless we own its MPU. */
async function discard(st: SessionState, store: Storage): Promise<void> {
  try {
    if (st.uploadId && st.mpuKey) await store.s3.abortMultipart(st.mpuKey, st.uploadId);
    const temp = store.layout.uploadData(st.repo, st.uuid);
    if (st.mpuKey === temp) await store.s3.delete(temp);
  } catch {
    // The alarm or a bucket lifecycle rule removes what is left.
  }
}
