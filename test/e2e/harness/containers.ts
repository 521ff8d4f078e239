// Running a container with podman on whatever cgroup layout the machine has. The tests run images to prove a
// pull gave a working image, not to test cgroups, but the OCI runtime needs a layout it supports:
// - cgroup v2 only ("unified", /sys/fs/cgroup is cgroup2): crun and runc work; in a container without a
//   delegated cgroup, creating one fails, and crun can run without one (`--cgroups=disabled`);
// - cgroup v1 only ("legacy"): crun and runc work;
// - both ("hybrid": v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified): crun 1.8 refuses to run at all
//   when that cgroup2 has controllers ("cgroups in hybrid mode not supported, drop all controllers from
//   cgroupv2"), even with --cgroups=disabled; runc uses the v1 controllers and works;
// - no cgroup filesystem: crun checks /sys/fs/cgroup even with --cgroups=disabled.
// Where the runtime cannot cope with the machine's view, podman runs in a private mount namespace (unshare -m)
// whose view it can cope with: the hybrid's cgroup2 unmounted (a v1-only view), or a cgroup2 mounted where there
// was none. Only that namespace sees the change; the machine's mounts stay as they are.
// podmanRun() tries the ways to run that fit the detected layout, best first, and moves to the next only when
// the OCI runtime (not the image) failed; the container must really run, and its output is returned.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { run, type RunResult } from "../../../scripts/lib/stack.mjs";

export type CgroupMode = "unified" | "hybrid" | "legacy" | "none";

export interface CgroupLayout {
  mode: CgroupMode;
  /** Where the cgroup2 hierarchy is mounted, if it is. */
  v2Mount: string | undefined;
  /** Controllers enabled in that cgroup2 hierarchy (hybrid with controllers: crun refuses). */
  v2Controllers: string[];
  /** v1 hierarchies mounted (their controller names). */
  v1: string[];
  /** One line for messages, e.g. "hybrid (cgroup v1: cpu,memory,…; cgroup2 at /sys/fs/cgroup/unified with hugetlb)". */
  summary: string;
}

/** The machine's cgroup layout as this process sees it (/proc/self/mountinfo and the cgroup2 root). */
export function cgroupLayout(): CgroupLayout {
  let info = "";
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    // not Linux, or no /proc: treated as no cgroup filesystem
  }
  let v2Mount: string | undefined;
  const v1: string[] = [];
  for (const line of info.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const mountPoint = (line.slice(0, sep).split(" ")[4] ?? "").replace(/\\040/g, " ");
    const [fstype, , superOpts = ""] = line.slice(sep + 3).split(" ");
    if (fstype === "cgroup2") v2Mount ??= mountPoint;
    else if (fstype === "cgroup") {
      const names = superOpts.split(",").filter((o) => !["rw", "ro"].includes(o) && !o.startsWith("release_agent"));
      v1.push(names.join("+") || path.basename(mountPoint));
    }
  }
  let v2Controllers: string[] = [];
  if (v2Mount) {
    try {
      v2Controllers = readFileSync(path.join(v2Mount, "cgroup.controllers"), "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {
      // unreadable: assume none
    }
  }
  const mode: CgroupMode =
    v2Mount === "/sys/fs/cgroup" ? "unified" : v1.length > 0 ? (v2Mount ? "hybrid" : "legacy") : v2Mount ? "unified" : "none";
  const parts: string[] = [];
  if (v1.length) parts.push(`cgroup v1: ${v1.join(",")}`);
  if (v2Mount) parts.push(`cgroup2 at ${v2Mount} with ${v2Controllers.length ? v2Controllers.join(",") : "no controllers"}`);
  return { mode, v2Mount, v2Controllers, v1, summary: `${mode} (${parts.join("; ") || "no cgroup filesystem"})` };
}

/** The first executable `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const p = path.join(dir || ".", name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export interface RunWay {
  /** e.g. "crun, --cgroups=disabled". */
  name: string;
  /** podman global flags (before the subcommand), e.g. --runtime. */
  global: string[];
  /** `podman run` flags. */
  run: string[];
  /** Shell commands run first in a private mount namespace, e.g. `umount /sys/fs/cgroup/unified`. */
  namespaceSetup?: string;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The ways to run a container with podman on `layout`, best first (only those whose runtime is installed). */
export function podmanRunWays(layout: CgroupLayout = cgroupLayout()): RunWay[] {
  const crun = which("crun");
  const runc = which("runc");
  // podman's default runtime is crun when it is installed, else runc.
  const byDefault: RunWay = { name: `default runtime (${crun ? "crun" : "runc"}), cgroups`, global: [], run: [] };
  const noCgroups: RunWay | undefined = crun ? { name: "crun, --cgroups=disabled", global: ["--runtime", crun], run: ["--cgroups=disabled"] } : undefined;
  const withRunc: RunWay | undefined = runc ? { name: "runc, cgroups", global: ["--runtime", runc], run: [] } : undefined;
  const unshare = which("unshare");
  // A v1-only view of a hybrid machine: crun works there with cgroups (v1 controllers).
  const legacyView: RunWay | undefined =
    unshare && layout.v2Mount && crun
      ? { name: `crun, cgroups, in a mount namespace without the cgroup2 at ${layout.v2Mount}`, global: ["--runtime", crun], run: [], namespaceSetup: `umount ${shq(layout.v2Mount)}` }
      : undefined;
  // A cgroup2 where the machine mounts none: crun then runs without cgroups.
  const cgroup2View: RunWay | undefined =
    unshare && crun
      ? { name: "crun, --cgroups=disabled, in a mount namespace with a cgroup2 at /sys/fs/cgroup", global: ["--runtime", crun], run: ["--cgroups=disabled"], namespaceSetup: "mount -t cgroup2 none /sys/fs/cgroup" }
      : undefined;
  let order: (RunWay | undefined)[];
  switch (layout.mode) {
    case "hybrid":
      // With controllers in the cgroup2, crun refuses every container: runc, or crun where that cgroup2 is not seen.
      order = layout.v2Controllers.length > 0 ? [withRunc, legacyView, byDefault] : [byDefault, withRunc, noCgroups];
      break;
    case "legacy":
      order = [byDefault, withRunc, noCgroups];
      break;
    case "unified":
      order = [byDefault, noCgroups, withRunc];
      break;
    case "none":
      order = [noCgroups, cgroup2View, byDefault, withRunc];
      break;
  }
  return order.filter((w): w is RunWay => w !== undefined);
}

/** The OCI runtime (not the image or podman's arguments) failed: worth trying another way to run. */
function runtimeFailed(r: RunResult): boolean {
  return [125, 126, 127].includes(r.code) && /OCI runtime|crun:|runc:|cgroup|NoCgroups/i.test(r.stderr);
}

/**
 * `podman GLOBAL run RUNARGS… IMAGE ARGS…` in the first way that fits this machine's cgroup layout and works;
 * resolves with that run's result (code 0) and the way used. Rejects with every attempt's error when none
 * worked, or at once when the container itself failed.
 */
export async function podmanRun(
  global: readonly string[],
  runArgs: readonly string[],
  opts: { timeoutMs: number; env?: Record<string, string | undefined> },
): Promise<{ result: RunResult; way: RunWay; layout: CgroupLayout }> {
  const layout = cgroupLayout();
  const ways = podmanRunWays(layout);
  const tried: string[] = [];
  for (const way of ways) {
    const args = [...global, ...way.global, "run", ...way.run, ...runArgs];
    const result = way.namespaceSetup
      ? await run("unshare", ["-m", "--propagation", "private", "sh", "-c", `${way.namespaceSetup} && exec podman "$@"`, "podman", ...args], {
          timeoutMs: opts.timeoutMs,
          env: opts.env,
        })
      : await run("podman", args, { timeoutMs: opts.timeoutMs, env: opts.env });
    if (result.code === 0) return { result, way, layout };
    tried.push(`- ${way.name}: exit ${result.code}: ${(result.stderr || result.stdout).trim().slice(-600)}`);
    if (!runtimeFailed(result)) break;
  }
  throw new Error(`podman run failed on this machine's cgroup layout, ${layout.summary}:\n${tried.join("\n")}`);
}
