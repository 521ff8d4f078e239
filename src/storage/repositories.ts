// The list of repositories (catalog). As in Distribution (registry/storage/catalog.go), a repository is a
// directory under `repositories/` that holds `_layers/`, so both registries list the same names on a shared
// bucket; names nest (`team/app`), so the walk descends into every directory not starting with "_".
// Listing with a delimiter costs one S3 request per directory, run a few at a time.

import type { Layout } from "./layout";
import { compareLexical } from "./tags";
import type { S3Client } from "./s3/client";

const MAX_DIRECTORIES = 100_000;

export class RepositoryStore {
  constructor(
    private readonly s3: S3Client,
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
        for (const sub of subdirs) {
          const leaf = sub.slice(dir.length, -1);
          if (leaf === "_layers") repos.push(dir.slice(root.length, -1));
          else if (!leaf.startsWith("_")) frontier.push(sub);
        }
      });
    }
    return repos.sort(compareLexical);
  }

  /**
   * Whether the repository holds anything of its own (its `_layers`, `_manifests`… directories; a nested
   * repository `name/x` does not make `name` one): one S3 request.
   */
  async exists(name: string): Promise<boolean> {
    const r = await this.s3.list({ prefix: `${this.layout.repository(name)}_`, maxKeys: 1 });
    return r.keys.length > 0;
  }

  private async subdirectories(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const r = await this.s3.list({ prefix, delimiter: "/", continuationToken: token });
      out.push(...r.prefixes);
      token = r.nextToken;
      if (!token) break;
    }
    return out;
  }
}
