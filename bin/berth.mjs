#!/usr/bin/env node
// Launcher of the `berth` command (package.json "bin"): runs bin/berth.ts, which is TypeScript, with Node's
// built-in type stripping. Node >= 22.18 strips types by default; 22.6-22.17 need --experimental-strip-types,
// so there this re-runs itself with the flag. No build step and no dependencies: the .ts files are the CLI.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("./berth.ts", import.meta.url));
const [major, minor] = process.versions.node.split(".").map(Number);

if (major < 22 || (major === 22 && minor < 6)) {
  process.stderr.write(`berth: needs Node.js >= 22.12 (type stripping); this is ${process.version}\n`);
  process.exit(1);
} else if (process.features.typescript) {
  await import(entry);
} else {
  const r = spawnSync(
    process.execPath,
    ["--experimental-strip-types", "--disable-warning=ExperimentalWarning", entry, ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  if (r.error) {
    process.stderr.write(`berth: cannot start ${process.execPath}: ${r.error.message}\n`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
