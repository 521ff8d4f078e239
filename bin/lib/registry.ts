// The registry connection of `berth push`: requests over node:http/https (streamed bodies with an exact
// Content-Length, so every chunk is one sized request), authentication (Basic, and the Bearer token flow on a
// 401 challenge), and bounded retries with backoff for requests that may safely be sent again.

import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { PushError, httpError, networkError, retryableStatus } from "./errors.ts";

export interface Request {
  method: string;
  /** Absolute URL. */
  url: URL;
  headers?: Record<string, string>;
  /** A buffer, or a factory for a stream of exactly bodyLength bytes (a factory so a 401 can be answered by resending). */
  body?: Buffer | (() => Readable);
  bodyLength?: number;
  /** Called with each piece of the body as it is handed to the socket. */
  onSent?: (bytes: number) => void;
}

export interface Response {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: URL;
}

export interface RegistryOptions {
  base: URL;
  repository: string;
  /** "user:password" for Basic auth and the token endpoint. */
  creds?: string;
  /** Accept any TLS certificate (https only). */
  insecureTls: boolean;
  /** A request with no progress (no response, no body bytes accepted) for this long fails. */
  timeoutMs: number;
  /** Attempts after the first for a failed idempotent request or chunk. */
  retries: number;
  log: (line: string) => void;
}

const USER_AGENT = "berth-push/0.1";
const MAX_RESPONSE_BODY = 1 << 20;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Backoff before attempt `n` (1-based): 0.25 s, 0.5 s, 1 s, ... at most 8 s. */
export function backoffMs(n: number): number {
  return Math.min(250 * 2 ** (n - 1), 8000);
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** WWW-Authenticate: `Bearer realm="…",service="…",scope="…"` → scheme and parameters (first challenge). */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (const p of m[2]!.matchAll(re)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export class Registry {
  readonly opts: RegistryOptions;
  private authorization: string | undefined;
  private readonly agent: http.Agent;

  constructor(opts: RegistryOptions) {
    this.opts = opts;
    this.agent =
      opts.base.protocol === "https:"
        ? new https.Agent({ keepAlive: true, rejectUnauthorized: !opts.insecureTls })
        : new http.Agent({ keepAlive: true });
  }

  /** URL of a registry API path such as `/v2/NAME/blobs/uploads/`. */
  url(path: string): URL {
    return new URL(path, this.opts.base);
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request, answering an auth challenge once. Network failures throw a retryable PushError. */
  async send(req: Request): Promise<Response> {
    const what = `${req.method} ${req.url.pathname}`;
    // Credentials go only to the registry's own origin (an upload Location may point elsewhere).
    const own = req.url.origin === this.opts.base.origin;
    let res = await this.raw(req, own ? this.authorization : undefined).catch((e: unknown) => {
      throw networkError(`${what} (${req.url.host})`, e);
    });
    if (own && res.status === 401 && (await this.authenticate(res))) {
      res = await this.raw(req, this.authorization).catch((e: unknown) => {
        throw networkError(`${what} (${req.url.host})`, e);
      });
    }
    return res;
  }

  /**
   * send() with retries for idempotent requests: a network failure or a 5xx/408/429 answer is tried again
   * after a backoff, up to opts.retries times. Returns the last response (any status) or throws.
   */
  async sendWithRetry(req: Request): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let failure: PushError;
      try {
        const res = await this.send(req);
        if (!retryableStatus(res.status) || attempt >= this.opts.retries) return res;
        failure = httpError(`${req.method} ${req.url.pathname}`, res);
      } catch (e) {
        if (!(e instanceof PushError) || !e.retryable || attempt >= this.opts.retries) throw e;
        failure = e;
      }
      this.opts.log(`retry ${attempt + 1}/${this.opts.retries} after: ${failure.message}`);
      await sleep(backoffMs(attempt + 1));
    }
  }

  /** GET /v2/: checks the registry answers, and gets a token up front when it asks for one. */
  async ping(): Promise<void> {
    const res = await this.sendWithRetry({ method: "GET", url: this.url("/v2/") });
    if (res.status === 401) throw httpError("GET /v2/", res, this.opts.creds ? " (credentials refused)" : " (try --creds USER:PASSWORD)");
    if (res.status !== 200) throw httpError("GET /v2/", res, res.status === 404 ? " (is this an OCI registry?)" : "");
  }

  /** Handles a 401: Basic with --creds, or the Bearer token flow. True when the request should be resent. */
  private async authenticate(res: Response): Promise<boolean> {
    const header = res.headers["www-authenticate"];
    const challenge = parseChallenge(Array.isArray(header) ? header[0] ?? "" : header ?? "");
    const creds = this.opts.creds;
    const basic = creds === undefined ? undefined : `Basic ${Buffer.from(creds).toString("base64")}`;
    if (challenge?.scheme === "basic") {
      if (basic === undefined || this.authorization === basic) return false;
      this.authorization = basic;
      return true;
    }
    if (challenge?.scheme !== "bearer" || !challenge.params.realm) return false;
    const previous = this.authorization;
    this.authorization = await this.fetchToken(challenge.params, basic);
    return this.authorization !== previous || previous === undefined;
  }

  private async fetchToken(params: Record<string, string>, basic: string | undefined): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      throw new PushError(`registry asked for a token from an invalid realm ${JSON.stringify(params.realm)}`);
    }
    if (realm.protocol !== "https:" && realm.protocol !== "http:") throw new PushError(`unsupported token realm ${realm.href}`);
    if (params.service) realm.searchParams.set("service", params.service);
    // Ask for push and pull on the target repository, plus whatever the challenge named.
    const scopes = new Set([`repository:${this.opts.repository}:pull,push`]);
    for (const s of (params.scope ?? "").split(" ")) if (s) scopes.add(s);
    for (const s of scopes) realm.searchParams.append("scope", s);
    const req: Request = { method: "GET", url: realm };
    const res = await this.raw(req, basic).catch((e: unknown) => {
      throw networkError(`GET token from ${realm.host}`, e);
    });
    if (res.status !== 200) {
      throw httpError(`GET token from ${realm.origin}${realm.pathname}`, res, basic ? " (credentials refused?)" : " (try --creds USER:PASSWORD)");
    }
    let token: unknown;
    try {
      const doc = JSON.parse(res.body.toString("utf8")) as { token?: unknown; access_token?: unknown };
      token = doc.token ?? doc.access_token;
    } catch {
      // handled below
    }
    if (typeof token !== "string" || token === "") throw new PushError(`token endpoint ${realm.origin}${realm.pathname} sent no token`);
    return `Bearer ${token}`;
  }

  /** The request on the wire. Resolves with the response (body read, capped); rejects on network failure. */
  private raw(req: Request, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { "User-Agent": USER_AGENT, ...req.headers };
    if (authorization !== undefined) headers.Authorization = authorization;
    const body = req.body;
    const length = body === undefined ? 0 : Buffer.isBuffer(body) ? body.length : req.bodyLength ?? 0;
    if (body !== undefined || ["POST", "PUT", "PATCH"].includes(req.method)) headers["Content-Length"] = String(length);
    const mod = req.url.protocol === "https:" ? https : http;
    const sameOrigin = req.url.origin === this.opts.base.origin;
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      let source: Readable | undefined;
      let response: http.IncomingMessage | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      const r = mod.request(
        req.url,
        {
          method: req.method,
          headers,
          agent: sameOrigin ? this.agent : undefined,
          rejectUnauthorized: !this.opts.insecureTls,
        },
        (res) => {
          response = res;
          res.on("data", (c: Buffer) => {
            if (size < MAX_RESPONSE_BODY) chunks.push(c);
            size += c.length;
          });
          res.on("error", fail);
          res.on("end", answer);
        },
      );
      function answer(): void {
        if (settled || !response) return;
        settled = true;
        source?.destroy(); // a server may answer (e.g. 413, 401) before taking the whole body
        resolve({
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? "",
          headers: response.headers,
          body: Buffer.concat(chunks),
          url: req.url,
        });
      }
      function fail(e: Error): void {
        if (settled) return;
        // The answer's head arrived, then the connection broke (a server refusing a body early, e.g. with
        // 413, may close before reading it): the status is what matters.
        if (response) return answer();
        settled = true;
        source?.destroy();
        r.destroy();
        reject(e);
      }
      r.on("error", fail);
      r.setTimeout(this.opts.timeoutMs, () => fail(new Error(`no progress for ${Math.round(this.opts.timeoutMs / 1000)} s`)));
      if (body === undefined) {
        r.end();
      } else if (Buffer.isBuffer(body)) {
        r.end(body);
        req.onSent?.(body.length);
      } else {
        source = body();
        source.on("error", (e) => fail(new PushError(`reading the source: ${e.message}`)));
        if (req.onSent) {
          const onSent = req.onSent;
          source.on("data", (c: Buffer) => onSent(c.length));
        }
        source.pipe(r);
      }
    });
  }
}

/** The first value of a response header. */
export function header(res: Response, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
