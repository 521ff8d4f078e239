// The one error type of the registry: every failure a client can see is an OciError carrying a code from
// the OCI Distribution Spec (plus Distribution's RANGE_INVALID and UNKNOWN), its HTTP status, and a message
// that is safe to show. Lives in oci/ so every layer (storage and the upload Durable Object included) can
// throw it without importing upward; http/respond.ts is the one place that turns it into a response.

export type OciErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "RANGE_INVALID"
  | "UNKNOWN";

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
  RANGE_INVALID: 416,
  UNKNOWN: 500,
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
