// The registry's errors: every failure a client is told about is an OciError carrying a code from the OCI
// Distribution Spec's error-code table (and nothing else: Distribution's extensions such as RANGE_INVALID are
// not in it), its HTTP status, and a message that is safe to show. A fault of the registry itself (storage
// down, a bug, a bad setting) is a RegistryFault instead: a 500, for which the table has no code. Both live in
// oci/ so every layer (storage and the upload Durable Object included) can throw them without importing
// upward; http/respond.ts is the one place that turns them into responses.

/** The spec's error-code table (code-1 … code-14), in its order. */
export const OCI_ERROR_CODES = [
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
  "TOOMANYREQUESTS",
] as const;

export type OciErrorCode = (typeof OCI_ERROR_CODES)[number];

/** Default HTTP status of each code, as the spec's error table and Distribution's errcode registry give it. */
const STATUS: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
};

export interface OciErrorBody {
  code: OciErrorCode;
  message: string;
  detail?: unknown;
}

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers (e.g. WWW-Authenticate on 401, Range on 416). */
  readonly headers: Record<string, string>;

  constructor(
    code: OciErrorCode,
    message: string,
    opts: { status?: number; detail?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "OciError";
    this.code = code;
    this.status = opts.status ?? STATUS[code];
    this.detail = opts.detail;
    this.headers = opts.headers ?? {};
  }

  toBody(): OciErrorBody {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }

  /** Plain-data form that survives Durable Object RPC (class identity does not). */
  toJSON(): { code: OciErrorCode; message: string; status: number; detail?: unknown; headers: Record<string, string> } {
    return { code: this.code, message: this.message, status: this.status, detail: this.detail, headers: this.headers };
  }

  static fromJSON(v: { code: OciErrorCode; message: string; status: number; detail?: unknown; headers?: Record<string, string> }): OciError {
    return new OciError(v.code, v.message, { status: v.status, detail: v.detail, headers: v.headers ?? {} });
  }
}

/**
 * The code in the body of a 500. The spec's table has no code for a failure of the registry itself (its
 * error-code rules govern 4XX answers), and any of its codes would mislead: MANIFEST_UNKNOWN says "not there",
 * and clients stop retrying on DENIED, UNSUPPORTED or TOOMANYREQUESTS. UNKNOWN is what Distribution sends and
 * what clients make of any code they do not know.
 */
export const FAULT_CODE = "UNKNOWN";

/** A failure of the registry, not of the request: answered 500 with `message`, which must be safe to show. */
export class RegistryFault extends Error {
  readonly status = 500;

  constructor(message: string) {
    super(message);
    this.name = "RegistryFault";
  }
}
