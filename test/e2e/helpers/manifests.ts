// Helpers for the manifest / tag / catalog / referrers / skopeo e2e tests: hand-built manifests of every format
// Berth serves, Link-header walking and cut-off requests. The generic helpers (digests, bounded requests, the
// spec error body, the monolithic pushBlob, the raw-socket rawRequest) live in registry.ts and are re-exported
// here, so each name has one meaning in every e2e file. Free of assertions.
import { randomBytes } from "node:crypto";
import { digestOf, pushBlob, rand, req } from "./registry.js";

// The generic helpers (shared with the other e2e files) live in registry.ts.
export { digestOf, errorCode, pushBlob, rand, rawRequest, req, sha256Hex, statusAndCode, type RawResponse } from "./registry.js";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface Blob {
  bytes: Uint8Array;
  digest: string;
  size: number;
}

export function blobOf(bytes: Uint8Array | string): Blob {
  const b = typeof bytes === "string" ? enc(bytes) : bytes;
  return { bytes: b, digest: digestOf(b), size: b.byteLength };
}

/** Random bytes as a blob (never stored anywhere until pushed). */
export function randomBlob(size = 64): Blob {
  return blobOf(new Uint8Array(randomBytes(size)));
}

export interface Manifest {
  bytes: Uint8Array;
  digest: string;
  size: number;
  mediaType: string;
}

export function manifestOf(doc: unknown, mediaType: string): Manifest {
  const bytes = enc(JSON.stringify(doc));
  return { bytes, digest: digestOf(bytes), size: bytes.byteLength, mediaType };
}

export function descriptor(
  x: { digest: string; size: number },
  mediaType: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { mediaType, digest: x.digest, size: x.size, ...extra };
}

/** An image manifest (OCI or Docker schema2) over the given config and layers. */
export function imageManifest(
  opts: {
    config: Blob;
    layers: Blob[];
    docker?: boolean;
    configMediaType?: string;
    artifactType?: string;
    subject?: Manifest;
    annotations?: Record<string, string>;
  },
): Manifest {
  const mediaType = opts.docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: descriptor(opts.config, opts.configMediaType ?? (opts.docker ? DOCKER_CONFIG : OCI_CONFIG)),
    layers: opts.layers.map((l) => descriptor(l, opts.docker ? DOCKER_LAYER : OCI_LAYER)),
    ...(opts.subject ? { subject: descriptor(opts.subject, opts.subject.mediaType) } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  return manifestOf(doc, mediaType);
}

/** An index (OCI) or manifest list (Docker) over child manifests. */
export function indexManifest(
  children: Manifest[],
  opts: { docker?: boolean; artifactType?: string; subject?: Manifest; annotations?: Record<string, string> } = {},
): Manifest {
  const mediaType = opts.docker ? DOCKER_LIST : OCI_INDEX;
  const archs = ["amd64", "arm64", "ppc64le", "s390x"];
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    manifests: children.map((c, i) =>
      descriptor(c, c.mediaType, { platform: { architecture: archs[i % archs.length], os: "linux" } }),
    ),
    ...(opts.subject ? { subject: descriptor(opts.subject, opts.subject.mediaType) } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  return manifestOf(doc, mediaType);
}

/** PUT /v2/<repo>/manifests/<ref> with the manifest's own media type (or `contentType`). */
export function putManifest(base: string, repo: string, ref: string, m: Manifest, contentType = m.mediaType): Promise<Response> {
  return req(base, `/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: { "Content-Type": contentType },
    body: m.bytes,
  });
}

/** putManifest that throws unless 201 (for setup steps). */
export async function putManifestOk(base: string, repo: string, ref: string, m: Manifest): Promise<Response> {
  const res = await putManifest(base, repo, ref, m);
  if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${ref}: HTTP ${res.status} ${await res.text()}`);
  await res.body?.cancel();
  return res;
}

/** A small image with its blobs pushed; returns the (not yet pushed) manifest and its blobs. */
export async function pushImageBlobs(
  base: string,
  repo: string,
  opts: { docker?: boolean; layers?: number } = {},
): Promise<{ config: Blob; layers: Blob[]; manifest: Manifest }> {
  const config = blobOf(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, r: rand() }));
  const layers = Array.from({ length: opts.layers ?? 1 }, () => randomBlob(100));
  for (const b of [config, ...layers]) await pushBlob(base, repo, b);
  return { config, layers, manifest: imageManifest({ config, layers, docker: opts.docker }) };
}

/** Follows `Link: <…>; rel="next"` headers from `firstPath`, returning each page's JSON and Link header. */
export async function walkPages<T>(
  base: string,
  firstPath: string,
  maxPages = 50,
): Promise<{ pages: T[]; links: (string | null)[] }> {
  const pages: T[] = [];
  const links: (string | null)[] = [];
  let path: string | null = firstPath;
  for (let i = 0; path !== null && i < maxPages; i++) {
    const res = await req(base, path);
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
    pages.push((await res.json()) as T);
    const link = res.headers.get("Link");
    links.push(link);
    path = link === null ? null : nextPath(link);
  }
  if (path !== null) throw new Error(`more than ${maxPages} pages from ${firstPath}`);
  return { pages, links };
}

/** The URL inside `<…>; rel="next"`, as a path (an absolute URL is reduced to path + query). */
export function nextPath(link: string): string {
  const m = /^<([^>]+)>;\s*rel="?next"?$/.exec(link.trim());
  if (!m) throw new Error(`not a rel="next" Link header: ${link}`);
  const u = new URL(m[1] as string, "http://berth.invalid");
  return u.pathname + u.search;
}

/**
 * Starts a request that announces `declaredLength` body bytes, sends only `sent` of them, then cuts the
 * connection: a client dying mid-upload. Resolves once the socket is closed (whatever the server said).
 */
export async function cutOffRequest(
  base: string,
  path: string,
  opts: { method: string; headers: Record<string, string>; sent: Uint8Array; declaredLength: number; holdMs?: number },
): Promise<void> {
  const http = await import("node:http");
  const u = new URL(base + path);
  await new Promise<void>((resolve) => {
    const r = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method: opts.method,
      headers: { ...opts.headers, "Content-Length": String(opts.declaredLength) },
    });
    r.on("error", () => resolve()); // expected: we destroy it
    r.on("close", () => resolve());
    r.on("response", (res) => res.resume());
    r.write(Buffer.from(opts.sent));
    setTimeout(() => r.destroy(), opts.holdMs ?? 300);
  });
}
