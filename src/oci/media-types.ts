// Media types Berth must recognise: the four manifest formats it stores and serves (OCI image manifest and
// index, Docker schema2 manifest and manifest list) and the Docker schema1 types it refuses. The types of
// what manifests reference (configs, layers) are the client's business: Berth only checks their shape.
// Comparisons are on normalised values (see
// normalizeMediaType) because Content-Type is case-insensitive and may carry parameters.

export const OCI_IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_IMAGE_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

/** Docker image manifest schema 1, unsigned and signed (JWS). Refused: deprecated and unverifiable. */
export const DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json";
export const DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/** The image manifest formats (config + layers). */
export const IMAGE_MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_IMAGE_MANIFEST, DOCKER_MANIFEST_V2];
/** The index formats (a list of manifests). */
export const INDEX_MEDIA_TYPES: readonly string[] = [OCI_IMAGE_INDEX, DOCKER_MANIFEST_LIST];
/** Every manifest format Berth accepts on PUT and serves on GET. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [...IMAGE_MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];
/** An Accept naming every manifest kind Berth stores: what the pull-through cache and sync ask upstreams for. */
export const STORED_MANIFEST_ACCEPT = [OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2].join(", ");
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED];

/**
 * "Application/VND.oci…+json; charset=utf-8" → "application/vnd.oci…+json". The spec says registries
 * SHOULD ignore Content-Type parameters; media types are case-insensitive (RFC 6838). Returns "" for null.
 */
export function normalizeMediaType(value: string | null | undefined): string {
  if (value == null) return "";
  const semi = value.indexOf(";");
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** Any supported manifest format: image manifest or index (OCI or Docker). */
export function isManifestMediaType(mt: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(normalizeMediaType(mt));
}

/** OCI image manifest or Docker schema2 manifest. */
export function isImageManifestMediaType(mt: string): boolean {
  return IMAGE_MANIFEST_MEDIA_TYPES.includes(normalizeMediaType(mt));
}

/** OCI image index or Docker manifest list. */
export function isIndexMediaType(mt: string): boolean {
  return INDEX_MEDIA_TYPES.includes(normalizeMediaType(mt));
}

/** Docker schema1 (signed or not), which Berth refuses. */
export function isSchema1MediaType(mt: string): boolean {
  return SCHEMA1_MEDIA_TYPES.includes(normalizeMediaType(mt));
}

// RFC 6838 §4.2 restricted-name, for both type and subtype: 1–127 chars, first alphanumeric.
const RESTRICTED_NAME = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}";
const MEDIA_TYPE_SHAPE = new RegExp(`^${RESTRICTED_NAME}/${RESTRICTED_NAME}$`);

/**
 * Whether `mt` has the `type/subtype` shape RFC 6838 requires (the image-spec requires it of descriptor
 * mediaType and artifactType). No parameters: descriptors never carry them.
 */
export function isWellFormedMediaType(mt: string): boolean {
  return MEDIA_TYPE_SHAPE.test(mt);
}
