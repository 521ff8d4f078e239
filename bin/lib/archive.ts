// `docker save` archives (docker-archive:FILE[:NAME:TAG|:@N]): reads manifest.json inside the tar, picks the
// image, and builds a Docker schema2 manifest for it. Layers are pushed as the bytes the archive holds (plain
// tar, or gzip when the archive has them compressed), so each layer's digest is that of the bytes sent.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { PushError } from "./errors.ts";
import { DOCKER_MANIFEST, fileBlob, type Image } from "./image.ts";
import { TarIndex, type TarEntry } from "./tar.ts";

const CONFIG_TYPE = "application/vnd.docker.container.image.v1+json";
const LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar";
const LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";

interface SavedImage {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

function hashRegion(file: string, e: TarEntry): Promise<string> {
  if (e.size === 0) return Promise.resolve(createHash("sha256").digest("hex"));
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20 })
      .on("data", (c) => h.update(c))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

function firstBytes(tar: TarIndex, e: TarEntry): Buffer {
  return tar.readSmall({ ...e, size: Math.min(e.size, 4) });
}

export async function loadDockerArchive(file: string, ref: string | undefined): Promise<Image> {
  const where = `docker-archive:${file}`;
  const tar = new TarIndex(file);
  const mEntry = tar.lookup("manifest.json");
  if (!mEntry) throw new PushError(`${where}: not a docker save archive (no manifest.json)`);
  let list: SavedImage[];
  try {
    list = JSON.parse(tar.readSmall(mEntry).toString("utf8")) as SavedImage[];
  } catch {
    throw new PushError(`${where}: manifest.json is not valid JSON`);
  }
  if (!Array.isArray(list) || list.length === 0) throw new PushError(`${where}: manifest.json lists no images`);
  const tagsOf = (img: SavedImage) => (Array.isArray(img.RepoTags) ? img.RepoTags.filter((t): t is string => typeof t === "string") : []);

  let img: SavedImage;
  let repoTag: string | undefined;
  if (ref === undefined) {
    if (list.length > 1) {
      throw new PushError(`${where}: the archive holds ${list.length} images; pick one with ${where}:NAME:TAG or ${where}:@INDEX`);
    }
    img = list[0]!;
    repoTag = tagsOf(list[0]!)[0];
  } else if (ref.startsWith("@")) {
    const i = Number(ref.slice(1));
    const found = Number.isInteger(i) ? list[i] : undefined;
    if (!found) throw new PushError(`${where}: no image ${ref} (the archive holds ${list.length})`);
    img = found;
    repoTag = tagsOf(img)[0];
  } else {
    const found = list.find((m) => tagsOf(m).includes(ref));
    if (!found) throw new PushError(`${where}: no image named ${JSON.stringify(ref)} (names: ${list.flatMap(tagsOf).join(", ") || "none"})`);
    img = found;
    repoTag = ref;
  }

  if (typeof img.Config !== "string") throw new PushError(`${where}: manifest.json entry without Config`);
  const cEntry = tar.lookup(img.Config);
  if (!cEntry) throw new PushError(`${where}: config ${img.Config} is missing`);
  const config = tar.readSmall(cEntry);
  const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;

  const layerPaths = Array.isArray(img.Layers) ? img.Layers : [];
  const layers = [];
  for (const p of layerPaths) {
    if (typeof p !== "string") throw new PushError(`${where}: manifest.json has a layer that is not a path`);
    const e = tar.lookup(p);
    if (!e) throw new PushError(`${where}: layer ${p} is missing`);
    const digest = `sha256:${await hashRegion(file, e)}`;
    const head = firstBytes(tar, e);
    const mediaType = head[0] === 0x1f && head[1] === 0x8b ? LAYER_GZIP : LAYER_TAR;
    layers.push({ entry: e, digest, mediaType });
  }

  const manifest = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: CONFIG_TYPE, size: config.length, digest: configDigest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.entry.size, digest: l.digest })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const seen = new Set<string>();
  const blobs = [fileBlob(file, cEntry.offset, cEntry.size, configDigest, "config")];
  for (const l of layers) {
    if (seen.has(l.digest)) continue;
    seen.add(l.digest);
    blobs.push(fileBlob(file, l.entry.offset, l.entry.size, l.digest, "layer"));
  }
  const tag = repoTag && /:([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/.exec(repoTag.slice(repoTag.lastIndexOf("/") + 1))?.[1];
  return {
    root: {
      digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
      mediaType: DOCKER_MANIFEST,
      bytes,
      blobs,
      children: [],
    },
    tag: tag || undefined,
  };
}
