// Errors across Durable Object RPC: class identity does not survive the boundary, so an object answers with
// an RpcResult (a value, or its OciError as plain data) and the Worker turns it back into the OciError it was.
// `serialize` runs an object's requests one at a time and maps what they throw: an OciError goes back as it
// is, anything else is logged (message only) and goes back as a RegistryFault (a 500).

import { FAULT_CODE, OciError, RegistryFault, type OciErrorCode } from "./errors";
import { log } from "../log";

export interface RpcError {
  /** FAULT_CODE for a RegistryFault. */
  code: OciErrorCode | typeof FAULT_CODE;
  message: string;
  status: number;
  detail?: unknown;
  headers: Record<string, string>;
}

export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: RpcError };

/** Unwraps an RPC result, rethrowing the object's error as the OciError (or RegistryFault) it was. */
export function unwrap<T>(r: RpcResult<T>): T {
  if (r.ok) return r.value;
  const { code, ...rest } = r.error;
  if (code === FAULT_CODE) throw new RegistryFault(rest.message);
  throw OciError.fromJSON({ code, ...rest });
}

/** A queue of one: each call starts after the previous one ended, whatever its outcome. */
export class Serial {
  private queue: Promise<unknown> = Promise.resolve();

  /** `what` names the object in the log line of an unexpected failure; `failure` is what the client is told. */
  constructor(
    private readonly what: string,
    private readonly failure: string,
  ) {}

  run<T>(fn: () => Promise<T>): Promise<RpcResult<T>> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next.then(
      (value): RpcResult<T> => ({ ok: true, value }),
      (e: unknown): RpcResult<T> => {
        if (e instanceof OciError) return { ok: false, error: e.toJSON() };
        log.error(`${this.what} error: ${e instanceof Error ? `${e.name}: ${e.message}` : "unknown"}`);
        return { ok: false, error: { code: FAULT_CODE, message: this.failure, status: 500, headers: {} } };
      },
    );
  }
}
