// A small per-isolate cache with a time limit and a size bound (oldest entries go first). Used only for facts
// that are safe to remember briefly: a blob's size under its digest never changes, and a repository's link to
// a blob changes only by an explicit delete, which invalidates this isolate's entry at once (another isolate
// may keep answering from its entry until the time limit, as Distribution's in-memory cache does per replica).

export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  get(key: string, now = Date.now()): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (now - e.at > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, now = Date.now()): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, at: now });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
