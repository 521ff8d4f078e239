// The whole push of one image: every blob of every manifest (an index's children first, each by digest),
// then the manifests themselves, the root one under the destination's tag. Blobs and manifests shared between
// an index's children go up once.

import { PushError, httpError } from "./errors.ts";
import { type Registry, header } from "./registry.ts";
import type { Image, ManifestNode } from "./image.ts";
import { type UploadOptions, pushBlob, shortDigest } from "./upload.ts";

export interface PushResult {
  digest: string;
  blobsPushed: number;
  blobsSkipped: number;
}

export async function pushImage(reg: Registry, image: Image, reference: string, opts: UploadOptions): Promise<PushResult> {
  const blobsDone = new Set<string>();
  const manifestsDone = new Set<string>();
  const result: PushResult = { digest: image.root.digest, blobsPushed: 0, blobsSkipped: 0 };

  const pushNode = async (node: ManifestNode, ref: string): Promise<void> => {
    for (const child of node.children) {
      if (!manifestsDone.has(child.digest)) await pushNode(child, child.digest);
    }
    for (const blob of node.blobs) {
      if (blobsDone.has(blob.digest)) continue;
      const r = await pushBlob(reg, blob, opts);
      if (r === "pushed") result.blobsPushed++;
      else result.blobsSkipped++;
      blobsDone.add(blob.digest);
    }
    await putManifest(reg, node, ref, opts);
    manifestsDone.add(node.digest);
  };

  await pushNode(image.root, reference);
  return result;
}

async function putManifest(reg: Registry, node: ManifestNode, ref: string, opts: UploadOptions): Promise<void> {
  const url = reg.url(`/v2/${reg.opts.repository}/manifests/${ref}`);
  const res = await reg.sendWithRetry({
    method: "PUT",
    url,
    headers: { "Content-Type": node.mediaType },
    body: node.bytes,
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw httpError(`PUT ${url.pathname}`, res);
  const got = header(res, "docker-content-digest");
  if (got && got !== node.digest) throw new PushError(`PUT ${url.pathname}: the registry stored the manifest as ${got}, expected ${node.digest}`);
  const kind = node.children.length > 0 || node.mediaType.includes("index") || node.mediaType.includes("list") ? "index" : "manifest";
  opts.out.info(`${kind} ${shortDigest(node.digest)}: pushed as ${reg.opts.repository}${ref.includes(":") ? "@" : ":"}${ref}`);
}
