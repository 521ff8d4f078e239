// Vitest configuration: fast unit tests, and end-to-end tests that drive `wrangler dev` against a real
// S3 server (OpenStack Swift, started once per run by the e2e global setup). Both run in plain Node:
// the e2e tests talk to the Worker over HTTP like a registry client would.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // A glob that matches nothing (a moved directory, a typo in a file filter) fails the run instead of passing
    // silently with zero tests.
    passWithNoTests: false,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          // vitest's default in run mode is one worker less than the cores: 1 on a 2-core machine, which runs
          // the unit files one after another. They are CPU-bound and independent: use both cores.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/e2e/harness/global-setup.ts"],
          // Each e2e file may start its own wrangler dev (~1.5 s) and push real images through Swift.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // forks: each file gets a real process, so a crashed wrangler child can't take others down.
          pool: "forks",
          // 2 cores: Swift (4 processes) + workerd per file; more parallel files only add contention.
          maxWorkers: 2,
        },
      },
    ],
  },
});
