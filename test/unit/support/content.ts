// Test content: bytes and their digests, request bodies that arrive in pieces or break off, and manifests
// (OCI image manifests and indexes, with or without a subject) as bytes with their digest.
import { createHash } from "node:crypto";
import type { Digest } from "../../../src/oci/digest";
import { OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST } from "../../../src/oci/media-types";

const enc = new TextEncoder();

export const bytesOf = (s: string): Uint8Array => enc.encode(s);

/** `n` bytes of a pattern that differs with `seed`, so different blobs never share a digest. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(typeof bytes === "string" ? enc.encode(bytes) : bytes).digest("hex")}`;
}

export function sha512(bytes: Uint8Array | string): string {
  return `sha512:${createHash("sha512").update(typeof bytes === "string" ? enc.encode(bytes) : bytes).digest("hex")}`;
}

export function digestOf(s: string): Digest {
  const [algorithm, hex] = s.split(":") as ["sha256" | "sha512", string];
  return { algorithm, hex };
}

/** A digest of nothing we store: a fixed hex pattern. */
export const absentDigest = (c = "e"): string => `sha256:${c.repeat(64)}`;

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** A body that arrives in the given pieces. */
export function streamOf(...pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const p = pieces[i++];
      if (p === undefined) controller.close();
      else controller.enqueue(p.slice());
    },
  });
}

/** A body that delivers `pieces` and then breaks off (the client went away): the next read rejects. */
export function cutOff(...pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const p = pieces[i++];
      if (p === undefined) controller.error(new Error("connection reset by peer"));
      else controller.enqueue(p.slice());
    },
  });
}

/** Whether two byte arrays are equal (vitest's toEqual walks big arrays element by element: seconds per MiB). */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Reads a stream whole. */
export async function readAll(body: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

export interface Built {
  bytes: Uint8Array;
  digest: string;
  mediaType: string;
}

function built(doc: unknown, mediaType: string): Built {
  const bytes = enc.encode(JSON.stringify(doc));
  return { bytes, digest: sha256(bytes), mediaType };
}

export interface BlobRef {
  digest: string;
  size: number;
  mediaType?: string;
}

/** A descriptor of bytes (with their real digest and size). */
export function descriptor(bytes: Uint8Array, mediaType = "application/vnd.oci.image.layer.v1.tar"): BlobRef {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
}

/** An OCI image manifest of a config and layers (descriptors), optionally an artifact with a subject. */
export function imageManifest(opts: {
  config: BlobRef;
  layers?: BlobRef[];
  subject?: Built;
  artifactType?: string;
  annotations?: Record<string, string>;
}): Built {
  const desc = (d: BlobRef, mt: string) => ({ mediaType: d.mediaType ?? mt, digest: d.digest, size: d.size });
  return built(
    {
      schemaVersion: 2,
      mediaType: OCI_IMAGE_MANIFEST,
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      config: desc(opts.config, "application/vnd.oci.image.config.v1+json"),
      layers: (opts.layers ?? []).map((l) => desc(l, "application/vnd.oci.image.layer.v1.tar")),
      ...(opts.subject ? { subject: { mediaType: opts.subject.mediaType, digest: opts.subject.digest, size: opts.subject.bytes.byteLength } } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    OCI_IMAGE_MANIFEST,
  );
}

/** An OCI image index of manifests. */
export function imageIndex(children: Built[]): Built {
  return built(
    {
      schemaVersion: 2,
      mediaType: OCI_IMAGE_INDEX,
      manifests: children.map((c) => ({ mediaType: c.mediaType, digest: c.digest, size: c.bytes.byteLength })),
    },
    OCI_IMAGE_INDEX,
  );
}
