// The data center's cache (the Workers Cache API: one per Cloudflare data center, shared by every isolate
// there, not replicated elsewhere) as a second tier behind each isolate's memory, for what the stores may
// remember anyway: the bytes of a manifest under its digest (content-addressed: they never change) and the
// size of a blob's data (changed only by garbage collection, so kept no longer than an isolate keeps it: the
// collector's fence counts on that bound). A new isolate, of which a busy registry starts many, then finds
// them without asking the bucket. Nothing a delete changes is kept here (links, tags): a delete could not
// reach the copies other data centers hold. Entries are keyed by the bucket and root they came from, so two
// registries on one zone never share them. A failing cache is a miss, never an error.

/** What the stores ask of it; NO_EDGE_CACHE where there is none (unit tests, the Durable Objects). */
export interface EdgeCache {
  /** The entry under `key`, or null. */
  get(key: string): Promise<{ body: Uint8Array; meta: Record<string, string> } | null>;
  /** Keeps `body` and `meta` (short header-safe strings) under `key` for at most `maxAgeS` seconds. */
  put(key: string, body: Uint8Array, meta: Record<string, string>, maxAgeS: number): Promise<void>;
  /** A stream of the entry, or of the bytes `range` (inclusive) of it; null when absent or the range was not honoured. */
  open(key: string, range: { start: number; end: number } | null): Promise<ReadableStream<Uint8Array> | null>;
  /** Keeps a stream of `length` bytes under `key` (consumed as the cache takes it: memory stays bounded). */
  putStream(key: string, body: ReadableStream<Uint8Array>, length: number, maxAgeS: number): Promise<void>;
}

/** The key of a fact about content under its digest (`kind`: manifest, blob-size, blob). */
export function edgeKey(kind: "manifest" | "blob-size" | "blob", digest: { algorithm: string; hex: string }): string {
  return `${kind}/${digest.algorithm}/${digest.hex}`;
}

export const NO_EDGE_CACHE: EdgeCache = { get: async () => null, put: async () => {}, open: async () => null, putStream: async (_k, body) => void (await body.cancel()) };

/** The part of the Workers Cache API used here (declared so this module type-checks under Node's types too). */
interface CacheLike {
  match(req: string | Request): Promise<Response | undefined>;
  put(url: string, res: Response): Promise<void>;
}

/** Metadata travels as headers of the cached answer, under this prefix. */
const META = "x-berth-";

/** The Workers Cache API under `scope` (the bucket's identity); null when the runtime has none. */
export function workersEdgeCache(scope: string, name = "berth"): EdgeCache | null {
  const storage = (globalThis as { caches?: { open?(name: string): Promise<CacheLike> } }).caches;
  if (!storage || typeof storage.open !== "function") return null;
  const open = storage.open.bind(storage);
  let opened: Promise<CacheLike> | null = null;
  const cache = () => (opened ??= open(name));
  const url = (key: string) => `https://edge-cache.berth.invalid/${encodeURIComponent(scope)}/${key}`;
  return {
    async get(key) {
      try {
        const res = await (await cache()).match(url(key));
        if (!res) return null;
        const meta: Record<string, string> = {};
        res.headers.forEach((v: string, k: string) => {
          if (k.startsWith(META)) meta[k.slice(META.length)] = v;
        });
        return { body: new Uint8Array(await res.arrayBuffer()), meta };
      } catch {
        return null;
      }
    },
    async open(key, range) {
      try {
        const req = new Request(url(key), range ? { headers: { Range: `bytes=${range.start}-${range.end}` } } : {});
        const res = await (await cache()).match(req);
        if (!res) return null;
        // A range must come back as one (206); a whole answer to a range request is not sliced here.
        if ((range ? 206 : 200) !== res.status || !res.body) {
          await res.body?.cancel();
          return null;
        }
        return res.body;
      } catch {
        return null;
      }
    },
    async putStream(key, body, length, maxAgeS) {
      try {
        const headers = { "Cache-Control": `max-age=${Math.max(1, Math.floor(maxAgeS))}`, "Content-Length": String(length) };
        await (await cache()).put(url(key), new Response(body, { status: 200, headers }));
      } catch {
        await body.cancel().catch(() => {});
      }
    },
    async put(key, body, meta, maxAgeS) {
      try {
        const headers = new Headers({ "Cache-Control": `max-age=${Math.max(1, Math.floor(maxAgeS))}`, "Content-Length": String(body.byteLength) });
        for (const [k, v] of Object.entries(meta)) headers.set(`${META}${k}`, v);
        await (await cache()).put(url(key), new Response(body, { status: 200, headers }));
      } catch {
        // A full or unavailable cache costs the next isolate a request to the bucket, nothing more.
      }
    },
  };
}
