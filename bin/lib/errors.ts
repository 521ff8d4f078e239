// Errors of `berth push`: every failure becomes one PushError whose message is the single line the user sees,
// and registry answers are summarised as "METHOD PATH: STATUS TEXT: CODE: message" from the OCI error body.

export class PushError extends Error {
  /** Process exit code: 1 for a failed push, 2 for a usage error. */
  readonly exitCode: number;
  /** False for errors that another attempt cannot fix (4xx answers, bad input). */
  readonly retryable: boolean;
  constructor(message: string, exitCode = 1, retryable = false) {
    super(message);
    this.name = "PushError";
    this.exitCode = exitCode;
    this.retryable = retryable;
  }
}

export interface ResponseLike {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Statuses worth another attempt: the server or something in between had a bad moment. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** "400 Bad Request: MANIFEST_INVALID: bad manifest (+1 more)"; HTML error pages are reduced to their title. */
export function describeResponse(res: ResponseLike): string {
  let text = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  const body = res.body.subarray(0, 64 * 1024).toString("utf8").trim();
  let detail = "";
  try {
    const doc = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    const errs = Array.isArray(doc.errors) ? doc.errors : [];
    if (errs.length > 0) {
      const e = errs[0]!;
      detail = [e.code, e.message].filter((x) => typeof x === "string" && x !== "").join(": ");
      if (errs.length > 1) detail += ` (+${errs.length - 1} more)`;
    }
  } catch {
    const title = /<title>([^<]{1,200})<\/title>/i.exec(body);
    if (title) detail = title[1]!.trim();
    else if (body !== "" && !body.startsWith("<") && body.length <= 200) detail = body;
  }
  if (detail !== "") text += `: ${detail}`;
  return text.replace(/\s+/g, " ");
}

/** A failed registry request as a PushError; retryable when the status says so. */
export function httpError(what: string, res: ResponseLike, hint = ""): PushError {
  return new PushError(`${what}: ${describeResponse(res)}${hint}`, 1, retryableStatus(res.status));
}

/** A network-level failure (refused, reset, timed out) as a retryable PushError. */
export function networkError(what: string, e: unknown): PushError {
  if (e instanceof PushError) return e;
  const err = e as NodeJS.ErrnoException;
  const msg = err?.message ?? String(e);
  return new PushError(`${what}: ${msg}`, 1, true);
}
