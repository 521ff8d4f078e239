// The collector's working memory for one run, in the coordinator's SQLite storage (a registry's mark set can
// hold millions of digests: far beyond one stored value). Every method is synchronous, so that a check and
// the change it guards happen with nothing in between even while vouches and the run's steps interleave.
// It holds: the marked digests (kept by the run), what each manifest read references, the repository being
// walked (its revisions, tags and tag index, with push and pull times for retention), the tags retention
// removes, manifests the run would remove as untagged, manifests vouched for during the run, the
// repositories' layer links, and what the sweep removed (or would remove).
// Tables are only ever added, never altered: a coordinator may hold an older schema's tables mid-run.

import type { ManifestReferences } from "../../oci/references";

export type SqlValue = string | number | null;

/** The part of Durable Objects' SqlStorage the ledger uses (and unit tests provide over node:sqlite). */
export interface Sql {
  exec(query: string, ...bindings: SqlValue[]): { toArray(): Record<string, SqlValue>[] };
}

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS gc_marked (digest TEXT PRIMARY KEY) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_refs (digest TEXT PRIMARY KEY, refs TEXT) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_revision (repo TEXT, digest TEXT, PRIMARY KEY (repo, digest)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_tag (repo TEXT, tag TEXT, digest TEXT, PRIMARY KEY (repo, tag)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_tag_index (repo TEXT, digest TEXT, tag TEXT, PRIMARY KEY (repo, digest, tag)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_vouched (repo TEXT, digest TEXT, PRIMARY KEY (repo, digest)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_doomed (repo TEXT, digest TEXT, subject TEXT, index_tags TEXT, state INTEGER, PRIMARY KEY (repo, digest)) WITHOUT ROWID",
  "CREATE INDEX IF NOT EXISTS gc_doomed_subject ON gc_doomed (repo, subject)",
  "CREATE TABLE IF NOT EXISTS gc_layer_link (digest TEXT, repo TEXT, PRIMARY KEY (digest, repo)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_swept (digest TEXT PRIMARY KEY, size INTEGER) WITHOUT ROWID",
  // Retention's facts (push times from the links' Last-Modified, pull times from Berth's pull records; ms, 0 =
  // unknown) and its decisions.
  "CREATE TABLE IF NOT EXISTS gc_tag_pushed (repo TEXT, tag TEXT, at INTEGER, PRIMARY KEY (repo, tag)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_revision_pushed (repo TEXT, digest TEXT, at INTEGER, PRIMARY KEY (repo, digest)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_pull (repo TEXT, digest TEXT, at INTEGER, PRIMARY KEY (repo, digest)) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS gc_untag (repo TEXT, tag TEXT, digest TEXT, reason TEXT, state INTEGER, PRIMARY KEY (repo, tag)) WITHOUT ROWID",
  "CREATE INDEX IF NOT EXISTS gc_untag_digest ON gc_untag (repo, digest)",
];
const TABLES = [
  "gc_marked",
  "gc_refs",
  "gc_revision",
  "gc_tag",
  "gc_tag_index",
  "gc_vouched",
  "gc_doomed",
  "gc_layer_link",
  "gc_swept",
  "gc_tag_pushed",
  "gc_revision_pushed",
  "gc_pull",
  "gc_untag",
];
/** The walked repository's working rows, dropped once its outcome is recorded. */
const WORKING = ["gc_revision", "gc_tag", "gc_tag_index", "gc_tag_pushed", "gc_revision_pushed", "gc_pull"];

/** gc_doomed.state and gc_untag.state */
const DOOMED = 0;
const RESCUED = 1;
const REMOVED = 2;

/** A tag as retention sees it (times in ms; null = unknown). */
export interface TagFacts {
  tag: string;
  digest: string;
  pushedAt: number | null;
  pulledAt: number | null;
}

/** A tag retention decided to remove. */
export interface Untag {
  repo: string;
  tag: string;
  digest: string;
  reason: string;
}

export interface DoomedManifest {
  repo: string;
  digest: string;
  subject: string | null;
  /** Tags whose index names the manifest (their index entries go with it). */
  indexTags: string[];
}

/** Bound parameters per statement: Durable Objects' SQLite allows at most 100. */
const MAX_BINDINGS = 100;

export class GcLedger {
  constructor(private readonly sql: Sql) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /** Forgets everything: a new run starts from nothing. */
  reset(): void {
    for (const t of TABLES) this.sql.exec(`DELETE FROM ${t}`);
  }

  mark(digests: readonly string[]): void {
    this.insert("gc_marked", ["digest"], digests.map((d) => [d]));
  }

  isMarked(digest: string): boolean {
    return this.sql.exec("SELECT 1 FROM gc_marked WHERE digest = ?", digest).toArray().length > 0;
  }

  countMarked(): number {
    return Number(this.sql.exec("SELECT count(*) AS n FROM gc_marked").toArray()[0]!.n);
  }

  /** What a manifest read earlier in the run references: undefined when not read yet, null when its bytes are missing. */
  refsOf(digest: string): ManifestReferences | null | undefined {
    const row = this.sql.exec("SELECT refs FROM gc_refs WHERE digest = ?", digest).toArray()[0];
    if (!row) return undefined;
    return row.refs === null ? null : (JSON.parse(String(row.refs)) as ManifestReferences);
  }

  saveRefs(digest: string, refs: ManifestReferences | null): void {
    this.sql.exec("INSERT OR REPLACE INTO gc_refs (digest, refs) VALUES (?, ?)", digest, refs === null ? null : JSON.stringify(refs));
  }

  // --- the repository being walked ---------------------------------------------------------------------

  addRevision(repo: string, digest: string, pushedAt = 0): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_revision (repo, digest) VALUES (?, ?)", repo, digest);
    this.sql.exec("INSERT OR REPLACE INTO gc_revision_pushed (repo, digest, at) VALUES (?, ?, ?)", repo, digest, pushedAt);
  }

  addTag(repo: string, tag: string, digest: string | null, pushedAt = 0): void {
    this.sql.exec("INSERT OR REPLACE INTO gc_tag (repo, tag, digest) VALUES (?, ?, ?)", repo, tag, digest);
    this.sql.exec("INSERT OR REPLACE INTO gc_tag_pushed (repo, tag, at) VALUES (?, ?, ?)", repo, tag, pushedAt);
  }

  /** When a manifest of the repository was last pulled (Berth's pull record). */
  addPull(repo: string, digest: string, at: number): void {
    this.sql.exec("INSERT OR REPLACE INTO gc_pull (repo, digest, at) VALUES (?, ?, ?)", repo, digest, at);
  }

  /** The walked repository's readable tags with their push and pull times. */
  tagFactsOf(repo: string): TagFacts[] {
    const rows = this.sql
      .exec(
        "SELECT t.tag, t.digest, p.at AS pushed, l.at AS pulled FROM gc_tag t LEFT JOIN gc_tag_pushed p ON p.repo = t.repo AND p.tag = t.tag LEFT JOIN gc_pull l ON l.repo = t.repo AND l.digest = t.digest WHERE t.repo = ? AND t.digest IS NOT NULL ORDER BY t.tag",
        repo,
      )
      .toArray();
    const time = (v: SqlValue | undefined) => (typeof v === "number" && v > 0 ? v : null);
    return rows.map((r) => ({ tag: String(r.tag), digest: String(r.digest), pushedAt: time(r.pushed), pulledAt: time(r.pulled) }));
  }

  /** When each of the walked repository's revision links was written (0 = unknown). */
  revisionTimesOf(repo: string): Map<string, number> {
    const rows = this.sql.exec("SELECT digest, at FROM gc_revision_pushed WHERE repo = ?", repo).toArray();
    return new Map(rows.map((r) => [String(r.digest), Number(r.at ?? 0)]));
  }

  /** The tag no longer keeps anything in this run (retention removes it). */
  dropTag(repo: string, tag: string): void {
    this.sql.exec("DELETE FROM gc_tag WHERE repo = ? AND tag = ?", repo, tag);
  }

  addTagIndex(repo: string, tag: string, digest: string): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_tag_index (repo, digest, tag) VALUES (?, ?, ?)", repo, digest, tag);
  }

  revisionsOf(repo: string): string[] {
    return this.column("SELECT digest FROM gc_revision WHERE repo = ? ORDER BY digest", repo);
  }

  /** The digests the repository's tags point at (tags whose link was unreadable count as pointing nowhere). */
  taggedOf(repo: string): string[] {
    return this.column("SELECT DISTINCT digest FROM gc_tag WHERE repo = ? AND digest IS NOT NULL", repo);
  }

  /** Drops the walked repository's working rows once its outcome is recorded. */
  forgetRepository(repo: string): void {
    for (const t of WORKING) this.sql.exec(`DELETE FROM ${t} WHERE repo = ?`, repo);
  }

  addLayerLink(repo: string, digest: string): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_layer_link (digest, repo) VALUES (?, ?)", digest, repo);
  }

  // --- vouches and untagged manifests ------------------------------------------------------------------

  /** A manifest used in `repo` during the run: never removed as untagged by it. */
  vouchManifest(repo: string, digest: string): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_vouched (repo, digest) VALUES (?, ?)", repo, digest);
  }

  vouchedOf(repo: string): string[] {
    return this.column("SELECT digest FROM gc_vouched WHERE repo = ?", repo);
  }

  // --- retention's tag removals ---------------------------------------------------------------------------

  /** Records a tag to remove; one already recorded (a mark step run again after a crash) keeps its state. */
  addUntag(u: Untag): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_untag (repo, tag, digest, reason, state) VALUES (?, ?, ?, ?, ?)", u.repo, u.tag, u.digest, u.reason, DOOMED);
  }

  /** Whether the tag is still to be removed (neither kept since, by a vouch for its manifest, nor removed). */
  isUntagPending(repo: string, tag: string): boolean {
    return this.sql.exec("SELECT 1 FROM gc_untag WHERE repo = ? AND tag = ? AND state = ?", repo, tag, DOOMED).toArray().length > 0;
  }

  /** A manifest used during the run keeps the tags that point at it. */
  keepTagsOf(repo: string, digest: string): void {
    this.sql.exec("UPDATE gc_untag SET state = ? WHERE repo = ? AND digest = ? AND state = ?", RESCUED, repo, digest, DOOMED);
  }

  setUntagDone(repo: string, tag: string, removed: boolean): void {
    this.sql.exec("UPDATE gc_untag SET state = ? WHERE repo = ? AND tag = ?", removed ? REMOVED : RESCUED, repo, tag);
  }

  /** Tags still to remove, in key order after (repo, tag). */
  untagsAfter(after: { repo: string; tag: string } | null, limit: number): Untag[] {
    return this.pendingAfter("gc_untag", "tag", after && [after.repo, after.tag], limit).map((r) => ({ repo: String(r.repo), tag: String(r.tag), digest: String(r.digest), reason: String(r.reason) }));
  }

  /** Records a manifest to remove; one already recorded (a mark step run again after a crash) keeps its state. */
  addDoomed(repo: string, digest: string, subject: string | null): void {
    const tags = this.column("SELECT tag FROM gc_tag_index WHERE repo = ? AND digest = ? ORDER BY tag", repo, digest);
    this.sql.exec(
      "INSERT OR IGNORE INTO gc_doomed (repo, digest, subject, index_tags, state) VALUES (?, ?, ?, ?, ?)",
      repo,
      digest,
      subject,
      JSON.stringify(tags),
      DOOMED,
    );
  }

  /** Whether the manifest is still to be removed (doomed, neither rescued nor removed yet). */
  isDoomed(repo: string, digest: string): boolean {
    return this.sql.exec("SELECT 1 FROM gc_doomed WHERE repo = ? AND digest = ? AND state = ?", repo, digest, DOOMED).toArray().length > 0;
  }

  /**
   * Keeps a doomed manifest after all (it was vouched for): it, what it references, its doomed children and
   * its doomed referrers are marked and no longer removed. Returns how many manifests were rescued.
   */
  rescue(repo: string, digest: string): number {
    const stack = [digest];
    let n = 0;
    while (stack.length > 0) {
      const d = stack.pop()!;
      if (!this.isDoomed(repo, d)) continue;
      this.sql.exec("UPDATE gc_doomed SET state = ? WHERE repo = ? AND digest = ?", RESCUED, repo, d);
      n++;
      const refs = this.refsOf(d);
      this.mark([d, ...(refs?.blobs ?? []), ...(refs?.children ?? [])]);
      stack.push(...(refs?.children ?? []));
      stack.push(...this.column("SELECT digest FROM gc_doomed WHERE repo = ? AND subject = ? AND state = ?", repo, d, DOOMED));
    }
    return n;
  }

  /** Doomed manifests still to remove, in key order after (repo, digest). */
  doomedAfter(after: { repo: string; digest: string } | null, limit: number): DoomedManifest[] {
    return this.pendingAfter("gc_doomed", "digest", after && [after.repo, after.digest], limit).map((r) => ({
      repo: String(r.repo),
      digest: String(r.digest),
      subject: r.subject === null ? null : String(r.subject),
      indexTags: JSON.parse(String(r.index_tags)) as string[],
    }));
  }

  setRemoved(repo: string, digest: string): void {
    this.sql.exec("UPDATE gc_doomed SET state = ? WHERE repo = ? AND digest = ?", REMOVED, repo, digest);
  }

  // --- the sweep -----------------------------------------------------------------------------------------

  addSwept(digest: string, size: number): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_swept (digest, size) VALUES (?, ?)", digest, size);
  }

  /** Layer links of swept blobs, in (digest, repo) order after `after`. */
  sweptLinksAfter(after: { digest: string; repo: string } | null, limit: number): { digest: string; repo: string }[] {
    const rows = after
      ? this.sql.exec(
          "SELECT l.digest, l.repo FROM gc_layer_link l JOIN gc_swept s ON s.digest = l.digest WHERE (l.digest > ? OR (l.digest = ? AND l.repo > ?)) ORDER BY l.digest, l.repo LIMIT ?",
          after.digest,
          after.digest,
          after.repo,
          limit,
        )
      : this.sql.exec("SELECT l.digest, l.repo FROM gc_layer_link l JOIN gc_swept s ON s.digest = l.digest ORDER BY l.digest, l.repo LIMIT ?", limit);
    return rows.toArray().map((r) => ({ digest: String(r.digest), repo: String(r.repo) }));
  }

  /** Rows of gc_doomed or gc_untag still to do, in (repo, second) order after `after`. */
  private pendingAfter(table: "gc_doomed" | "gc_untag", second: "digest" | "tag", after: [string, string] | null, limit: number): Record<string, SqlValue>[] {
    const from = after ? `AND (repo > ? OR (repo = ? AND ${second} > ?))` : "";
    const bindings = after ? [after[0], after[0], after[1]] : [];
    return this.sql.exec(`SELECT * FROM ${table} WHERE state = ? ${from} ORDER BY repo, ${second} LIMIT ?`, DOOMED, ...bindings, limit).toArray();
  }

  private column(query: string, ...bindings: SqlValue[]): string[] {
    return this.sql.exec(query, ...bindings).toArray().map((r) => String(Object.values(r)[0]));
  }

  private insert(table: string, columns: string[], rows: SqlValue[][]): void {
    const per = Math.floor(MAX_BINDINGS / columns.length);
    for (let i = 0; i < rows.length; i += per) {
      const chunk = rows.slice(i, i + per);
      const placeholders = chunk.map(() => `(${columns.map(() => "?").join(", ")})`).join(", ");
      this.sql.exec(`INSERT OR IGNORE INTO ${table} (${columns.join(", ")}) VALUES ${placeholders}`, ...chunk.flat());
    }
  }
}
