// The shape of src/, checked on every run: requests flow one way (http → registry → uploads/metadata/jobs → storage →
// storage/driver), with config/, streams/, metrics/, oci/ and log/ at the bottom; no module imports one above it or a
// sibling folder at its own level, and no file imports itself round a cycle (type-only imports count too:
// they tie modules together just the same). Reads the import lines of every .ts file under src/.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

/** Higher may import lower. Folders not listed are a mistake: the test says so. */
const LAYER: Record<string, number> = {
  log: -1, // the operator's log: every layer may write to it
  oci: 0,
  streams: 1,
  config: 1,
  metrics: 1, // counting, flushing and the metrics object: the storage driver counts its requests

  "storage/driver": 2,
  upstream: 2,
  storage: 3,
  uploads: 4,
  metadata: 4,
  jobs: 4,
  events: 4,
  registry: 5,
  http: 6,
  "": 7, // src/index.ts, the Worker entry
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** The layer folder of a file: the longest LAYER key that is a prefix of its directory. */
function folderOf(file: string): string {
  const dir = path.relative(SRC, path.dirname(file)).split(path.sep).join("/");
  const keys = Object.keys(LAYER).filter((k) => k !== "" && (dir === k || dir.startsWith(`${k}/`)));
  return keys.sort((a, b) => b.length - a.length)[0] ?? (dir === "" ? "" : `?${dir}`);
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) {
    const target = path.resolve(path.dirname(file), m[1]!);
    const candidates = [`${target}.ts`, path.join(target, "index.ts"), target];
    const hit = candidates.find((c) => {
      try {
        return statSync(c).isFile();
      } catch {
        return false;
      }
    });
    if (!hit) throw new Error(`${path.relative(SRC, file)} imports ${m[1]}, which does not exist`);
    out.push(hit);
  }
  return out;
}

const all = files(SRC);
const graph = new Map(all.map((f) => [f, importsOf(f)]));
const rel = (f: string) => path.relative(SRC, f);

describe("src/ architecture", () => {
  it("every file lives in a known layer", () => {
    expect(all.map(folderOf).filter((f) => !(f in LAYER))).toEqual([]);
  });

  it("imports go down the layers only (or stay in the same folder)", () => {
    const wrong: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        const a = folderOf(from);
        const b = folderOf(to);
        if (a !== b && !(LAYER[b]! < LAYER[a]!)) wrong.push(`${rel(from)} (${a || "entry"}) → ${rel(to)} (${b})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("has no import cycle", () => {
    const state = new Map<string, "open" | "done">();
    const cycles: string[] = [];
    const visit = (f: string, trail: string[]): void => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") {
        cycles.push([...trail.slice(trail.indexOf(f)), f].map(rel).join(" → "));
        return;
      }
      state.set(f, "open");
      for (const t of graph.get(f) ?? []) visit(t, [...trail, f]);
      state.set(f, "done");
    };
    for (const f of all) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
