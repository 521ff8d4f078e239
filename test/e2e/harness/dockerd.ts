// Starts a private Docker daemon (Debian's docker.io 20.10 dockerd) for one e2e test file: vfs storage
// driver, no iptables, no bridge, its own socket, data-root, exec-root and pidfile in a temp dir, so it never
// touches the machine's Docker state and needs no systemd. stop() ends it by its pidfile (its containerd child
// exits with it), kills whatever it left behind that still lives in the temp dir, unmounts and removes it.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run } from "./tools.js";

export interface Dockerd {
  /** Environment for the docker CLI: DOCKER_HOST=unix://<tmp>/docker.sock, DOCKER_CONFIG=<tmp>/cli. */
  env: { DOCKER_HOST: string; DOCKER_CONFIG: string };
  /** Tail of dockerd's log (its containerd logs there too), for failure messages. */
  logs(): string;
  /** Stops dockerd (SIGTERM, SIGKILL after 20 s), cleans up. Idempotent. */
  stop(): Promise<void>;
}

/** dockerd cannot run on this machine (not a bug in Berth): tests should skip and print `message`. */
export class DockerdUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DockerdUnavailable";
  }
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PIDs whose command line mentions `dir` (dockerd, its containerd, shims), read from /proc. */
function pidsUsing(dir: string): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      if (state !== "Z" && state !== "X" && cmd.split("\0").some((a) => a.includes(dir))) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Mount points under `dir` (deepest first), from /proc/self/mountinfo (octal escapes decoded). */
function mountsUnder(dir: string): string[] {
  let info = "";
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const points = info
    .split("\n")
    .map((l) => (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + "/"));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function killPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/** Synchronous last resort (process 'exit'): SIGKILL everything running from `dir`, then remove it. */
function killAndRemoveSync(dir: string): void {
  killPids(pidsUsing(dir), "SIGKILL");
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // mounts may remain while exiting; best effort
  }
}

/**
 * Removes a temp tree that container tools used: lazily unmounts whatever is still mounted below it
 * (deepest first), then deletes it. For podman/buildah roots as well as dockerd's own dir.
 */
export async function unmountAndRemove(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await run("umount", ["-l", m], { timeoutMs: 10_000 }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

const live = new Set<string>(); // temp dirs of running daemons
process.once("exit", () => {
  for (const dir of live) killAndRemoveSync(dir);
});

/**
 * Why dockerd cannot run here, or null when it may: dockerd needs root (namespaces, mounts, cgroups).
 * Missing binaries are not a reason to skip: the caller installs them (scripts/install-deps.sh clients).
 */
export function dockerdUnavailableReason(): string | null {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return `dockerd needs root (uid is ${process.getuid()}): it creates mounts and namespaces and writes cgroups`;
  }
  return null;
}

export interface DockerdOptions {
  /** Its daemon.json (default `{}`), e.g. `{"registry-mirrors": ["http://127.0.0.1:1234"]}`. */
  daemonJson?: Record<string, unknown>;
  /** Added to its environment, e.g. HTTPS_PROXY so that no request of it can leave the machine. */
  env?: Record<string, string>;
}

/**
 * Starts dockerd and resolves once `docker info` answers (bounded: 30 s). Throws DockerdUnavailable when this
 * machine cannot run it (not root; dockerd exits during start-up, e.g. no permission to mount or use cgroups),
 * with the reason and dockerd's last log lines; throws a plain Error when it hangs.
 */
export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  const reason = dockerdUnavailableReason();
  if (reason) throw new DockerdUnavailable(reason);
  // Short path: the socket path must stay under 108 bytes (sun_path), containerd's too (<exec-root>/containerd/…).
  const base = existsSync("/tmp") ? "/tmp" : os.tmpdir();
  const dir = await mkdtemp(path.join(base, "berth-dockerd-"));
  live.add(dir);
  const sock = path.join(dir, "docker.sock");
  const pidfile = path.join(dir, "docker.pid");
  const logFile = path.join(dir, "dockerd.log");
  const env = { DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: path.join(dir, "cli") };
  await mkdir(env.DOCKER_CONFIG);

  const args = [
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--storage-driver=vfs",
    "-H", `unix://${sock}`,
    "--data-root", path.join(dir, "root"),
    "--exec-root", path.join(dir, "exec"),
    "--pidfile", pidfile,
    // Its own (absent) daemon.json: the machine's /etc/docker/daemon.json must not change this daemon.
    "--config-file", path.join(dir, "daemon.json"),
  ];
  await writeFile(path.join(dir, "daemon.json"), `${JSON.stringify(opts.daemonJson ?? {})}\n`);
  const fd = openSync(logFile, "a");
  const child = spawn("dockerd", args, { detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, ...opts.env } });
  closeSync(fd);
  child.unref();
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `code ${code}, signal ${signal}`));
  child.once("error", (e) => (exited = `spawn error: ${e.message}`));

  const logs = () => {
    try {
      const text = readFileSync(logFile, "utf8");
      return text.slice(-8000);
    } catch {
      return "(no dockerd log)";
    }
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      let pid = child.pid;
      try {
        pid = Number((await readFile(pidfile, "utf8")).trim()) || pid;
      } catch {
        // no pidfile (never got that far): the child's pid
      }
      if (pid !== undefined && exited === undefined) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
        const deadline = Date.now() + STOP_TIMEOUT_MS;
        while (exited === undefined && Date.now() < deadline) await sleep(100);
        if (exited === undefined) {
          killPids([pid], "SIGKILL");
          const d2 = Date.now() + 3000;
          while (exited === undefined && Date.now() < d2) await sleep(50);
        }
      }
      // containerd and any shim normally exit with dockerd; whatever still runs from this dir is ours.
      const deadline = Date.now() + 5000;
      let left = pidsUsing(dir);
      if (left.length) killPids(left, "SIGTERM");
      while ((left = pidsUsing(dir)).length && Date.now() < deadline) await sleep(100);
      if (left.length) killPids(left, "SIGKILL");
      await unmountAndRemove(dir).catch(() => undefined);
      live.delete(dir);
    })();
    return stopped;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  for (;;) {
    if (exited !== undefined) {
      const tail = logs();
      await stop();
      throw new DockerdUnavailable(`dockerd exited during start-up (${exited}); its log ends with:\n${tail}`);
    }
    const r = await run("docker", ["info", "--format", "{{.ServerVersion}} {{.Driver}}"], {
      timeoutMs: 10_000,
      env,
    }).catch((e: unknown) => ({ code: -1, stdout: "", stderr: String(e) }));
    if (r.code === 0 && r.stdout.trim()) {
      if (!/\bvfs\b/.test(r.stdout)) {
        await stop();
        throw new Error(`dockerd answered but does not use the vfs storage driver: ${r.stdout.trim()}`);
      }
      break;
    }
    last = (r.stderr || r.stdout).trim();
    if (Date.now() > deadline) {
      const tail = logs();
      await stop();
      throw new Error(`dockerd did not answer \`docker info\` within ${READY_TIMEOUT_MS / 1000} s (${last})\n${tail}`);
    }
    await sleep(200);
  }
  return { env, logs, stop };
}
