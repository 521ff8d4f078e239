// A whole registry in process, for tests that go through the router: the RegistryContext the Worker entry
// builds (src/index.ts), over an in-memory bucket (MemoryDriver, keys under "root"), the configuration parsed
// from a minimal environment (REGISTRY_AUTH=none; tests add settings), an access guard each test configures,
// upload sessions as in-process UploadSessionCores (one per repository and id, as the Durable Object
// namespace gives one object per name), each repository's metadata writer (RepositoryWrites, one per name),
// the job runner over memory, and the write seam recorded in an array.
//
// Calling the session core directly is faithful to the RPC boundary: only plain data and streams cross it,
// and errors come back as data either way. Each session and each metadata writer gets its own stores over the
// same driver, as a Durable Object builds its own storage in another isolate: what the Worker's stores cache
// (sizes, links) is then only what the handlers themselves told them.
import type { ReferrerDescriptor } from "../../../src/oci/referrers-tag";
import { parseConfig, type Config, type Env } from "../../../src/config";
import { errorResponse, withCommonHeaders } from "../../../src/http/respond";
import { route } from "../../../src/http/router";
import { FenceServer, gcRunStatus, type GcRunStatus } from "../../../src/jobs/gc/fence";
import { GcLedger } from "../../../src/jobs/gc/ledger";
import { JOBS } from "../../../src/jobs/kinds";
import { JobRunner } from "../../../src/jobs/runner";
import { RepositoryWrites } from "../../../src/metadata/writes";
import { BlobFills } from "../../../src/metadata/fills";
import type { Job, JobEnvironment, SyncRuntime } from "../../../src/jobs/job";
import { FAULT_CODE, OciError, type OciErrorCode } from "../../../src/oci/errors";
import type { AccessGuard, Action, RegistryContext, RequestInfo } from "../../../src/registry/context";
import { UploadHints } from "../../../src/registry/upload-hints";
import type { MirrorEvent } from "../../../src/registry/mirror-events";
import type { ReadEvent } from "../../../src/registry/reads";
import type { WriteEvent } from "../../../src/registry/writes";
import { Outbox } from "../../../src/events/outbox";
import { MetricsTable } from "../../../src/metrics/table";
import { Tally } from "../../../src/metrics/tally";
import type { Fetch } from "../../../src/events/delivery";
import { storageOn, type Storage } from "../../../src/storage";
import type { BlobStore } from "../../../src/storage/blobs";
import { SweepFence } from "../../../src/storage/sweep-fence";
import { MemoryDriver } from "../../../src/storage/driver/memory";
import type { UploadSessionRpc } from "../../../src/uploads/protocol";
import { sessionName } from "../../../src/uploads/protocol";
import { UploadSessionCore } from "../../../src/uploads/session-core";
import { Upstreams, type Fetch as UpstreamFetch } from "../../../src/upstream";
import { expect } from "vitest";
import { bytesOf } from "./content";
import { Clock, MemoryOutboxStorage, MemoryRunnerStorage, MemorySessionStorage, NodeHashing } from "./memory";
import { observedCall } from "./observe";
import { memorySql } from "./sqlite";

export const ORIGIN = "http://registry.test";
export const ROOT = "root";

/** A valid environment: S3 settings (never used: the bucket is memory) and REGISTRY_AUTH=none. */
export const BASE_ENV: Env = {
  REGISTRY_STORAGE_S3_BUCKET: "test-bucket",
  REGISTRY_STORAGE_S3_REGION: "eu-west-1",
  REGISTRY_STORAGE_S3_ACCESSKEY: "AKIAEXAMPLEACCESS",
  REGISTRY_STORAGE_S3_SECRETKEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  REGISTRY_STORAGE_S3_ROOTDIRECTORY: ROOT,
  REGISTRY_AUTH: "none",
};

// ---- access ----------------------------------------------------------------------------------------------

type Refusal = "unauthorized" | "denied";
type Guarded = Action | "base" | "admin";

/**
 * An AccessGuard that allows everything until told otherwise. Its refusals are the real guard's: UNAUTHORIZED
 * (401) with a Basic challenge when logging in could help, DENIED (403) when the caller is known.
 */
export class TestAccess implements AccessGuard {
  static readonly CHALLENGE = 'Basic realm="Berth Registry"';
  private readonly rules: { what: Guarded; repo: string | null | undefined; as: Refusal }[] = [];
  private everything: boolean | undefined;

  /** Refuses `what` (on `repo`, or on every repository when it is omitted; null is the catalog). */
  deny(what: Guarded, opts: { repo?: string | null; as?: Refusal } = {}): this {
    this.rules.push({ what, repo: opts.repo, as: opts.as ?? "denied" });
    return this;
  }

  /** Forces readsEverything (by default: true unless some read is refused). */
  setReadsEverything(v: boolean): this {
    this.everything = v;
    return this;
  }

  get readsEverything(): boolean {
    return this.everything ?? !this.rules.some((r) => r.what === "read");
  }

  requireBase(): void {
    const rule = this.rules.find((r) => r.what === "base");
    if (rule) throw this.refusal(rule.as, "the registry", "base");
  }

  require(repo: string | null, action: Action): void {
    const rule = this.match(repo, action);
    if (rule) throw this.refusal(rule.as, repo === null ? "the catalog" : `${action} on repository ${repo}`, action, repo);
  }

  may(repo: string, action: Action): boolean {
    return this.match(repo, action) === undefined;
  }

  canRead(repo: string): boolean {
    return this.may(repo, "read");
  }

  requireAdmin(): void {
    const rule = this.rules.find((r) => r.what === "admin");
    if (rule) throw this.refusal(rule.as, "the admin API", "admin");
  }

  private match(repo: string | null, what: Guarded) {
    return this.rules.find((r) => r.what === what && (r.repo === undefined || r.repo === repo));
  }

  private refusal(as: Refusal, what: string, action: string, repo?: string | null): OciError {
    if (as === "denied") return new OciError("DENIED", `${what} is denied`);
    return new OciError("UNAUTHORIZED", "authentication required", {
      headers: { "WWW-Authenticate": TestAccess.CHALLENGE },
      detail: repo === undefined ? undefined : [{ Type: repo === null ? "registry" : "repository", Name: repo ?? "catalog", Action: action }],
    });
  }
}

// ---- upload sessions -------------------------------------------------------------------------------------

export interface SessionSetup {
  blobs: BlobStore;
  partSize: number;
  expiryMs: number;
  drainLimit?: number;
  clock: Clock;
  hashing?: NodeHashing;
  /** Where the session counts its start, commit and expiry (the metrics). */
  tally?: Tally;
}

/** One upload-session Durable Object: its storage, and the core living in it until it is evicted. */
export class SessionObject {
  readonly storage = new MemorySessionStorage();
  readonly hashing: NodeHashing;
  core: UploadSessionCore;
  /** Cores this object had: 1, plus one per eviction. */
  lives = 1;

  constructor(private readonly setup: SessionSetup) {
    this.hashing = setup.hashing ?? new NodeHashing();
    this.core = this.make();
  }

  /** The object lost its memory (evicted, or the Worker reloaded): a new core over the same storage. */
  evict(): UploadSessionCore {
    this.lives++;
    this.core = this.make();
    return this.core;
  }

  /** Runs the alarm if it is set and due at the clock's time (the runtime clears it before the handler runs). */
  async fireAlarm(): Promise<boolean> {
    const at = this.storage.alarm;
    if (at === null || at > this.setup.clock.now()) return false;
    this.storage.alarm = null;
    await this.core.alarm();
    return true;
  }

  private make(): UploadSessionCore {
    return new UploadSessionCore({
      storage: this.storage,
      slices: this.storage.slices,
      blobs: this.setup.blobs,
      hashing: this.hashing,
      partSize: this.setup.partSize,
      expiryMs: this.setup.expiryMs,
      drainLimit: this.setup.drainLimit ?? 64 * 1024 * 1024,
      now: this.setup.clock.now,
      count: (event) => this.setup.tally?.add(`berth_upload_sessions_${event}_total`, {}),
    });
  }
}

/** The namespace of session objects: one per `repo@uuid`, created on first use. */
export class Sessions {
  readonly objects = new Map<string, SessionObject>();

  constructor(private readonly setup: () => SessionSetup) {}

  get(repo: string, uuid: string): SessionObject {
    const name = sessionName(repo, uuid);
    let o = this.objects.get(name);
    if (!o) {
      o = new SessionObject(this.setup());
      this.objects.set(name, o);
    }
    return o;
  }

  /**
   * The RPC stub. As in workerd, getting one creates nothing: the object comes to exist on the first call,
   * and each call goes to whatever core the object has at that moment (a new one after an eviction).
   */
  stub(repo: string, uuid: string): UploadSessionRpc {
    const core = () => this.get(repo, uuid).core;
    return {
      begin: (...a) => core().begin(...a),
      status: (...a) => core().status(...a),
      append: (...a) => core().append(...a),
      commit: (...a) => core().commit(...a),
      cancel: (...a) => core().cancel(...a),
    };
  }

  /** Fires every due alarm once; returns how many ran. */
  async fireDueAlarms(): Promise<number> {
    let n = 0;
    for (const o of this.objects.values()) if (await o.fireAlarm()) n++;
    return n;
  }
}

// ---- the registry ------------------------------------------------------------------------------------------

export interface RegistryOptions {
  /** Settings on top of BASE_ENV (undefined removes one). */
  env?: Env;
  /** Part size of the sessions' blob writes (default: the configured chunk size, at least 5 MiB). */
  partSize?: number;
  clock?: Clock;
  /** The bucket of another registry: this one is then another isolate over it (its caches start cold). */
  driver?: MemoryDriver;
  /** Job kinds the runner knows (default: the Worker's). */
  jobKinds?: ReadonlyMap<string, Job<unknown>>;
  /** How the pull-through cache reaches its upstreams (default: every request fails as unreachable). */
  upstreamFetch?: UpstreamFetch;
}

export interface CallInit {
  headers?: Record<string, string>;
  /** Bytes and strings get a Content-Length unless `length: false`; streams are sent without one. */
  body?: Uint8Array | string | ReadableStream<Uint8Array> | null;
  length?: boolean;
}

export class TestRegistry {
  readonly clock: Clock;
  readonly driver: MemoryDriver;
  readonly storage: Storage;
  readonly cfg: Config;
  readonly access = new TestAccess();
  readonly hints: UploadHints;
  readonly sessions: Sessions;
  /** The repositories' pull-through fills, by name, created on first use. */
  readonly fills = new Map<string, BlobFills>();
  /** The repositories' metadata writers, by name, created on first use. */
  readonly metadata = new Map<string, RepositoryWrites>();
  readonly jobStorage = new MemoryRunnerStorage();
  readonly jobRunner: JobRunner;
  /** What the runner's jobs get (as the coordinator gives it), for tests that step a job themselves. */
  readonly jobEnv: JobEnvironment;
  /** The garbage collector's ledger and fence, as the coordinator holds them (ledger over node:sqlite). */
  readonly ledger = new GcLedger(memorySql());
  readonly fence: FenceServer;
  /** The write seam: every event a handler recorded, in order. */
  readonly events: WriteEvent[] = [];
  /** The read seam: every pull a handler noted, in order. */
  readonly reads: ReadEvent[] = [];
  /** What the pull-through cache reported (fills, stale answers), in order. */
  readonly mirrorEvents: MirrorEvent[] = [];
  /** The event outboxes by shard (over memory), created on first use; they deliver through `webhook`. */
  readonly outboxes = new Map<number, { outbox: Outbox; storage: MemoryOutboxStorage }>();
  /** What the outboxes' deliveries call (default: every endpoint answers 204). */
  webhook: Fetch = async () => new Response(null, { status: 204 });
  /** The isolate's held counts (what the Worker's Tally would hold) and the metrics object's table. */
  readonly tally = new Tally();
  readonly metricsTable = new MetricsTable(memorySql());
  /** Whether requests present the metrics token (the Worker entry decides it from the Authorization header). */
  metricsTokenAccepted = false;
  /** Work handed to waitUntil. */
  readonly background: Promise<unknown>[] = [];
  readonly ctx: RegistryContext;

  constructor(opts: RegistryOptions = {}) {
    this.clock = opts.clock ?? new Clock();
    this.driver = opts.driver ?? new MemoryDriver(this.clock.now);
    this.storage = storageOn(this.driver, ROOT);
    this.cfg = parseConfig({ ...BASE_ENV, ...opts.env });
    this.hints = new UploadHints(this.clock.now);
    const partSize = opts.partSize ?? this.cfg.s3.chunkSize;
    this.sessions = new Sessions(() => ({
      blobs: storageOn(this.driver, ROOT).blobs,
      partSize,
      expiryMs: this.cfg.uploadExpiryMs,
      drainLimit: this.cfg.chunkMaxLength,
      clock: this.clock,
      tally: this.tally,
    }));
    this.fence = new FenceServer(this.ledger, this.jobStorage, () => this.gcStatus(), this.clock.now, this.cfg.gc.fenceLeaseMs);
    const gc = {
      config: this.cfg.gc,
      ledger: this.ledger,
      fence: this.fence,
      removeManifest: (repo: string, digest: string, subject: string | null, indexTags: string[]) =>
        this.writer(repo).removeUntagged(repo, digest, subject, indexTags),
      untag: (repo: string, tag: string, digest: string) => this.writer(repo).untag(repo, tag, digest),
      isImmutable: (repo: string, tag: string) => this.cfg.maintenance.immutableTags.covers(repo, tag),
    };
    const registry = this;
    const referrers = { index: (repo: string, subject: string, d: ReferrerDescriptor) => this.writer(repo).indexReferrer(repo, subject, d) };
    const upstreams = new Upstreams(this.cfg.mirror, opts.upstreamFetch ?? (() => Promise.reject(new TypeError("fetch failed"))), this.clock.now);
    // Periodic sync as the coordinator runs it: the same upstreams, the metadata writers, this fence.
    const sync: SyncRuntime = {
      upstreams,
      hash: (algorithm) => new NodeHashing().running(algorithm),
      partSize,
      vouch: async (repo, digests) => digests.length > 0 && (await this.fence.vouch(repo, digests)).active,
      linkManifest: (repo, link) => this.writer(repo).linkManifest(repo, link),
    };
    this.jobEnv = { storage: this.storage, now: this.clock.now, gc, referrers, sync };
    this.jobRunner = new JobRunner(this.jobStorage, opts.jobKinds ?? JOBS, this.jobEnv);
    const request: RequestInfo = {
      id: "test-request",
      caller: { user: null, groups: [], anonymous: true },
      clientAddress: null,
      userAgent: null,
      method: "GET",
      host: new URL(ORIGIN).host,
      origin: ORIGIN,
    };
    this.ctx = {
      cfg: this.cfg,
      access: this.access,
      storage: this.storage,
      session: (repo, uuid) => this.sessions.stub(repo, uuid),
      metadata: (repo) => this.writer(repo),
      jobs: () => ({
        start: (kind, params) => this.jobRunner.start(kind, params),
        status: (kind, instance) => this.jobRunner.status(kind, instance),
        vouch: (repo, digests) => this.fence.vouch(repo, digests),
        tick: async () => [],
      }),
      fence: new SweepFence(() => this.fence, this.clock.now),
      pullThrough: {
        upstreams,
        hashing: new NodeHashing(),
        fills: (repo) => this.fillsOf(repo),
        observed: (event) => this.mirrorEvents.push(event),
      },
      outbox: (shard) => this.outboxAt(shard).outbox,
      hints: this.hints,
      url: new URL(ORIGIN),
      request,
      waitUntil: (work) => void this.background.push(work),
      written: async (...events) => void this.events.push(...structuredClone(events)),
      pulled: (event) => void this.reads.push(structuredClone(event)),
      metrics: {
        get tokenAccepted() {
          return registry.metricsTokenAccepted;
        },
        flush: async () => {
          const batch = this.tally.take();
          if (batch) await this.metricsTable.add(batch);
        },
        read: () => this.metricsTable.read(),
      },
    };
  }

  /** The single flight of the repository's pull-through blob fetches (held by its metadata object). */
  fillsOf(repo: string): BlobFills {
    let f = this.fills.get(repo);
    if (!f) this.fills.set(repo, (f = new BlobFills(this.clock.now)));
    return f;
  }

  /** The repository's metadata writer (its own stores and fence client, as the Durable Object has). */
  writer(repo: string): RepositoryWrites {
    let w = this.metadata.get(repo);
    if (!w) {
      const fence = new SweepFence(() => this.fence, this.clock.now);
      this.metadata.set(repo, (w = new RepositoryWrites(storageOn(this.driver, ROOT), this.cfg.maintenance.immutableTags, fence)));
    }
    return w;
  }

  /** What the coordinator reads of the last collection (src/jobs/coordinator.ts). */
  private async gcStatus(): Promise<GcRunStatus> {
    return gcRunStatus(await this.jobRunner.status("gc"));
  }

  /** The outbox object of a shard. */
  outboxAt(shard: number): { outbox: Outbox; storage: MemoryOutboxStorage } {
    let o = this.outboxes.get(shard);
    if (!o) {
      const storage = new MemoryOutboxStorage();
      const outbox = new Outbox(storage, this.cfg.notifications, { fetch: (url, init) => this.webhook(url, init), now: this.clock.now, log: () => {} });
      this.outboxes.set(shard, (o = { outbox, storage }));
    }
    return o;
  }

  /** Audit lines of the requests sent through call(), as JSON text (observe.ts). */
  readonly audit: string[] = [];

  /** One request through the router, audited and counted as the Worker entry does. */
  call(method: string, path: string, init: CallInit = {}): Promise<Response> {
    return observedCall(this.ctx, this, method, path, new Headers(init.headers), (ctx) => call(ctx, method, path, init));
  }

  /** The session object behind an upload Location (`/v2/<repo>/blobs/uploads/<uuid>`). */
  sessionAt(location: string): SessionObject {
    const m = /^\/v2\/(.+)\/blobs\/uploads\/([^/?]+)$/.exec(location);
    if (!m) throw new Error(`not an upload location: ${location}`);
    return this.sessions.get(m[1]!, m[2]!);
  }

  /** Keys of the bucket under the registry's root, without the common prefix (for readable assertions). */
  keys(under = ""): string[] {
    const base = `${ROOT}/docker/registry/v2/`;
    return this.driver.keys(base + under).map((k) => k.slice(base.length));
  }

  /** The bytes stored at a blob's data key, or undefined. */
  blobData(digest: string): Uint8Array | undefined {
    const [alg, hex] = digest.split(":") as [string, string];
    return this.driver.objects.get(`${ROOT}/docker/registry/v2/blobs/${alg}/${hex.slice(0, 2)}/${hex}/data`)?.bytes;
  }

  /** Runs the job runner's alarms (jumping the clock to each) until no run is left, at most `max` times. */
  async runJobs(max = 100): Promise<number> {
    let n = 0;
    while (this.jobStorage.alarm !== null && n < max) {
      const at = this.jobStorage.alarm;
      this.jobStorage.alarm = null;
      if (at > this.clock.t) this.clock.t = at;
      await this.jobRunner.alarm();
      n++;
    }
    return n;
  }

  /** Driver requests made while `fn` runs, by operation (only the non-zero ones). */
  async cost(fn: () => Promise<unknown>): Promise<Record<string, number>> {
    const before = { ...this.driver.calls };
    await fn();
    const out: Record<string, number> = {};
    for (const [op, n] of Object.entries(this.driver.calls)) {
      const d = n - before[op as keyof typeof before];
      if (d !== 0) out[op] = d;
    }
    return out;
  }
}

export function registry(opts: RegistryOptions = {}): TestRegistry {
  return new TestRegistry(opts);
}

/**
 * Sends one request through the router with the context `ctx` (its URL and request info set for this
 * request), and turns errors into responses the way the Worker entry does.
 */
export async function call(ctx: RegistryContext, method: string, path: string, init: CallInit = {}): Promise<Response> {
  const url = new URL(path, ORIGIN);
  const headers = new Headers(init.headers);
  const body = typeof init.body === "string" ? bytesOf(init.body) : init.body ?? null;
  if (body instanceof Uint8Array && init.length !== false && !headers.has("Content-Length")) {
    headers.set("Content-Length", String(body.byteLength));
  }
  const req = new Request(url, { method, headers, body, duplex: "half" } as RequestInit);
  const reqCtx: RegistryContext = { ...ctx, url, request: { ...ctx.request, method, userAgent: headers.get("user-agent") } };
  try {
    return withCommonHeaders(await route(req, reqCtx));
  } catch (e) {
    return errorResponse(e, method);
  }
}

// ---- assertions ------------------------------------------------------------------------------------------

export interface ErrorSeen {
  code: string;
  message: string;
  detail?: unknown;
}

/**
 * Asserts an error response: status, the spec's `{"errors":[{code, message}]}` body (none for HEAD) with the
 * code, and the API version header. Returns the error for more checks.
 */
export async function expectError(res: Response, status: number, code: OciErrorCode | typeof FAULT_CODE): Promise<ErrorSeen> {
  const text = await res.text();
  expect({ status: res.status, body: text.slice(0, 300) }).toMatchObject({ status });
  expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
  expect(res.headers.get("Content-Type")).toBe("application/json");
  if (text === "") {
    // HEAD: no body to carry the code.
    return { code, message: "" };
  }
  const body = JSON.parse(text) as { errors: ErrorSeen[] };
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]!.code).toBe(code);
  expect(typeof body.errors[0]!.message).toBe("string");
  return body.errors[0]!;
}

/** Asserts a success status, showing the error body when it is not. */
export async function expectStatus(res: Response, status: number): Promise<Response> {
  if (res.status !== status) throw new Error(`expected status ${status}, got ${res.status}: ${(await res.text()).slice(0, 500)}`);
  return res;
}
