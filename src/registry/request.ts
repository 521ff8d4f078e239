// Who is asking: the identity and circumstances of one request, as handlers, the write seam and the logs see
// them. Built by the Worker entry from the authenticated caller and Cloudflare's request headers.

/** Who made the request. Never holds a credential. */
export interface Caller {
  /** The authenticated user name, or null. */
  user: string | null;
  /** The user's groups from the access policy. */
  groups: readonly string[];
  anonymous: boolean;
}

export interface RequestInfo {
  /** Cloudflare's Ray ID when there is one, else a random id: the same in every log line of the request. */
  id: string;
  caller: Caller;
  /** The client's address as Cloudflare saw it (CF-Connecting-IP), or null. */
  clientAddress: string | null;
  userAgent: string | null;
  method: string;
  /** The request's host, as the client addressed the registry. */
  host: string;
  /** scheme://host as the client addressed the registry (links in notifications are built on it). */
  origin: string;
}
