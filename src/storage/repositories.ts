// The list of repositories (catalog). As in Distribution (registry/storage/catalog.go), a repository is a
// directory under `repositories/` that holds `_layers/` — or, unlike Distribution, `_manifests/` (a repository
// whose blob links were all deleted still holds its manifests and tags, so it stays listed); names nest (`team/app`), so the walk descends into every directory not starting with "_".
// Listing a directory costs one request to the store per 1000 entries, run a few at a time.

import type { Layout } from "./layout";
import { compareLexical } from "./tags";
import type { StorageDriver } from "./driver";

const MAX_DIRECTORIES = 100_000;

export class RepositoryStore {
  constructor(
    private readonly store: StorageDriver,
    private readonly layout: Layout,
  ) {}

  async list(): Promise<string[]> {
    const root = this.layout.repositoriesRoot();
    const repos: string[] = [];
    let frontier = [root];
    let visited = 0;
    while (frontier.length > 0 && visited < MAX_DIRECTORIES) {
      const batch = frontier.splice(0, 6);
      visited += batch.length;
      const results = await Promise.all(batch.map((p) => this.subdirectories(p)));
      results.forEach((subdirs, i) => {
        const dir = batch[i] as string;
        let holds = false;
        for (const sub of subdirs) {
          const leaf = sub.slice(dir.length, -1);
          if (leaf === "_layers" || leaf === "_manifests") holds = true;
          else if (!leaf.startsWith("_")) frontier.push(sub);
        }
        if (holds) repos.push(dir.slice(root.length, -1));
      });
    }
    return repos.sort(compareLexical);
  }

  /**
   * Whether the repository holds anything of its own (its `_layers`, `_manifests`… directories; a nested
   * repository `name/x` does not make `name` one): one S3 request.
   */
  async exists(name: string): Promise<boolean> {
    const first = await this.store.walk(`${this.layout.repository(name)}_`, { pageSize: 1 }).next();
    return first.done !== true;
  }

  private async subdirectories(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const dir of this.store.directories(prefix)) out.push(dir);
    return out;
  }
}
