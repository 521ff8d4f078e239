// Starts the benchmark's one S3 server: OpenStack Swift + s3api via scripts/swift-up.sh on free 127.0.0.1
// ports, state in a fresh temp dir (on a filesystem with user xattrs), creates the bucket, and stops it again.
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createBucket } from "../../scripts/create-bucket.mjs";
import { freePortBlock, onCleanup, run, runOk } from "./proc.ts";

export const S3 = { accessKey: "test:tester", secretKey: "testing", region: "us-east-1", bucket: "berth-bench" } as const;

export interface Swift {
  /** http://127.0.0.1:PORT of Swift's proxy server (S3 API). */
  endpoint: string;
  stateDir: string;
  /** The proxy-server's PID (CPU accounting). */
  proxyPid: number;
  stop(): Promise<void>;
}

async function xattrDir(projectRoot: string): Promise<string> {
  const probe =
    "import os,sys,tempfile\nfd,p=tempfile.mkstemp(dir=sys.argv[1])\n" +
    "try:\n  os.setxattr(p,'user.berth.probe',b'1')\nfinally:\n  os.close(fd); os.unlink(p)\n";
  for (const parent of [os.tmpdir(), path.join(projectRoot, ".berth", "tmp")]) {
    await mkdir(parent, { recursive: true });
    const dir = await mkdtemp(path.join(parent, "berth-bench-swift-"));
    if ((await run("python3", ["-c", probe, dir], { timeoutMs: 10_000 })).code === 0) return dir;
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error("no temp directory with user xattr support (Swift needs them)");
}

export async function startSwift(projectRoot: string): Promise<Swift> {
  await runOk("bash", [path.join(projectRoot, "scripts/install-deps.sh"), "swift"], { timeoutMs: 600_000 });
  const stateDir = await xattrDir(projectRoot);
  const down = async () => {
    await run("bash", [path.join(projectRoot, "scripts/swift-down.sh"), stateDir], { timeoutMs: 30_000 }).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
  };
  const unregister = onCleanup(down);
  let endpoint = "";
  let last = "";
  for (let attempt = 1; attempt <= 3 && !endpoint; attempt++) {
    const proxyPort = await freePortBlock(1);
    let objPort = await freePortBlock(3);
    while (objPort <= proxyPort && proxyPort <= objPort + 2) objPort = await freePortBlock(3);
    const r = await run("bash", [path.join(projectRoot, "scripts/swift-up.sh"), stateDir], {
      timeoutMs: 120_000,
      env: { PROXY_PORT: String(proxyPort), OBJ_PORT: String(objPort), S3_REGION: S3.region },
    });
    if (r.code === 0) endpoint = `http://127.0.0.1:${proxyPort}`;
    else {
      last = (r.stderr + r.stdout).slice(-3000);
      await run("bash", [path.join(projectRoot, "scripts/swift-down.sh"), stateDir], { timeoutMs: 30_000 });
      if (!/already in use/.test(last)) break;
    }
  }
  if (!endpoint) {
    unregister();
    await down();
    throw new Error(`could not start Swift:\n${last}`);
  }
  await createBucket({ endpoint, bucket: S3.bucket, region: S3.region, accessKey: S3.accessKey, secretKey: S3.secretKey });
  const proxyPid = Number((await readFile(path.join(stateDir, "run", "proxy.pid"), "utf8")).trim());
  return {
    endpoint,
    stateDir,
    proxyPid,
    stop: async () => {
      unregister();
      await down();
    },
  };
}
