// The storage layer as handlers and the upload session see it: one S3 client, the layout, and one store per
// kind of thing kept in the bucket. Handlers never build keys; only layout.ts does.

import type { Config } from "../config";
import { BlobStore } from "./blobs";
import { Layout } from "./layout";
import { ManifestStore } from "./manifests";
import { ReferrerStore } from "./referrers";
import { RepositoryStore } from "./repositories";
import { S3Client } from "./s3/client";
import { TagStore } from "./tags";

export interface Storage {
  s3: S3Client;
  layout: Layout;
  blobs: BlobStore;
  manifests: ManifestStore;
  tags: TagStore;
  referrers: ReferrerStore;
  repositories: RepositoryStore;
}

export function createStorage(cfg: Config): Storage {
  const s3 = new S3Client(cfg.s3);
  const layout = new Layout(cfg.s3.rootDirectory);
  return {
    s3,
    layout,
    blobs: new BlobStore(s3, layout),
    manifests: new ManifestStore(s3, layout),
    tags: new TagStore(s3, layout),
    referrers: new ReferrerStore(s3, layout),
    repositories: new RepositoryStore(s3, layout),
  };
}
