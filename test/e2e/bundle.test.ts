// The Worker bundle as `wrangler deploy` would upload it, built offline with --dry-run: it must build, export the
// UploadSession Durable Object class next to the default handler, import nothing from Node's built-ins (Berth
// runs without the nodejs_compat flag), and stay small.
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, run, type RunResult } from "./harness/tools.js";

const MAX_BUNDLE_BYTES = 1024 * 1024;

let out: string;
let result: RunResult;
let code: string;

beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), "berth-bundle-"));
  // process.execPath + wrangler.js: Node 22 whatever PATH says; no network is needed for a dry run.
  result = await run(
    process.execPath,
    [path.join(PROJECT_ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", out],
    {
      cwd: PROJECT_ROOT,
      timeoutMs: 60_000,
      env: { WRANGLER_SEND_METRICS: "false", CI: "true", CLOUDFLARE_API_TOKEN: undefined, CLOUDFLARE_ACCOUNT_ID: undefined },
    },
  );
  code = await readFile(path.join(out, "index.js"), "utf8").catch(() => "");
});

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

/** Module specifiers of every static import / re-export and dynamic import() in the bundle. */
function importedModules(js: string): string[] {
  const specs = new Set<string>();
  for (const re of [
    /^\s*import\s+(?:[\w*{}\s,$]+\s+from\s+)?["']([^"']+)["']/gm,
    /^\s*export\s+(?:\*|\{[^}]*\})\s+from\s+["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  ]) {
    for (const m of js.matchAll(re)) specs.add(m[1] as string);
  }
  return [...specs].sort();
}

describe("wrangler deploy --dry-run", () => {
  it("exits 0 and writes the bundled worker", async () => {
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(await readdir(out)).toContain("index.js");
    expect(code.length).toBeGreaterThan(1000);
    // The dry run reports the Durable Object binding it would deploy.
    expect(result.stdout).toMatch(/UPLOAD_SESSIONS/);
  });

  it("exports the UploadSession class and the default fetch handler", () => {
    const exportBlocks = [...code.matchAll(/^export\s*\{([^}]*)\}\s*;?\s*$/gm)].map((m) => m[1] as string);
    expect(exportBlocks.length, "an export { … } block").toBeGreaterThan(0);
    const names = exportBlocks
      .join(",")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => s.split(/\s+as\s+/).pop() as string);
    expect(names).toContain("UploadSession");
    expect(names).toContain("default");
    // It is a Durable Object class defined in the bundle (esbuild writes `var X = class extends …`).
    const local = exportBlocks.join(",").match(/(\w+)\s+as\s+UploadSession\b/)?.[1] ?? "UploadSession";
    expect(code).toMatch(new RegExp(`(\\bclass\\s+${local}|\\b${local}\\s*=\\s*class)\\s+extends\\s+DurableObject\\b`));
  });

  it("imports no node: built-ins (only cloudflare: modules, if any)", () => {
    expect(code).not.toMatch(/["']node:[\w/]+["']/);
    const modules = importedModules(code);
    // DurableObject comes from cloudflare:workers: proves the import scan sees the bundle's imports at all.
    expect(modules).toContain("cloudflare:workers");
    expect(modules.filter((s) => !s.startsWith("cloudflare:"))).toEqual([]);
  });

  it("is under 1 MB", async () => {
    const size = (await stat(path.join(out, "index.js"))).size;
    expect(size).toBeLessThan(MAX_BUNDLE_BYTES);
  });
});
