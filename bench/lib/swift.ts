// Starts the benchmark's one S3 server: OpenStack Swift + s3api on free 127.0.0.1 ports, state in a fresh temp
// dir (on a filesystem with user xattrs), with the bucket created, and stops it again. The starting is
// scripts/lib/stack.mjs's startSwift(), shared with `npm start` and the e2e harness.
import { SWIFT_ACCESS_KEY, SWIFT_SECRET_KEY, startSwift as startStackSwift } from "../../scripts/lib/stack.mjs";
import { onCleanup } from "./proc.ts";

export const S3 = { accessKey: SWIFT_ACCESS_KEY, secretKey: SWIFT_SECRET_KEY, region: "us-east-1", bucket: "berth-bench" } as const;

export interface Swift {
  /** http://127.0.0.1:PORT of Swift's proxy server (S3 API). */
  endpoint: string;
  stateDir: string;
  /** The proxy-server's PID (CPU accounting). */
  proxyPid: number;
  /** PIDs of the proxy, object, container and account servers (CPU accounting). */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

/** `projectRoot` is accepted for the callers' sake; the shared module knows the project it belongs to. */
export async function startSwift(_projectRoot?: string): Promise<Swift> {
  const swift = await startStackSwift({ region: S3.region, bucket: S3.bucket });
  const unregister = onCleanup(() => swift.stop());
  return {
    endpoint: swift.endpoint,
    stateDir: swift.stateDir,
    proxyPid: swift.proxyPid,
    pids: swift.pids,
    stop: async () => {
      unregister();
      await swift.stop();
    },
  };
}
