// Parsing and validation of a pushed manifest (PUT /v2/<name>/manifests/<reference>): decides its
// effective media type from Content-Type and body, refuses what Berth cannot serve (schema1, malformed
// JSON, broken descriptors, ambiguous manifest/index bodies), and returns what the handler must check and
// index: the blobs and child manifests that must already exist in the repository, the `subject` and the
// artifactType / annotations the referrers API reports. The bytes themselves are stored untouched (the
// spec: "MUST store the manifest in the exact byte representation provided by the client").

import { OciError } from "./errors";
import { parseDigest } from "./digest";
import {
  MANIFEST_MEDIA_TYPES,
  OCI_IMAGE_INDEX,
  OCI_IMAGE_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  isWellFormedMediaType,
  normalizeMediaType,
} from "./media-types";

export interface Descriptor {
  mediaType: string;
  /** Validated: sha256 or sha512, lowercase hex. */
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface ParsedManifest {
  /** Effective media type: the body's mediaType, else a manifest Content-Type, else detected from shape. */
  mediaType: string;
  kind: "image" | "index";
  /**
   * Descriptors that must exist as blobs in the repository: an image's config and layers; an index's
   * children whose mediaType is not a manifest type (BuildKit cache). Foreign descriptors (non-empty
   * `urls`) are skipped; each digest appears once.
   */
  blobs: Descriptor[];
  /** Index children with a manifest or index media type: must exist as manifests (same skipping/dedup). */
  manifests: Descriptor[];
  /** OCI 1.1 subject: need not exist (the spec says a registry MUST accept it either way). */
  subject?: Descriptor;
  /** For referrers: the manifest's artifactType, else (image manifests only) config.mediaType. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string): OciError {
  return new OciError("MANIFEST_INVALID", message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value from the body, quoted and cut short for a message. */
function shown(v: unknown): string {
  if (typeof v === "number") return String(v); // JSON.stringify would print Infinity (from 1e400) as null
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function parseAnnotations(v: unknown, path: string): Record<string, string> {
  if (!isObject(v)) throw invalid(`${path} must be an object of string values`);
  const entries = Object.entries(v);
  for (const [key, value] of entries) {
    if (typeof value !== "string") throw invalid(`${path}[${shown(key)}] must be a string`);
  }
  // fromEntries defines own properties, so a "__proto__" key stays data and never becomes a prototype.
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseMediaTypeField(v: unknown, path: string, required: boolean): string | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string" || v.length === 0) throw invalid(`${path} is required and must be a non-empty string`);
  if (!isWellFormedMediaType(v)) throw invalid(`${path} ${shown(v)} is not a valid media type (type/subtype)`);
  return v;
}

/**
 * One descriptor. Structural faults are MANIFEST_INVALID. A digest that is present but malformed or of an
 * unsupported algorithm is DIGEST_INVALID: the spec's error descriptions (inherited from Distribution's
 * errcode registry) say DIGEST_INVALID "MAY also be returned when a manifest includes an invalid layer
 * digest", and Distribution's manifest handler maps a digest format error to DIGEST_INVALID. Only sha256
 * and sha512 are accepted (not merely grammatical digests) because Berth can neither store nor verify
 * content under any other algorithm, and a subject it cannot parse could never be queried.
 */
function parseDescriptor(v: unknown, path: string): Descriptor {
  if (!isObject(v)) throw invalid(`${path} must be a descriptor object`);
  const mediaType = parseMediaTypeField(v.mediaType, `${path}.mediaType`, true)!;

  if (typeof v.digest !== "string") throw invalid(`${path}.digest is required and must be a string`);
  let digest: string;
  try {
    parseDigest(v.digest);
    digest = v.digest;
  } catch (e) {
    if (e instanceof OciError) throw new OciError("DIGEST_INVALID", `${path}.digest: ${e.message}`);
    throw e;
  }

  // JSON numbers beyond 2^53 lose precision and 1e400 parses as Infinity: neither is a usable size.
  const size = v.size;
  if (size === undefined) throw invalid(`${path}.size is required`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${path}.size must be a non-negative integer, got ${shown(size)}`);
  }

  const out: Descriptor = { mediaType, digest, size };
  const artifactType = parseMediaTypeField(v.artifactType, `${path}.artifactType`, false);
  if (artifactType !== undefined) out.artifactType = artifactType;
  if (v.annotations !== undefined) out.annotations = parseAnnotations(v.annotations, `${path}.annotations`);
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls) || !v.urls.every((u): u is string => typeof u === "string")) {
      throw invalid(`${path}.urls must be an array of strings`);
    }
    out.urls = [...v.urls];
  }
  if (v.platform !== undefined) out.platform = v.platform;
  return out;
}

function parseDescriptorList(v: unknown, path: string): Descriptor[] {
  if (!Array.isArray(v)) throw invalid(`${path} is required and must be an array of descriptors`);
  return v.map((d, i) => parseDescriptor(d, `${path}[${i}]`));
}

/** Descriptors the registry must hold: without foreign `urls`, first occurrence of each digest. */
function mustExist(descs: Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  const out: Descriptor[] = [];
  for (const d of descs) {
    if (d.urls !== undefined && d.urls.length > 0) continue; // non-distributable: fetched from its urls
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    out.push(d);
  }
  return out;
}

// fatal: invalid UTF-8 is an error, not U+FFFD. ignoreBOM: keep a BOM in the text so JSON.parse refuses
// it, as Go's encoding/json (most clients) would: a manifest they cannot read must not be accepted.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function effectiveMediaType(doc: Record<string, unknown>, contentType: string | null): string {
  const ct = normalizeMediaType(contentType);
  const bodyType = doc.mediaType;
  if (bodyType !== undefined) {
    if (typeof bodyType !== "string") throw invalid("mediaType must be a string");
    // The body's field is compared exactly: the image-spec says that, when used, it MUST be the type's name.
    if (!MANIFEST_MEDIA_TYPES.includes(bodyType)) {
      throw invalid(`unsupported manifest mediaType ${shown(bodyType)}`);
    }
    if (isManifestMediaType(ct) && ct !== bodyType) {
      throw invalid(`Content-Type ${shown(ct)} does not match the manifest's mediaType ${shown(bodyType)}`);
    }
    return bodyType;
  }
  if (isManifestMediaType(ct)) return ct;
  // No usable type anywhere (e.g. application/json, octet-stream, none): accept only an unmistakable shape.
  const hasManifests = doc.manifests !== undefined;
  const hasImageFields = doc.config !== undefined || doc.layers !== undefined;
  if (hasManifests && !hasImageFields) return OCI_IMAGE_INDEX;
  if (hasImageFields && !hasManifests) return OCI_IMAGE_MANIFEST;
  throw invalid(
    `cannot tell the manifest type: Content-Type ${ct === "" ? "is missing" : `${shown(ct)} is not a manifest type`} ` +
      "and the body has no mediaType",
  );
}

/**
 * Parses and validates a manifest body. Throws OciError MANIFEST_INVALID (or DIGEST_INVALID for a bad
 * descriptor digest, see parseDescriptor) with a message naming the offending field.
 */
export function parseManifest(body: Uint8Array, contentType: string | null): ParsedManifest {
  if (body.byteLength === 0) throw invalid("manifest body is empty");
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw invalid("manifest is not valid UTF-8");
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(`manifest is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(doc)) throw invalid("manifest must be a JSON object");

  // Schema1 first, so its users get the real reason rather than "schemaVersion must be 2".
  const bodyType = typeof doc.mediaType === "string" ? doc.mediaType : "";
  if (isSchema1MediaType(normalizeMediaType(contentType)) || isSchema1MediaType(bodyType) || doc.schemaVersion === 1) {
    throw invalid("schema1 manifests are not supported: push with a client that writes Docker schema2 or OCI");
  }
  if (doc.schemaVersion !== 2) {
    throw invalid(
      doc.schemaVersion === undefined ? "schemaVersion is required (2)" : `schemaVersion must be 2, got ${shown(doc.schemaVersion)}`,
    );
  }

  const mediaType = effectiveMediaType(doc, contentType);
  const kind = isIndexMediaType(mediaType) ? "index" : "image";

  // Reject bodies that read as both an image manifest and an index (CVE-2021-41190, the "ambiguous
  // manifest" advisory of the OCI specs and Distribution): clients could resolve them differently.
  if (kind === "image" && doc.manifests !== undefined) {
    throw invalid("an image manifest must not have a manifests field");
  }
  if (kind === "index" && (doc.config !== undefined || doc.layers !== undefined)) {
    throw invalid("an index must not have config or layers fields");
  }

  const result: ParsedManifest = { mediaType, kind, blobs: [], manifests: [] };

  // "" counts as absent: the referrers rules say "if the artifactType is empty or missing".
  const artifactType = doc.artifactType === "" ? undefined : parseMediaTypeField(doc.artifactType, "artifactType", false);

  if (kind === "image") {
    if (doc.config === undefined) throw invalid("config is required");
    const config = parseDescriptor(doc.config, "config");
    // layers is REQUIRED, but may be empty: the image-spec only says it SHOULD have one entry, and OCI 1.1
    // artifacts often carry everything in config/annotations.
    const layers = parseDescriptorList(doc.layers, "layers");
    result.blobs = mustExist([config, ...layers]);
    result.artifactType = artifactType ?? config.mediaType;
  } else {
    // Children with a manifest media type must exist as manifests; any other child must exist as a blob.
    // BuildKit's registry cache pushes an index whose children are layer blobs and a cache config;
    // Distribution accepts a child found in either its manifest or its blob store (distribution#3528).
    const children = mustExist(parseDescriptorList(doc.manifests, "manifests"));
    result.manifests = children.filter((d) => isManifestMediaType(d.mediaType));
    result.blobs = children.filter((d) => !isManifestMediaType(d.mediaType));
    if (artifactType !== undefined) result.artifactType = artifactType;
  }

  if (doc.subject !== undefined) result.subject = parseDescriptor(doc.subject, "subject");
  if (doc.annotations !== undefined) result.annotations = parseAnnotations(doc.annotations, "annotations");
  return result;
}
