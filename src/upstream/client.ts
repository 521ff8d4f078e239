// A client of one upstream registry's pull API (manifests and blobs by GET and HEAD), for the pull-through
// cache. It tries the upstream's URLs in order (the next one when a URL cannot be reached, or answers 429 or
// 5xx), authenticates as the upstream's challenge asks (auth.ts), and follows blob redirects itself (so the
// upstream's Authorization is never sent to another origin, such as Docker Hub's CDN). Every failure is an UpstreamError saying what kind it was, so the
// cache can decide between serving a stale copy and passing the error on.

import type { Upstream } from "../config/upstreams";
import { countUpstreamRequest } from "../metrics/upstream";
import { OciError } from "../oci/errors";
import { referrersTag } from "../oci/referrers-tag";
import { readLimited } from "../streams/body";
import { UpstreamAuth, type Fetch } from "./auth";

export type { Fetch } from "./auth";

/** What went wrong upstream: `missing` (404), `throttled` (429), `refused` (401/403), `unavailable` (5xx, network). */
export type UpstreamFailure = "missing" | "throttled" | "refused" | "unavailable";

export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly kind: UpstreamFailure,
    /** The upstream's status, null when it could not be reached. */
    readonly status: number | null,
    readonly retryAfter: string | null = null,
    /** What was wrong with an answer that came (too large to take), instead of its status. */
    why: string | null = null,
  ) {
    super(`upstream ${upstream} ${why ?? (status === null ? "could not be reached" : `answered ${status}`)}`);
    this.name = "UpstreamError";
  }
}

export interface UpstreamManifest {
  bytes: Uint8Array;
  mediaType: string | null;
  /** Docker-Content-Digest, when the upstream sent it. */
  digest: string | null;
}

export interface UpstreamBlob {
  body: ReadableStream<Uint8Array>;
  /** Content-Length, when the upstream sent it. */
  size: number | null;
}

/** The spec's lower bound for what registries must accept; an upstream's manifest above it is refused. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;
/** A tag list's pages followed at most, and bytes per page read at most. */
const MAX_TAG_PAGES = 20;
const MAX_TAG_LIST_BYTES = 8 * 1024 * 1024;

export class UpstreamClient {
  private readonly auth: UpstreamAuth;

  constructor(
    readonly upstream: Upstream,
    private readonly fetch: Fetch,
    now: () => number = Date.now,
  ) {
    // The token endpoint's requests count too: a pull's cost upstream is all it sent there.
    const counted: Fetch = async (url, init) => {
      try {
        const res = await fetch(url, init);
        countUpstreamRequest(upstream.name, "token", res.ok ? null : failureOf(res.status));
        return res;
      } catch (e) {
        countUpstreamRequest(upstream.name, "token", "unavailable");
        throw e;
      }
    };
    this.auth = new UpstreamAuth(upstream.credentials, counted, now);
  }

  /** HEAD of a manifest: its digest (null when the upstream did not say). */
  async headManifest(repo: string, ref: string, accept: string): Promise<string | null> {
    const res = await this.send(repo, `manifests/${ref}`, "HEAD", { Accept: accept });
    await res.body?.cancel();
    return res.headers.get("Docker-Content-Digest");
  }

  async getManifest(repo: string, ref: string, accept: string): Promise<UpstreamManifest> {
    const res = await this.send(repo, `manifests/${ref}`, "GET", { Accept: accept });
    let bytes: Uint8Array;
    try {
      bytes = await readLimited(res, MAX_MANIFEST_BYTES, `the manifest of upstream ${this.upstream.name}`);
    } catch (e) {
      // Not the client's fault (a 413 would say so): the upstream's answer cannot be cached. A copy cached
      // before is served instead, as when the upstream fails.
      if (e instanceof OciError && e.status === 413) throw new UpstreamError(this.upstream.name, "unavailable", res.status, null, `sent a manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
      throw e;
    }
    return { bytes, mediaType: res.headers.get("Content-Type"), digest: res.headers.get("Docker-Content-Digest") };
  }

  /** Every tag of the repository upstream, following its pages (bounded). */
  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = [];
    let path = "tags/list?n=1000";
    for (let page = 0; page < MAX_TAG_PAGES; page++) {
      const res = await this.send(repo, path, "GET", { Accept: "application/json" });
      const doc = JSON.parse(new TextDecoder().decode(await readLimited(res, MAX_TAG_LIST_BYTES, `the tag list of upstream ${this.upstream.name}`))) as { tags?: unknown };
      if (Array.isArray(doc.tags)) for (const t of doc.tags) if (typeof t === "string") tags.push(t);
      // Link: </v2/<repo>/tags/list?n=…&last=…>; rel="next"
      const next = /<([^>]*\/tags\/list\?[^>]*)>\s*;\s*rel="?next"?/.exec(res.headers.get("Link") ?? "")?.[1];
      if (!next) return tags;
      path = `tags/list?${next.slice(next.indexOf("?") + 1)}`;
    }
    return tags;
  }

  /**
   * One page of the upstream's catalog (`/v2/_catalog`, at most `n` names after `last`), for periodic sync:
   * the names, and the `last` of the next page when the upstream's Link says there is one.
   */
  async catalogPage(last: string | null, n: number): Promise<{ repositories: string[]; next: string | null }> {
    const query = `n=${n}${last === null ? "" : `&last=${encodeURIComponent(last)}`}`;
    const res = await this.sendOver(`/v2/_catalog?${query}`, "GET", { Accept: "application/json" }, "registry:catalog:*");
    const doc = JSON.parse(new TextDecoder().decode(await readLimited(res, MAX_TAG_LIST_BYTES, `the catalog of upstream ${this.upstream.name}`))) as { repositories?: unknown };
    const repositories = Array.isArray(doc.repositories) ? doc.repositories.filter((r): r is string => typeof r === "string") : [];
    // Link: </v2/_catalog?n=…&last=…>; rel="next"
    const link = /<([^>]*\/_catalog\?[^>]*)>\s*;\s*rel="?next"?/.exec(res.headers.get("Link") ?? "")?.[1];
    const next = link === undefined ? null : new URLSearchParams(link.slice(link.indexOf("?") + 1)).get("last");
    return { repositories, next: next ?? (link !== undefined ? repositories.at(-1) ?? null : null) };
  }

  async headBlob(repo: string, digest: string): Promise<number | null> {
    const res = await this.send(repo, `blobs/${digest}`, "HEAD", {});
    await res.body?.cancel();
    return sizeOf(res);
  }

  async getBlob(repo: string, digest: string): Promise<UpstreamBlob> {
    const res = await this.send(repo, `blobs/${digest}`, "GET", {});
    if (!res.body) throw new UpstreamError(this.upstream.name, "unavailable", res.status);
    return { body: res.body, size: sizeOf(res) };
  }

  /**
   * The upstream's referrers of a digest, as listed (unchecked entries): its referrers API, or, when it has
   * none (a 404, as Distribution 2.8 answers), the index under the digest's referrers tag, which is what
   * clients push to such a registry; an empty list when neither exists.
   */
  async listReferrers(repo: string, digest: string): Promise<unknown[]> {
    const index = "application/vnd.oci.image.index.v1+json";
    let res: Response;
    try {
      res = await this.send(repo, `referrers/${digest}`, "GET", { Accept: index });
    } catch (e) {
      if (!(e instanceof UpstreamError) || e.kind !== "missing") throw e;
      try {
        res = await this.send(repo, `manifests/${referrersTag(digest)}`, "GET", { Accept: index });
      } catch (e2) {
        if (e2 instanceof UpstreamError && e2.kind === "missing") return [];
        throw e2;
      }
    }
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, `the referrers of upstream ${this.upstream.name}`);
    try {
      const doc = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: unknown };
      return Array.isArray(doc.manifests) ? doc.manifests : [];
    } catch {
      return []; // not an index: the spec's client procedure reads that as "no referrers"
    }
  }

  /** A request about one repository (`path` under `/v2/<repo>/`), with that repository's pull scope. */
  private send(repo: string, path: string, method: string, headers: Record<string, string>): Promise<Response> {
    return this.sendOver(`/v2/${repo}/${path}`, method, headers, `repository:${repo}:pull`);
  }

  /** One request, over the upstream's URLs in order, authenticated; resolves only with a 2xx answer. */
  private async sendOver(path: string, method: string, headers: Record<string, string>, scope: string): Promise<Response> {
    let failure: UpstreamError | null = null;
    for (const base of this.upstream.urls) {
      try {
        return await this.sendTo(base, path, method, headers, scope);
      } catch (e) {
        if (!(e instanceof UpstreamError)) throw e;
        failure = e;
        // Another URL may well have what this one has not answered; a 404 or a refusal is the upstream's word.
        if (e.kind === "missing" || e.kind === "refused") throw e;
      }
    }
    throw failure ?? new UpstreamError(this.upstream.name, "unavailable", null);
  }

  private async sendTo(base: string, path: string, method: string, headers: Record<string, string>, scope: string): Promise<Response> {
    const origin = new URL(base).origin;
    const known = this.auth.known(origin, scope);
    let res = await this.hop(`${base}${path}`, method, withAuth(headers, known));
    if (res.status === 401) {
      // A token the upstream no longer takes (revoked, its clock ahead of ours) is not offered again.
      if (known !== null) this.auth.forget(origin, scope);
      const answer = await this.auth.answer(origin, res.headers.get("WWW-Authenticate"), scope);
      await res.body?.cancel();
      if (answer !== null) res = await this.hop(`${base}${path}`, method, withAuth(headers, answer));
    }
    if (res.ok) return res;
    await res.body?.cancel();
    throw new UpstreamError(this.upstream.name, failureOf(res.status), res.status, res.headers.get("Retry-After"));
  }

  /** A request with its redirects followed by hand: Authorization goes to the first origin only. */
  private async hop(url: string, method: string, headers: Record<string, string>): Promise<Response> {
    let target = url;
    let sent = headers;
    for (let i = 0; ; i++) {
      let res: Response;
      const operation = operationOf(url);
      try {
        res = await this.fetch(target, { method, headers: sent, redirect: "manual" });
      } catch {
        countUpstreamRequest(this.upstream.name, operation, "unavailable");
        throw new UpstreamError(this.upstream.name, "unavailable", null);
      }
      // A 401 is the challenge before a token, not a failure; the answer to the retry is counted on its own.
      countUpstreamRequest(this.upstream.name, operation, res.status < 400 || res.status === 401 ? null : failureOf(res.status));
      const location = res.headers.get("Location");
      if (![301, 302, 303, 307, 308].includes(res.status) || location === null || i >= MAX_REDIRECTS) return res;
      await res.body?.cancel();
      const next = new URL(location, target);
      if (next.origin !== new URL(target).origin) {
        const { Authorization: _dropped, ...rest } = sent;
        sent = rest;
      }
      target = next.toString();
    }
  }
}

function failureOf(status: number): UpstreamFailure {
  return status === 404 ? "missing" : status === 429 ? "throttled" : status === 401 || status === 403 ? "refused" : "unavailable";
}

/** What a request to the registry asked for, from its path (a metrics label: a small fixed set). */
function operationOf(url: string): string {
  const path = new URL(url).pathname;
  if (path.endsWith("/_catalog")) return "catalog";
  const m = /^\/v2\/.+\/(manifests|blobs|tags|referrers)\//.exec(path);
  return m ? (m[1] === "manifests" ? "manifest" : m[1] === "blobs" ? "blob" : m[1]!) : "other";
}

function withAuth(headers: Record<string, string>, auth: string | null): Record<string, string> {
  return auth === null ? headers : { ...headers, Authorization: auth };
}

function sizeOf(res: Response): number | null {
  const n = Number(res.headers.get("Content-Length") ?? "");
  return res.headers.has("Content-Length") && Number.isSafeInteger(n) && n >= 0 ? n : null;
}
