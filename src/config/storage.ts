// The storage settings: Distribution's S3 driver options under their environment names (REGISTRY_STORAGE_S3_*),
// with Distribution's defaults and limits.

import { ConfigError, GiB, MiB, read, readBool, readEnum, readInt, readSecret, readUrl, show, trimSlashes, type Env } from "./values";

export interface S3Config {
  bucket: string;
  region: string;
  /** Base URL of the S3 API, scheme included, no trailing slash, e.g. "http://127.0.0.1:8080" or "https://s3.us-east-1.amazonaws.com". */
  endpoint: string;
  /** Path-style (endpoint/bucket/key) vs virtual-hosted (bucket.endpoint/key). */
  forcePathStyle: boolean;
  accessKey: string;
  secretKey: string;
  /** false: sign with AWS Signature Version 2. */
  v4auth: boolean;
  /** Key prefix without leading or trailing slash ("" for none). */
  rootDirectory: string;
  encrypt: boolean;
  /** KMS key id for SSE-KMS when encrypt is on. */
  keyId: string | undefined;
  /** Part size of multipart uploads in bytes. */
  chunkSize: number;
  /** "NONE" means: send no storage-class header. */
  storageClass: string;
  objectAcl: string;
  multipartCopyChunkSize: number;
  multipartCopyMaxConcurrency: number;
  multipartCopyThresholdSize: number;
  /** Base URL used in presigned download URLs instead of `endpoint` (Distribution's redirectendpoint). */
  redirectEndpoint: string | undefined;
}

const P = "REGISTRY_STORAGE_S3_";

const STORAGE_CLASSES = [
  "NONE",
  "STANDARD",
  "REDUCED_REDUNDANCY",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "OUTPOSTS",
  "GLACIER_IR",
  "EXPRESS_ONEZONE",
] as const;

const OBJECT_ACLS = [
  "private",
  "public-read",
  "public-read-write",
  "authenticated-read",
  "aws-exec-read",
  "bucket-owner-read",
  "bucket-owner-full-control",
  "log-delivery-write",
] as const;


function readRootDirectory(env: Env): string {
  const name = `${P}ROOTDIRECTORY`;
  const s = read(env, name);
  if (s === undefined) return "";
  if (!/^[A-Za-z0-9._\/-]*$/.test(s)) {
    throw new ConfigError(name, `${show(s)} may contain only letters, digits, ".", "_", "-" and "/"`);
  }
  const root = trimSlashes(s);
  // Distribution's `rootdirectory: /` means no prefix. "." and ".." would be resolved away by URL
  // normalisation in path-style requests, writing outside the intended prefix; "a//b" is a typo.
  if (root !== "" && root.split("/").some((c) => c === "" || c === "." || c === "..")) {
    throw new ConfigError(name, `${show(s)} must not contain empty, "." or ".." path components`);
  }
  return root;
}

/** Bucket names go into URLs: first and last characters alphanumeric, no "/" or "%" (Swift allows "_"). */
const BUCKET_ANY = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$/;
/** Virtual-hosted style puts the bucket in the host name: DNS-compatible names only. */
const BUCKET_DNS = /^[a-z0-9](?:[a-z0-9.-]{1,61})[a-z0-9]$/;
const REGION = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/;

export function parseS3(env: Env): S3Config {
  const bucketName = `${P}BUCKET`;
  const bucket = read(env, bucketName);
  if (bucket === undefined) throw new ConfigError(bucketName, "is required");
  if (!BUCKET_ANY.test(bucket)) throw new ConfigError(bucketName, `${show(bucket)} is not a valid bucket name`);

  const secure = readBool(env, `${P}SECURE`, true);
  const regionEndpoint = readUrl(env, `${P}REGIONENDPOINT`, secure);
  const regionName = `${P}REGION`;
  const region = read(env, regionName) ?? (regionEndpoint !== undefined ? "us-east-1" : undefined);
  if (region === undefined) throw new ConfigError(regionName, `is required unless ${P}REGIONENDPOINT is set`);
  if (!REGION.test(region)) throw new ConfigError(regionName, `${show(region)} is not a valid region name`);

  // AWS itself: regional endpoint; China regions live under amazonaws.com.cn.
  const endpoint =
    regionEndpoint ?? `${secure ? "https" : "http"}://s3.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}`;
  // Distribution 2.8 always used path style with a regionendpoint; v3 made it opt-in, and most
  // S3-compatible servers (MinIO, Swift, Ceph) need it, so it defaults on exactly when an endpoint is set.
  const forcePathStyle = readBool(env, `${P}FORCEPATHSTYLE`, regionEndpoint !== undefined);
  if (!forcePathStyle && !BUCKET_DNS.test(bucket)) {
    throw new ConfigError(
      bucketName,
      `${show(bucket)} cannot be used in a virtual-hosted URL; set ${P}FORCEPATHSTYLE=true or use a DNS-compatible name`,
    );
  }

  const accessKey = readSecret(env, `${P}ACCESSKEY`);
  const secretKey = readSecret(env, `${P}SECRETKEY`);

  return {
    bucket,
    region,
    endpoint,
    forcePathStyle,
    accessKey,
    secretKey,
    v4auth: readBool(env, `${P}V4AUTH`, true),
    rootDirectory: readRootDirectory(env),
    encrypt: readBool(env, `${P}ENCRYPT`, false),
    keyId: read(env, `${P}KEYID`),
    chunkSize: readInt(env, `${P}CHUNKSIZE`, 10 * MiB, 5 * MiB, 5 * GiB),
    storageClass: readEnum(env, `${P}STORAGECLASS`, "STANDARD", STORAGE_CLASSES),
    objectAcl: readEnum(env, `${P}OBJECTACL`, "private", OBJECT_ACLS),
    multipartCopyChunkSize: readInt(env, `${P}MULTIPARTCOPYCHUNKSIZE`, 32 * MiB, 5 * MiB, 5 * GiB),
    multipartCopyMaxConcurrency: readInt(env, `${P}MULTIPARTCOPYMAXCONCURRENCY`, 100, 1),
    multipartCopyThresholdSize: readInt(env, `${P}MULTIPARTCOPYTHRESHOLDSIZE`, 32 * MiB, 0, 5 * GiB),
    redirectEndpoint: readUrl(env, `${P}REDIRECTENDPOINT`, secure),
  };
}
