// What the blob-upload handlers and the upload-session Durable Object say to each other over RPC.
// Errors cross the RPC boundary as plain data (oci/rpc.ts) and become OciErrors again.

import type { DigestAlgorithm } from "../oci/digest";
import type { RpcResult } from "../oci/rpc";

export { unwrap, type RpcError, type RpcResult } from "../oci/rpc";

export interface UploadStatus {
  uuid: string;
  repo: string;
  /** Bytes received and stored so far; the next chunk must start here. */
  offset: number;
}

export interface CommittedBlob {
  digest: string;
  size: number;
}

/** A body handed to the session: the request's stream, and what its headers said about it. */
export interface UploadChunk {
  body: ReadableStream<Uint8Array> | null;
  /** Content-Range of a PATCH, already parsed (inclusive end). */
  range: { start: number; end: number } | null;
  /** Content-Length when the client sent one. */
  length: number | null;
}

/** The RPC surface of the UploadSession Durable Object. */
export interface UploadSessionRpc {
  /**
   * Opens the session; `hint` is the digest the bytes will probably have, or null; `algorithm` is the hash the
   * session runs as bytes arrive (the POST's `digest-algorithm`, sha256 by default).
   */
  begin(repo: string, uuid: string, hint: string | null, algorithm?: DigestAlgorithm): Promise<RpcResult<UploadStatus>>;
  status(repo: string, uuid: string): Promise<RpcResult<UploadStatus>>;
  append(repo: string, uuid: string, chunk: UploadChunk): Promise<RpcResult<UploadStatus>>;
  commit(repo: string, uuid: string, digest: string, chunk: UploadChunk): Promise<RpcResult<CommittedBlob>>;
  cancel(repo: string, uuid: string): Promise<RpcResult<null>>;
}

/** The Durable Object's name for a session: binding the repository into it means a session id used under
 *  another repository reaches an empty object, never someone else's upload. */
export function sessionName(repo: string, uuid: string): string {
  return `${repo}@${uuid}`;
}
