// Images to push, read from disk: an OCI image layout (oci:DIR[:TAG]), a skopeo `dir:` directory, or a
// `docker save` archive (see archive.ts). Each becomes a tree of manifests (an index's children first) whose
// blobs stream from files at known offsets; manifest bytes are kept exactly as stored, so digests hold.

import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { loadDockerArchive } from "./archive.ts";
import { PushError } from "./errors.ts";
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, fileBlob, type Image, type ManifestNode } from "./image.ts";
import type { SourceRef } from "./options.ts";
import type { BlobSource } from "./upload.ts";

const INDEX_TYPES = [OCI_INDEX, DOCKER_LIST];
const MANIFEST_TYPES = [OCI_MANIFEST, DOCKER_MANIFEST, ...INDEX_TYPES];

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
}

/** Where a layout keeps things: blob files, and (dir:) separate files for an index's child manifests. */
interface Store {
  where: string;
  blobPath(digest: string): string;
  manifestPath(digest: string): string;
}

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export async function loadSource(ref: SourceRef): Promise<Image> {
  switch (ref.transport) {
    case "oci":
      return loadOciLayout(ref.path, ref.ref);
    case "dir":
      return loadDir(ref.path);
    case "docker-archive":
      return loadDockerArchive(ref.path, ref.ref);
  }
}

function readJson(file: string, what: string): { bytes: Buffer; doc: unknown } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new PushError(`${what}: cannot read ${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`);
  }
  try {
    return { bytes, doc: JSON.parse(bytes.toString("utf8")) };
  } catch {
    throw new PushError(`${what}: ${file} is not valid JSON`);
  }
}

function descriptor(v: unknown, where: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (!d || typeof d !== "object" || typeof d.digest !== "string" || !DIGEST_RE.test(d.digest)) {
    throw new PushError(`${where}: descriptor without a valid digest`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new PushError(`${where}: descriptor ${d.digest} without a valid size`);
  }
  return { ...d, mediaType: typeof d.mediaType === "string" ? d.mediaType : "" } as Descriptor;
}

function storedBlob(store: Store, d: Descriptor, kind: string): BlobSource | null {
  const file = store.blobPath(d.digest);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    if (d.urls && d.urls.length > 0) return null; // foreign layer: the registry does not need it
    throw new PushError(`${store.where}: ${kind} ${d.digest} is missing (${file})`);
  }
  if (size !== d.size) throw new PushError(`${store.where}: ${kind} ${d.digest} has ${size} bytes, its descriptor says ${d.size}`);
  return fileBlob(file, 0, size, d.digest, kind);
}

/** Reads the manifest `digest` from the store and, for an index, its children. */
function loadManifest(store: Store, d: Descriptor, depth: number): ManifestNode {
  if (depth > 4) throw new PushError(`${store.where}: indexes nested too deeply`);
  const file = store.manifestPath(d.digest);
  const { bytes, doc } = readJson(file, store.where);
  if (bytes.length !== d.size) throw new PushError(`${store.where}: manifest ${d.digest} has ${bytes.length} bytes, its descriptor says ${d.size}`);
  return manifestNode(store, d.digest, d.mediaType, bytes, doc, depth);
}

export function manifestNode(
  store: Store,
  digest: string,
  descType: string,
  bytes: Buffer,
  doc: unknown,
  depth = 0,
): ManifestNode {
  const m = doc as { mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  if (!m || typeof m !== "object") throw new PushError(`${store.where}: manifest ${digest} is not a JSON object`);
  const isIndex = Array.isArray(m.manifests);
  const mediaType = descType || (typeof m.mediaType === "string" && m.mediaType) || (isIndex ? OCI_INDEX : OCI_MANIFEST);
  const node: ManifestNode = { digest, mediaType, bytes, blobs: [], children: [] };
  if (isIndex || INDEX_TYPES.includes(mediaType)) {
    for (const [i, v] of ((m.manifests as unknown[]) ?? []).entries()) {
      const d = descriptor(v, `${store.where}: ${digest} manifests[${i}]`);
      if (MANIFEST_TYPES.includes(d.mediaType)) node.children.push(loadManifest(store, d, depth + 1));
      else {
        const b = storedBlob(store, d, "blob");
        if (b) node.blobs.push(b);
      }
    }
    return node;
  }
  if (m.config !== undefined) {
    const b = storedBlob(store, descriptor(m.config, `${store.where}: ${digest} config`), "config");
    if (b) node.blobs.push(b);
  }
  for (const [i, v] of (Array.isArray(m.layers) ? m.layers : []).entries()) {
    const b = storedBlob(store, descriptor(v, `${store.where}: ${digest} layers[${i}]`), "layer");
    if (b) node.blobs.push(b);
  }
  return node;
}

const REF_NAME = "org.opencontainers.image.ref.name";

/** oci:DIR[:TAG]: index.json names the images; TAG picks one by its ref.name annotation, else the first. */
function loadOciLayout(dir: string, tag: string | undefined): Image {
  const where = `oci:${dir}`;
  const layout = path.join(dir, "oci-layout");
  try {
    statSync(layout);
  } catch {
    throw new PushError(`${where}: not an OCI image layout (no ${layout})`);
  }
  const { doc } = readJson(path.join(dir, "index.json"), where);
  const list = (doc as { manifests?: unknown }).manifests;
  if (!Array.isArray(list) || list.length === 0) throw new PushError(`${where}: index.json lists no images`);
  const entries = list.map((v, i) => descriptor(v, `${where}: index.json manifests[${i}]`));
  const refName = (d: Descriptor) => d.annotations?.[REF_NAME];
  let chosen: Descriptor | undefined;
  if (tag !== undefined) {
    chosen = entries.find((d) => refName(d) === tag) ?? entries.find((d) => refName(d)?.endsWith(`:${tag}`));
    if (!chosen) {
      const names = entries.map(refName).filter((n) => n !== undefined);
      throw new PushError(`${where}: no image tagged ${JSON.stringify(tag)} (tags: ${names.join(", ") || "none"})`);
    }
  } else {
    chosen = entries[0]!;
  }
  const store: Store = {
    where,
    blobPath: (d) => path.join(dir, "blobs", d.slice(0, d.indexOf(":")), d.slice(d.indexOf(":") + 1)),
    manifestPath: (d) => store.blobPath(d),
  };
  const root = loadManifest(store, chosen, 0);
  const name = refName(chosen);
  const ownTag = name?.includes(":") ? name.slice(name.lastIndexOf(":") + 1) : name;
  return { root, tag: tag ?? (ownTag && /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(ownTag) ? ownTag : undefined) };
}

/** dir:DIR as skopeo writes it: manifest.json, blobs named by their hex digest, children as <hex>.manifest.json. */
function loadDir(dir: string): Image {
  const where = `dir:${dir}`;
  const { bytes, doc } = readJson(path.join(dir, "manifest.json"), where);
  const hex = (d: string) => d.slice(d.indexOf(":") + 1);
  const store: Store = {
    where,
    blobPath: (d) => path.join(dir, hex(d)),
    manifestPath: (d) => path.join(dir, `${hex(d)}.manifest.json`),
  };
  const digest = `sha256:${createHashHex(bytes)}`;
  return { root: manifestNode(store, digest, "", bytes, doc) };
}

function createHashHex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}
