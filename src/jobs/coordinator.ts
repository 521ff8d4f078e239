// The job coordinator Durable Object: one per registry (named "coordinator"), hosting the JobRunner with the
// object's storage and alarm, and the garbage collector's fence (gc/fence.ts) with its ledger in the object's
// SQLite storage. Background work (counting the bucket, garbage collection, periodic sync of upstreams) runs
// here as resumable steps, never inside a client's request. It parses only the storage, GC (with retention),
// maintenance and upstream settings.

import { DurableObject } from "cloudflare:workers";
import { parseGc, type GcConfig } from "../config/gc";
import { readLogLevel } from "../config/logging";
import { setLogLevel } from "../log";
import { reportFromObject } from "../metrics/flush";
import { parseMaintenance } from "../config/maintenance";
import { parseS3 } from "../config/storage";
import { parseUpstreams, type Upstream } from "../config/upstreams";
import type { ReferrerDescriptor } from "../oci/referrers-tag";
import type { RpcResult } from "../oci/rpc";
import { createStorage } from "../storage";
import { DigestStreamHash } from "../streams/digest-stream";
import { Upstreams } from "../upstream";
import type { VouchAnswer } from "../storage/sweep-fence";
import { FenceServer, gcRunStatus, type GcRunStatus } from "./gc/fence";
import { GcLedger, type Sql } from "./gc/ledger";
import { gc } from "./gc/job";
import type { GcRuntime, SyncLink, SyncRuntime } from "./job";
import { JOBS } from "./kinds";
import type { JobCoordinatorRpc, JobReport } from "./protocol";
import { JobRunner } from "./runner";
import { referrersBackfill } from "./referrers-backfill";
import { isDue, syncsDue } from "./schedule";
import { storageStats } from "./storage-stats";
import { sync } from "./sync/job";

/** What the coordinator asks of a repository's metadata object (metadata/protocol.ts has the whole interface). */
interface MetadataRemovals {
  linkManifest(repo: string, link: SyncLink): Promise<RpcResult<{ outcome: string }>>;
  removeUntagged(repo: string, digest: string, subject: string | null, indexTags: string[]): Promise<"removed" | "kept">;
  untag(repo: string, tag: string, digest: string): Promise<"removed" | "kept">;
  indexReferrer(repo: string, subject: string, descriptor: ReferrerDescriptor): Promise<boolean>;
}

interface Parts {
  runner: JobRunner;
  fence: FenceServer;
  gc: GcConfig;
  readOnly: boolean;
  /** Upstreams with periodic sync. */
  synced: Upstream[];
  getAlarm(): Promise<number | null>;
  setAlarm(at: number): Promise<void>;
}

export class JobCoordinator extends DurableObject implements JobCoordinatorRpc {
  private parts: Parts | null = null;

  private setup(): Parts {
    reportFromObject(this.env as Record<string, unknown>, this.ctx); // its S3 requests are counted
    if (!this.parts) {
      const env = this.env as Record<string, unknown>;
      setLogLevel(readLogLevel(env));
      const storage = this.ctx.storage;
      const mirror = parseUpstreams(env);
      const config = parseGc(env, mirror);
      const { immutableTags, readOnly } = parseMaintenance(env);
      const ledger = new GcLedger(storage.sql as unknown as Sql);
      const kv = { get: <T>(key: string) => storage.get<T>(key), put: (key: string, value: unknown) => storage.put(key, value) };
      const fence = new FenceServer(ledger, kv, () => this.gcStatus(), Date.now, config.fenceLeaseMs);
      const metadata = env.REPOSITORY_METADATA as DurableObjectNamespace;
      const object = (repo: string) => metadata.get(metadata.idFromName(repo)) as unknown as MetadataRemovals;
      const rt: GcRuntime = {
        config,
        ledger,
        fence,
        removeManifest: (repo, digest, subject, indexTags) => object(repo).removeUntagged(repo, digest, subject, indexTags),
        untag: (repo, tag, digest) => object(repo).untag(repo, tag, digest),
        isImmutable: (repo, tag) => immutableTags.covers(repo, tag),
      };
      const s3 = parseS3(env);
      const syncRt: SyncRuntime = {
        upstreams: new Upstreams(mirror, (url, init) => fetch(url, init)),
        hash: (algorithm) => new DigestStreamHash(algorithm),
        partSize: s3.chunkSize,
        // The fence is this object's own: its answer is used as a writer's SweepFence uses it.
        vouch: async (repo, digests) => digests.length > 0 && (await fence.vouch(repo, digests)).active,
        linkManifest: (repo, link) => object(repo).linkManifest(repo, link),
      };
      const runner = new JobRunner(
        { ...kv, list: (prefix) => storage.list({ prefix }), setAlarm: (at) => storage.setAlarm(at) },
        JOBS,
        {
          storage: createStorage(s3),
          now: Date.now,
          gc: rt,
          referrers: { index: (repo, subject, descriptor) => object(repo).indexReferrer(repo, subject, descriptor) },
          sync: syncRt,
        },
      );
      const synced = mirror.upstreams.filter((u) => u.sync !== null);
      this.parts = { runner, fence, gc: config, readOnly, synced, getAlarm: () => storage.getAlarm(), setAlarm: (at) => storage.setAlarm(at) };
    }
    return this.parts;
  }

  private async gcStatus(): Promise<GcRunStatus> {
    return gcRunStatus(await this.setup().runner.status(gc.kind));
  }

  start(kind: string, params: Record<string, unknown>): Promise<{ started: boolean; report: JobReport } | { error: string }> {
    return this.setup().runner.start(kind, params);
  }

  status(kind: string, instance?: string): Promise<JobReport | null> {
    return this.setup().runner.status(kind, instance);
  }

  vouch(repo: string, digests: string[]): Promise<VouchAnswer> {
    return this.setup().fence.vouch(repo, digests);
  }

  async tick(): Promise<string[]> {
    const { runner, gc: config, readOnly } = this.setup();
    const due = [storageStats.kind];
    // Read-only mode means nothing changes in the bucket: no scheduled collection either (the admin API
    // refuses to start one too). A run already going when the mode was switched on finishes.
    if (config.enabled && !readOnly) {
      const last = await runner.status(gc.kind);
      if (isDue(last, config.intervalMs, Date.now())) due.push(gc.kind);
    }
    // The referrers backfill is needed once (content pushed before with the tag schema); later tags are read
    // by the referrers API itself.
    if (!(await runner.status(referrersBackfill.kind))) due.push(referrersBackfill.kind);
    const started: string[] = [];
    for (const kind of due) {
      const r = await runner.start(kind, {});
      if ("started" in r && r.started) started.push(kind);
    }
    return [...started, ...(await this.startDueSyncs())];
  }

  /**
   * Starts a sync run for each upstream whose pollInterval has passed since its last run started (none in
   * read-only mode), and keeps an alarm set for the next one due: intervals shorter than the Cron Trigger's
   * are honoured once the coordinator has woken once. Returns "sync:<upstream>" for each run started.
   */
  private async startDueSyncs(): Promise<string[]> {
    const { runner, readOnly, synced, getAlarm, setAlarm } = this.setup();
    if (readOnly || synced.length === 0) return [];
    const { due, nextAt } = await syncsDue(synced, (name) => runner.status(sync.kind, name), Date.now());
    const started: string[] = [];
    for (const name of due) {
      const r = await runner.start(sync.kind, { upstream: name });
      if ("started" in r && r.started) started.push(`${sync.kind}:${name}`);
    }
    if (nextAt !== null && (await getAlarm()) === null) await setAlarm(nextAt);
    return started;
  }

  override async alarm(): Promise<void> {
    await this.setup().runner.alarm();
    await this.startDueSyncs();
  }
}
