// Reading an OCI image layout a test wrote (tools.ts makeOciLayout) or pulled into (skopeo copy to `oci:`), and
// pushing one into an upstream registry with skopeo: shared by the pull-through and sync tests.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { skopeo } from "../harness/tools.js";
import { OCI_INDEX } from "./manifests.js";

export type Desc = { mediaType: string; digest: string; size: number };

export const hexOf = (d: string): string => d.replace(/^sha256:/, "");
export const blobFile = (layout: string, d: string): string => path.join(layout, "blobs", "sha256", hexOf(d));

/** Every digest reachable from a descriptor in an OCI layout. */
export async function reachable(layout: string, d: Desc): Promise<Desc[]> {
  const out: Desc[] = [d];
  const doc = JSON.parse(await readFile(blobFile(layout, d.digest), "utf8")) as { manifests?: Desc[]; config?: Desc; layers?: Desc[] };
  if (d.mediaType === OCI_INDEX) for (const c of doc.manifests ?? []) out.push(...(await reachable(layout, c)));
  else out.push(doc.config!, ...(doc.layers ?? []));
  return out;
}

/** skopeo with an insecure policy, throwing with its stderr and `logs()` (Berth's) when it fails. */
export function skopeoOrThrow(logs: () => string | undefined, timeoutMs = 120_000) {
  return async (args: string[]): Promise<string> => {
    const r = await skopeo(["--insecure-policy", ...args], { timeoutMs });
    if (r.code !== 0) throw new Error(`skopeo ${args.join(" ")} exited with ${r.code}\n${r.stderr.slice(-3000)}\n--- berth\n${logs()?.slice(-3000)}`);
    return r.stdout + r.stderr;
  };
}

/** Copies `tag` of the layout `src()` to `repo` (name:tag) of the registry at `registry` (a URL), digests kept. */
export function copyToRegistry(sk: (args: string[]) => Promise<string>, creds: string, src: () => string, registry: () => string) {
  return (tag: string, repo: string, extra: string[] = []): Promise<string> =>
    sk(["copy", "--dest-tls-verify=false", "--preserve-digests", `--dest-creds=${creds}`, ...extra, `oci:${src()}:${tag}`, `docker://${new URL(registry()).host}/${repo}`]);
}
