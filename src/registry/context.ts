// What every handler gets: the validated configuration, the storage layer, the upload-session namespace,
// and the request's URL. Built once per request by http/router.ts.

import type { Config } from "../config";
import type { Storage } from "../storage";
import type { UploadSessionRpc } from "../uploads/protocol";

export interface RegistryContext {
  cfg: Config;
  storage: Storage;
  /** Returns the RPC stub of an upload session's Durable Object. */
  session(repo: string, uuid: string): UploadSessionRpc;
  url: URL;
}

/** A JSON response with the right length. */
export function json(value: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  const body = JSON.stringify(value);
  return new Response(body, {
    status: init.status ?? 200,
    headers: { "Content-Type": "application/json", ...init.headers },
  });
}

/** An empty response (Content-Length: 0, as clients like docker expect on 201/202/204). */
export function empty(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers: { "Content-Length": "0", ...headers } });
}
