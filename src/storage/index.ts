// The storage layer as handlers, the upload session and background jobs see it: one store per kind of thing
// kept in the bucket. The stores are the only code that reads or writes the bucket, through the object-store
// driver (driver/); only layout.ts knows key names. Nothing here hands out the driver or the layout.

import type { S3Config } from "../config";
import { BlobStore } from "./blobs";
import type { StorageDriver } from "./driver";
import { S3Driver } from "./driver/s3/driver";
import { NO_EDGE_CACHE, type EdgeCache } from "./edge-cache";
import { Layout } from "./layout";
import { ManifestStore } from "./manifests";
import { PullStore } from "./pulls";
import { ReferrerStore } from "./referrers";
import { RepositoryStore } from "./repositories";
import { TagStore } from "./tags";
import { Vacuum } from "./vacuum";

export interface Storage {
  blobs: BlobStore;
  manifests: ManifestStore;
  tags: TagStore;
  referrers: ReferrerStore;
  /** When manifests were last pulled (for retention). */
  pulls: PullStore;
  repositories: RepositoryStore;
  /** The garbage collector's reads and removals. */
  vacuum: Vacuum;
  /** One cheap request to the bucket (a listing of at most one key): throws when the bucket does not answer. */
  ping(): Promise<void>;
}

/**
 * The stores over the configured S3 bucket; `edge`: the data center's cache (the Worker passes it; Durable
 * Objects, which read little and run in one place, do not).
 */
export function createStorage(s3: S3Config, edge: EdgeCache = NO_EDGE_CACHE): Storage {
  return storageOn(S3Driver.fromConfig(s3), s3.rootDirectory, edge);
}

/** The identity of a bucket and root, which the data center's cache entries are kept under. */
export function edgeScope(s3: S3Config): string {
  return `${s3.endpoint}|${s3.bucket}|${s3.rootDirectory}`;
}

/** The stores over any driver (the in-memory one in unit tests), keys under `rootDirectory`. */
export function storageOn(driver: StorageDriver, rootDirectory = "", edge: EdgeCache = NO_EDGE_CACHE): Storage {
  const layout = new Layout(rootDirectory);
  return {
    blobs: new BlobStore(driver, layout, edge),
    manifests: new ManifestStore(driver, layout, edge),
    tags: new TagStore(driver, layout),
    referrers: new ReferrerStore(driver, layout),
    pulls: new PullStore(driver, layout),
    repositories: new RepositoryStore(driver, layout),
    vacuum: new Vacuum(driver, layout),
    ping: async () => {
      await driver.walk(layout.root(), { pageSize: 1 }).next();
    },
  };
}
