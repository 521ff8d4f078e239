// The collector's working memory for one run, in the coordinator's SQLite storage (a registry's mark set can
// hold millions of digests: far beyond one stored value). Every method is synchronous, so that a check and
// the change it guards happen with nothing in between even while vouches and the run's steps interleave.
// It holds: the marked digests (kept by the run), what each manifest read references, the repository being
// walked (its revisions, tags and tag index), manifests the run would remove as untagged, manifests vouched
// for during the run, the repositories' layer links, and what the sweep removed (or would remove).

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
];
const TABLES = ["gc_marked", "gc_refs", "gc_revision", "gc_tag", "gc_tag_index", "gc_vouched", "gc_doomed", "gc_layer_link", "gc_swept"];

/** gc_doomed.state */
const DOOMED = 0;
const RESCUED = 1;
const REMOVED = 2;

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

  addRevision(repo: string, digest: string): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_revision (repo, digest) VALUES (?, ?)", repo, digest);
  }

  addTag(repo: string, tag: string, digest: string | null): void {
    this.sql.exec("INSERT OR REPLACE INTO gc_tag (repo, tag, digest) VALUES (?, ?, ?)", repo, tag, digest);
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
    for (const t of ["gc_revision", "gc_tag", "gc_tag_index"]) this.sql.exec(`DELETE FROM ${t} WHERE repo = ?`, repo);
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
    const rows = after
      ? this.sql.exec(
          "SELECT * FROM gc_doomed WHERE state = ? AND (repo > ? OR (repo = ? AND digest > ?)) ORDER BY repo, digest LIMIT ?",
          DOOMED,
          after.repo,
          after.repo,
          after.digest,
          limit,
        )
      : this.sql.exec("SELECT * FROM gc_doomed WHERE state = ? ORDER BY repo, digest LIMIT ?", DOOMED, limit);
    return rows.toArray().map((r) => ({
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
