// The upstream registries of the pull-through cache, as the registry's handlers see them: which upstream a
// repository name is routed to (and which local repository caches it), and one client per upstream, built
// once per isolate so its token cache is shared by every request the isolate serves.
//
// Routing, in order (the distribution-spec's "Registry Proxying", then prefixes, then the default):
//  1. `?ns=<host>` names an upstream's namespace: that upstream, for the name as given;
//  2. the name starts with an upstream's `<prefix>/`: that upstream, for the rest of the name;
//  3. the whole registry is one upstream's cache (REGISTRY_PROXY_REMOTEURL): that upstream;
//  4. a `default` upstream: for the name as given, but only if no local repository has that name (the caller
//     checks; `fallback` says so).
// Docker Hub's single-segment names gain `library/`. Whatever the route, the cache is the local repository
// `<prefix>/<upstream name>` (the upstream name as is when the whole registry is the cache), so `hub/alpine`,
// `library/alpine?ns=docker.io` and dockerd's mirror request for `library/alpine` share one cache.

import { compileGlob } from "../config/access";
import type { MirrorConfig, Upstream } from "../config/upstreams";
import { UpstreamClient, type Fetch } from "./client";
import { remoteName, trimSlashes } from "./sync-names";

export { UpstreamError, type UpstreamBlob, type UpstreamClient, type UpstreamManifest } from "./client";
export type { Fetch } from "./client";

export interface MirrorRoute {
  upstream: Upstream;
  /** The repository's name upstream. */
  remote: string;
  /** The local repository holding the cache. */
  cache: string;
  /** The `ns` that chose the upstream, answered back as OCI-Namespace; null otherwise. */
  namespace: string | null;
  /** Routed only because nothing else claims the name: a local repository of that name wins. */
  fallback: boolean;
}

export class Upstreams {
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly globs = new Map<string, (repo: string) => boolean>();

  constructor(
    readonly config: MirrorConfig,
    private readonly fetch: Fetch,
    /** The clock tags' ages are judged by (a test's clock in unit tests). */
    readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.config.upstreams.length > 0;
  }

  /** Whether pushes to `name` are refused: it is inside a mirror's prefix, or the whole registry is a cache. */
  isMirrored(name: string): boolean {
    return this.config.wholeRegistry || this.config.upstreams.some((u) => name.startsWith(`${u.prefix}/`));
  }

  /** Where a pull of `name` goes, or null when it is a local repository's. */
  route(name: string, ns: string | null): MirrorRoute | null {
    const { upstreams, wholeRegistry } = this.config;
    const byNs = ns === null ? undefined : upstreams.find((u) => u.namespaces.includes(ns.toLowerCase()));
    if (byNs) return this.routeTo(byNs, name, ns!.toLowerCase(), false);
    const byPrefix = upstreams.find((u) => u.prefix !== "" && name.startsWith(`${u.prefix}/`));
    if (byPrefix) return this.routeTo(byPrefix, name.slice(byPrefix.prefix.length + 1), null, false, true);
    if (wholeRegistry) return this.routeTo(upstreams[0]!, name, null, false);
    const byDefault = upstreams.find((u) => u.default);
    return byDefault ? this.routeTo(byDefault, name, null, true) : null;
  }

  client(upstream: Upstream): UpstreamClient {
    let c = this.clients.get(upstream.name);
    if (!c) this.clients.set(upstream.name, (c = new UpstreamClient(upstream, this.fetch, this.now)));
    return c;
  }

  /**
   * The upstream repository that a name inside the upstream's prefix caches: the name itself, unless a sync
   * `content` entry maps upstream names elsewhere (`destination`, `stripPrefix`: sync-names.ts): then it is
   * mapped back, so a pull of what sync copied asks the upstream for the repository it came from (zot's
   * getRepoSource). The first entry whose mapping fits, and whose prefix glob covers the result, decides.
   */
  private remoteOf(upstream: Upstream, name: string): string {
    for (const c of upstream.sync?.content ?? []) {
      const remote = remoteName(c, name, this.glob(c.prefix));
      if (remote !== null) return remote;
    }
    return name;
  }

  private glob(prefix: string): (repo: string) => boolean {
    let g = this.globs.get(prefix);
    if (!g) this.globs.set(prefix, (g = compileGlob(trimSlashes(prefix), "content prefix", "BERTH_UPSTREAMS")));
    return g;
  }

  private routeTo(upstream: Upstream, given: string, namespace: string | null, fallback: boolean, prefixed = false): MirrorRoute {
    const name = prefixed ? this.remoteOf(upstream, given) : given;
    const remote = upstream.dockerHub && !name.includes("/") ? `library/${name}` : name;
    // A remapped name keeps the local name it was synced under (`given`); any other is cached under its remote name.
    const local = prefixed && name !== given ? given : remote;
    return { upstream, remote, cache: upstream.prefix === "" ? local : `${upstream.prefix}/${local}`, namespace, fallback };
  }
}

/** No upstream: every name is local. */
export const NO_UPSTREAMS = new Upstreams({ upstreams: [], wholeRegistry: false, evictAfterMs: null }, () => Promise.reject(new Error("no upstreams")));
