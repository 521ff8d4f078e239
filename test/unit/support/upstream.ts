// A fake upstream registry for the pull-through cache's unit tests, as a Fetch function: the catalog (paged),
// manifests by tag and digest, blobs (optionally answered with a 307 to another origin, as Docker Hub's CDN), and the three ways a
// registry authenticates (none, Basic, Docker's token flow with a token endpoint on another origin). Every
// request is recorded; `down` makes it unreachable, `status` makes every registry answer one status.
import { createHash } from "node:crypto";
import type { Fetch } from "../../../src/upstream";

export const UPSTREAM = "https://upstream.test";
export const AUTH = "https://auth.test/token";
export const CDN = "https://cdn.test";

export interface Seen {
  url: string;
  method: string;
  authorization: string | null;
  accept: string | null;
}

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const enc = (s: string) => new TextEncoder().encode(s);

export class FakeUpstream {
  readonly manifests = new Map<string, { bytes: Uint8Array; mediaType: string }>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Uint8Array>();
  /** Bytes served instead of the real ones, by digest (an upstream lying about a blob). */
  readonly corrupt = new Map<string, Uint8Array>();
  readonly seen: Seen[] = [];
  auth: "none" | "basic" | "token" = "none";
  user = "puller";
  password = "s3cret-upstream";
  /** Tokens the token endpoint issued, and how long they last (s). */
  issued: string[] = [];
  tokenSeconds = 300;
  down = false;
  status: number | null = null;
  /** Blob GETs answer 307 to the CDN origin, which refuses requests carrying Authorization (as S3 does). */
  redirectBlobs = false;
  /** Whether it has the referrers API; without, a referrers GET is a 404 (as Distribution 2.8 answers). */
  referrersApi = true;

  /** Adds an image (config + one layer) under repo:tag; returns its digests. */
  image(repo: string, tag: string, layer: Uint8Array = enc(`layer of ${repo}:${tag} ${Math.random()}`)): { manifest: string; layer: string; config: string } {
    const config = enc(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const cfgD = this.blob(config);
    const layerD = this.blob(layer);
    const body = enc(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgD, size: config.byteLength },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerD, size: layer.byteLength }],
      }),
    );
    return { manifest: this.manifest(repo, tag, body, "application/vnd.oci.image.manifest.v1+json"), layer: layerD, config: cfgD };
  }

  manifest(repo: string, tag: string | null, bytes: Uint8Array, mediaType: string): string {
    const d = sha(bytes);
    this.manifests.set(`${repo}@${d}`, { bytes, mediaType });
    if (tag !== null) this.tags.set(`${repo}:${tag}`, d);
    return d;
  }

  blob(bytes: Uint8Array): string {
    const d = sha(bytes);
    this.blobs.set(d, bytes);
    return d;
  }

  /** Requests to the registry itself (not the token endpoint or the CDN), optionally of one method. */
  registryRequests(method?: string): Seen[] {
    return this.seen.filter((s) => s.url.startsWith(UPSTREAM) && (method === undefined || s.method === method));
  }

  readonly fetch: Fetch = async (url, init) => {
    const headers = new Headers(init.headers);
    const method = init.method ?? "GET";
    this.seen.push({ url, method, authorization: headers.get("Authorization"), accept: headers.get("Accept") });
    if (this.down) throw new TypeError("fetch failed");
    const u = new URL(url);
    if (url.startsWith(AUTH)) return this.token(u, headers);
    if (url.startsWith(CDN)) {
      if (headers.has("Authorization")) return new Response("only one auth mechanism allowed", { status: 400 });
      return this.bytes(this.blobs.get(u.pathname.slice(1)) ?? null, method);
    }
    if (this.status !== null) return new Response("busy", { status: this.status, headers: { "Retry-After": "7" } });
    const refused = this.challenge(headers.get("Authorization"), u);
    if (refused) return refused;
    if (u.pathname === "/v2/_catalog") return this.catalog(u);
    const list = /^\/v2\/(.+)\/tags\/list$/.exec(u.pathname);
    if (list) return this.tagList(list[1]!, u);
    const refs = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(u.pathname);
    if (refs) return this.referrers(refs[1]!, refs[2]!);
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(u.pathname);
    if (!m) return new Response(null, { status: 404 });
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === "blobs") {
      if (this.redirectBlobs && this.blobs.has(ref)) return new Response(null, { status: 307, headers: { Location: `${CDN}/${ref}` } });
      return this.bytes(this.corrupt.get(ref) ?? this.blobs.get(ref) ?? null, method, ref);
    }
    const digest = ref.startsWith("sha256:") ? ref : this.tags.get(`${repo}:${ref}`);
    const found = digest === undefined ? undefined : this.manifests.get(`${repo}@${digest}`);
    if (!found) return new Response(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "unknown" }] }), { status: 404 });
    return new Response(method === "HEAD" ? null : found.bytes, {
      status: 200,
      headers: { "Content-Type": found.mediaType, "Docker-Content-Digest": digest!, "Content-Length": String(found.bytes.byteLength) },
    });
  };

  /** tags/list with n/last pages (at most `pageSize` tags each) and a Link to the next, as Distribution does. */
  pageSize = 1000;
  private tagList(repo: string, u: URL): Response {
    const all = [...this.tags.keys()].filter((k) => k.startsWith(`${repo}:`)).map((k) => k.slice(repo.length + 1)).sort();
    if (all.length === 0) return new Response(JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "unknown" }] }), { status: 404 });
    const last = u.searchParams.get("last");
    const n = Math.min(Number(u.searchParams.get("n") ?? all.length), this.pageSize);
    const rest = last === null ? all : all.filter((t) => t > last);
    const page = rest.slice(0, n);
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (rest.length > n) headers.Link = `</v2/${repo}/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
    return new Response(JSON.stringify({ name: repo, tags: page }), { status: 200, headers });
  }

  /** The referrers API: every stored manifest of the repository whose subject is the digest. */
  private referrers(repo: string, subject: string): Response {
    if (!this.referrersApi) return new Response("404 page not found", { status: 404 });
    const manifests = [];
    for (const [key, m] of this.manifests) {
      if (!key.startsWith(`${repo}@`)) continue;
      const doc = JSON.parse(new TextDecoder().decode(m.bytes)) as { subject?: { digest: string }; artifactType?: string; annotations?: Record<string, string> };
      if (doc.subject?.digest !== subject) continue;
      manifests.push({ mediaType: m.mediaType, digest: key.slice(repo.length + 1), size: m.bytes.byteLength, ...(doc.artifactType ? { artifactType: doc.artifactType } : {}), ...(doc.annotations ? { annotations: doc.annotations } : {}) });
    }
    return Response.json({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }, { headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" } });
  }

  /** _catalog with n/last pages and a Link to the next, as Distribution does: every repository holding a tag. */
  catalogPageSize = 1000;
  private catalog(u: URL): Response {
    const all = [...new Set([...this.tags.keys()].map((k) => k.slice(0, k.lastIndexOf(":"))))].sort();
    const last = u.searchParams.get("last");
    const n = Math.min(Number(u.searchParams.get("n") ?? all.length), this.catalogPageSize);
    const rest = last === null ? all : all.filter((r) => r > last);
    const page = rest.slice(0, n);
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (rest.length > n) headers.Link = `</v2/_catalog?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`;
    return new Response(JSON.stringify({ repositories: page }), { status: 200, headers });
  }

  private bytes(b: Uint8Array | null, method: string, digest?: string): Response {
    if (!b) return new Response(null, { status: 404 });
    const headers: Record<string, string> = { "Content-Length": String(b.byteLength) };
    if (digest) headers["Docker-Content-Digest"] = digest;
    return new Response(method === "HEAD" ? null : b, { status: 200, headers });
  }

  private basic(): string {
    return `Basic ${Buffer.from(`${this.user}:${this.password}`).toString("base64")}`;
  }

  private challenge(authorization: string | null, u: URL): Response | null {
    if (this.auth === "none") return null;
    if (this.auth === "basic") {
      if (authorization === this.basic()) return null;
      return new Response(null, { status: 401, headers: { "WWW-Authenticate": 'Basic realm="upstream"' } });
    }
    const token = authorization?.replace(/^Bearer /, "");
    if (token && this.issued.includes(token)) return null;
    const repo = /^\/v2\/(.+)\/(?:manifests|blobs|tags|referrers)\//.exec(u.pathname)?.[1] ?? "";
    return new Response(null, {
      status: 401,
      headers: { "WWW-Authenticate": `Bearer realm="${AUTH}",service="upstream.test",scope="repository:${repo}:pull"` },
    });
  }

  private token(u: URL, headers: Headers): Response {
    if (u.searchParams.get("service") !== "upstream.test" || !u.searchParams.get("scope")) return new Response(null, { status: 400 });
    const auth = headers.get("Authorization");
    if (auth !== null && auth !== this.basic()) return new Response(null, { status: 401 });
    const token = `tok-${this.issued.length + 1}`;
    this.issued.push(token);
    return Response.json({ token, expires_in: this.tokenSeconds });
  }
}
