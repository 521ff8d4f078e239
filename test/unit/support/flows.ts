// Client flows through the router, for tests that need content in place before the request under test:
// a blob pushed monolithically, an upload session opened, a manifest put, a whole image pushed. Each asserts
// its own success, so a broken setup fails loudly where it broke.
import { expect } from "vitest";
import { descriptor, imageManifest, pattern, sha256, sha512, type Built } from "./content";
import { expectStatus, type CallInit, type TestRegistry } from "./registry";

/** POST ?digest= with the whole blob: 201. */
export async function pushBlob(r: TestRegistry, repo: string, bytes: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): Promise<string> {
  const digest = algorithm === "sha256" ? sha256(bytes) : sha512(bytes);
  await expectStatus(await r.call("POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: bytes }), 201);
  return digest;
}

export interface OpenedUpload {
  location: string;
  uuid: string;
}

/** POST without a digest: 202 with the session's Location. */
export async function openUpload(r: TestRegistry, repo: string, query = ""): Promise<OpenedUpload> {
  const res = await expectStatus(await r.call("POST", `/v2/${repo}/blobs/uploads/${query}`), 202);
  const location = res.headers.get("Location")!;
  expect(location).toMatch(new RegExp(`^/v2/${repo}/blobs/uploads/[0-9a-f-]{36}$`));
  return { location, uuid: res.headers.get("Docker-Upload-UUID")! };
}

export function patch(r: TestRegistry, location: string, init: CallInit): Promise<Response> {
  return r.call("PATCH", location, init);
}

/** PUT of a manifest with its media type: 201. */
export async function putManifest(r: TestRegistry, repo: string, ref: string, m: Built): Promise<void> {
  await expectStatus(await r.call("PUT", `/v2/${repo}/manifests/${ref}`, { body: m.bytes, headers: { "Content-Type": m.mediaType } }), 201);
}

export interface PushedImage {
  config: Uint8Array;
  layer: Uint8Array;
  manifest: Built;
}

/** A config and a layer blob and an image manifest naming them, the manifest put by `ref` (a tag or its digest). */
export async function pushImage(r: TestRegistry, repo: string, ref: string | null, seed = 1, extra: Partial<Parameters<typeof imageManifest>[0]> = {}): Promise<PushedImage> {
  const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  const layer = pattern(1000 + seed, seed);
  await pushBlob(r, repo, config);
  await pushBlob(r, repo, layer);
  const manifest = imageManifest({
    config: descriptor(config, "application/vnd.oci.image.config.v1+json"),
    layers: [descriptor(layer)],
    ...extra,
  });
  await putManifest(r, repo, ref ?? manifest.digest, manifest);
  return { config, layer, manifest };
}
