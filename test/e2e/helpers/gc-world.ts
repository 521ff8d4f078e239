// A test's own record of what registries wrote into one bucket (every blob, manifest, revision and tag, and
// which registry wrote each manifest), driving the writes itself, and the garbage that follows from it under
// each collector's definition: independent of both collectors, so that the e2e GC tests can check the two
// against a third opinion. Writers are addressed by base URL; blob pushes take two requests, which both
// Berth and Distribution 2.8 accept. Free of assertions: a write that fails throws.
import { blobOf, imageManifest, indexManifest, putManifestOk, type Blob, type Manifest } from "./manifests.js";
import { pushBlobInTwo, rand, req } from "./registry.js";

export interface Writer {
  name: string;
  url: string;
}

export interface Doc {
  manifest: Manifest;
  /** Config and layers. */
  blobs: string[];
  /** An index's child manifests. */
  children: string[];
  subject: string | null;
}

export interface Image {
  manifest: Manifest;
  config: Blob;
  layers: Blob[];
}

/**
 * Which manifests a collector keeps in a repository:
 * - "all": every revision (no delete-untagged; both collectors);
 * - "berth": with delete-untagged, as Berth: what a tag reaches, with the children of a kept index and the
 *   referrers (OCI 1.1 `subject`) of a kept manifest;
 * - "distribution-2.8": with --delete-untagged, as Distribution 2.8: only manifests a tag points at (it marks a
 *   kept index's children's bytes, but removes their revisions and does not mark what they reference).
 */
export type Keep = "all" | "berth" | "distribution-2.8";

export class World {
  /** Everything written under blobs/ (manifests too), by digest. */
  readonly blobs = new Map<string, Uint8Array>();
  readonly docs = new Map<string, Doc>();
  /** Repository -> manifest digests linked as revisions. */
  readonly revisions = new Map<string, Set<string>>();
  /** Repository -> tag -> digest. */
  readonly tags = new Map<string, Map<string, string>>();
  /** "repo@digest" -> the name of the writer that PUT it there. */
  readonly writers = new Map<string, string>();
  /** Date.now() after the last blob write. */
  lastWrite = 0;

  /** Uploads the blobs through `w`, all at once. */
  async upload(w: Writer, repo: string, ...blobs: Blob[]): Promise<void> {
    await Promise.all(
      blobs.map(async (b) => {
        await pushBlobInTwo(w.url, repo, b);
        this.blobs.set(b.digest, b.bytes);
        this.lastWrite = Date.now();
      }),
    );
  }

  /** Cross-repository mount through `w`; throws unless 201. */
  async mount(w: Writer, repo: string, digest: string, from: string): Promise<void> {
    const res = await req(w.url, `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`${w.name}: mount of ${digest} from ${from} into ${repo}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }

  /** PUTs a manifest under `ref` (a tag, or "@" for its own digest) and records it. */
  async put(w: Writer, repo: string, ref: string, manifest: Manifest, parts: Omit<Doc, "manifest">): Promise<void> {
    const byDigest = ref === "@";
    await putManifestOk(w.url, repo, byDigest ? manifest.digest : ref, manifest);
    this.blobs.set(manifest.digest, manifest.bytes);
    this.lastWrite = Date.now();
    this.docs.set(manifest.digest, { manifest, blobs: parts.blobs, children: parts.children, subject: parts.subject });
    this.writers.set(`${repo}@${manifest.digest}`, w.name);
    this.revisionsOf(repo).add(manifest.digest);
    if (!byDigest) this.tagsOf(repo).set(ref, manifest.digest);
  }

  /** A fresh config, the layers not in `present` uploaded through `w`, and the manifest PUT under `ref`. */
  async image(w: Writer, repo: string, ref: string, layers: Blob[], opts: { present?: Blob[]; subject?: Manifest } = {}): Promise<Image> {
    const config = blobOf(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, r: rand() }));
    await this.upload(w, repo, config, ...layers.filter((l) => !opts.present?.includes(l)));
    const manifest = imageManifest({ config, layers, subject: opts.subject });
    await this.put(w, repo, ref, manifest, { blobs: [config.digest, ...layers.map((l) => l.digest)], children: [], subject: opts.subject?.digest ?? null });
    return { manifest, config, layers };
  }

  /** An OCI index over child manifests already in the repository. */
  async index(w: Writer, repo: string, ref: string, children: Manifest[]): Promise<Manifest> {
    const manifest = indexManifest(children);
    await this.put(w, repo, ref, manifest, { blobs: [], children: children.map((c) => c.digest), subject: null });
    return manifest;
  }

  /** DELETE of a manifest by digest through `w` (its tags go with it, in both registries); throws unless 202. */
  async deleteManifest(w: Writer, repo: string, digest: string): Promise<void> {
    const res = await req(w.url, `/v2/${repo}/manifests/${digest}`, { method: "DELETE" });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`${w.name}: DELETE ${repo}@${digest}: HTTP ${res.status} ${text.slice(0, 300)}`);
    this.revisionsOf(repo).delete(digest);
    for (const [t, d] of this.tagsOf(repo)) if (d === digest) this.tagsOf(repo).delete(t);
  }

  /** The manifests kept, as repository -> digests. */
  kept(keep: Keep): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const [repo, revs] of this.revisions) {
      if (keep === "all") {
        out.set(repo, new Set(revs));
        continue;
      }
      const kept = new Set<string>();
      const queue = [...this.tagsOf(repo).values()];
      while (queue.length > 0) {
        const d = queue.pop()!;
        if (kept.has(d) || !revs.has(d)) continue;
        kept.add(d);
        if (keep === "distribution-2.8") continue;
        queue.push(...this.docs.get(d)!.children);
        for (const r of revs) if (this.docs.get(r)!.subject === d) queue.push(r);
      }
      out.set(repo, kept);
    }
    return out;
  }

  /** Manifests removed as untagged, "repo@digest", sorted. */
  removed(keep: Keep): string[] {
    const kept = this.kept(keep);
    return [...this.revisions].flatMap(([repo, revs]) => [...revs].filter((d) => !kept.get(repo)!.has(d)).map((d) => `${repo}@${d}`)).sort();
  }

  /** Digests of blobs/ that nothing kept references (a kept manifest's own bytes, config, layers, children), sorted. */
  garbage(keep: Keep): string[] {
    const marked = new Set<string>();
    for (const digests of this.kept(keep).values()) {
      for (const d of digests) {
        const doc = this.docs.get(d)!;
        for (const x of [d, ...doc.blobs, ...doc.children]) marked.add(x);
      }
    }
    return [...this.blobs.keys()].filter((d) => !marked.has(d)).sort();
  }

  /** Records that a collector removed what `keep` does not keep (revisions, their tags' index, the garbage). */
  collected(keep: Keep): void {
    for (const d of this.garbage(keep)) this.blobs.delete(d);
    for (const [repo, digests] of this.kept(keep)) this.revisions.set(repo, digests);
  }

  tagsOf(repo: string): Map<string, string> {
    if (!this.tags.has(repo)) this.tags.set(repo, new Map());
    return this.tags.get(repo)!;
  }

  private revisionsOf(repo: string): Set<string> {
    if (!this.revisions.has(repo)) this.revisions.set(repo, new Set());
    return this.revisions.get(repo)!;
  }
}
