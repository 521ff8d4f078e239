// Writes throw-away OCI image layouts for the benchmark: N layers of fresh random bytes (`openssl rand`, fast),
// stored uncompressed as application/vnd.oci.image.layer.v1.tar (content is never unpacked; skopeo pushes it
// byte-for-byte with --preserve-digests), a config and a manifest tagged in index.json.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { runOk } from "./proc.ts";

export interface Image {
  dir: string;
  tag: string;
  manifestDigest: string;
  layers: { digest: string; size: number }[];
  configDigest: string;
  totalBytes: number;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

async function putBlob(dir: string, data: Buffer): Promise<string> {
  const hex = createHash("sha256").update(data).digest("hex");
  await writeFile(path.join(dir, "blobs", "sha256", hex), data);
  return `sha256:${hex}`;
}

/** Builds an OCI layout in `dir` (created) holding one image tagged `tag` with layers of the given sizes. */
export async function makeImage(dir: string, tag: string, layerSizes: number[]): Promise<Image> {
  const blobs = path.join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  await writeFile(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const layers: Image["layers"] = [];
  // Two at a time: openssl and hashing each use one core.
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < layerSizes.length; i = next++) {
      const size = layerSizes[i]!;
      const tmp = path.join(dir, `layer-${i}.tmp`);
      await runOk("openssl", ["rand", "-out", tmp, String(size)], { timeoutMs: 300_000 });
      const hex = await sha256File(tmp);
      await rename(tmp, path.join(blobs, hex));
      layers[i] = { digest: `sha256:${hex}`, size };
    }
  };
  await Promise.all([worker(), worker()]);

  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      history: layers.map(() => ({ created_by: "berth bench" })),
    }),
  );
  const configDigest = await putBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = await putBlob(dir, manifest);
  await writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: manifest.length,
          annotations: { "org.opencontainers.image.ref.name": tag },
        },
      ],
    }),
  );
  const totalBytes = layers.reduce((a, l) => a + l.size, 0) + config.length + manifest.length;
  return { dir, tag, manifestDigest, layers, configDigest, totalBytes };
}
