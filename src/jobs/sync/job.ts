// Periodic sync as a job of the coordinator (README "Pull-through cache: periodic sync"): one run per
// upstream with `pollInterval` set (its instance is the upstream's name; parameter `upstream`). A run goes
// through its phases one bounded step at a time: catalog (the upstream's /v2/_catalog, one page per step,
// keeping the repositories the content entries cover: match.ts), then for each repository: tags (its tag
// list, filtered) and copy (copy.ts: a bounded number of upstream requests per step, several tags when they
// are unchanged). A failing tag (or tag list, or catalog page) is tried again after `retryDelay`, up to
// `maxRetries` times, by waking the run then (the step's wakeAt); then it is recorded in the report and the
// run goes on. The state is plain data, and every step may be re-run from the last one saved.

import type { Upstream } from "../../config/upstreams";
import { describeError } from "../../log";
import type { Job, JobEnvironment, SyncRuntime } from "../job";
import { advanceTask, newTask, retryable, type CopyContext } from "./copy";
import { compileContent, contentFor, keepsTag, localName, type CompiledContent } from "./match";
import { emptyCounts, listed, syncResult, type SyncState } from "./state";
import { compareLexical } from "../../storage/tags";
import { UpstreamError } from "../../upstream";

/** Catalog names asked for per page, and pages followed at most per run. */
const CATALOG_PAGE = 1_000;
const MAX_CATALOG_PAGES = 50;
/** Repositories one run syncs at most, and tags per repository (the checkpoint stays small). */
const MAX_REPOSITORIES = 1_000;
const MAX_TAGS = 1_000;
/**
 * Units (upstream requests with what they write) per step, and wall time per step: far below an alarm's
 * subrequest and time limits, even with a layer's multipart parts counted.
 */
const UNITS_PER_STEP = 24;
const STEP_MS = 60_000;
/**
 * Bytes per step: no blob is started past this. One layer is copied whole within a step (a copy cut off
 * cannot be resumed), so a step's requests are bounded by this plus one layer's parts.
 */
const BYTES_PER_STEP = 1024 * 1024 * 1024;

function runtime(env: JobEnvironment): SyncRuntime {
  if (!env.sync) throw new Error("this coordinator has no sync runtime");
  return env.sync;
}

/** The upstream with sync set; throws Error naming what is wrong. */
export function syncedUpstream(rt: SyncRuntime, name: string): Upstream & { sync: NonNullable<Upstream["sync"]> } {
  const u = rt.upstreams.config.upstreams.find((x) => x.name === name);
  if (!u) throw new Error(`no upstream named ${JSON.stringify(name.slice(0, 64))} in BERTH_UPSTREAMS`);
  if (!u.sync) throw new Error(`upstream ${u.name} has no periodic sync (set its pollInterval and content)`);
  return u as Upstream & { sync: NonNullable<Upstream["sync"]> };
}

function upstreamParam(params: Record<string, unknown>): string {
  for (const k of Object.keys(params)) if (k !== "upstream") throw new Error(`unknown parameter ${JSON.stringify(k.slice(0, 64))} (known: upstream)`);
  if (typeof params.upstream !== "string" || params.upstream === "") throw new Error("parameter upstream is required: the name of an upstream with sync");
  return params.upstream;
}

type Step = { state: SyncState; done: boolean; wakeAt?: number };

/** A failure of `what`: tried again after retryDelay while attempts last, else given up (`giveUp` goes on). */
function failed(s: SyncState, u: Upstream, env: JobEnvironment, e: unknown, attempts: number, retry: (s: SyncState) => void, giveUp: (s: SyncState, reason: string) => void): Step {
  const reason = describeError(e).slice(0, 300);
  if (retryable(e) && attempts <= u.sync!.maxRetries) {
    retry(s);
    return { state: s, done: false, wakeAt: env.now() + u.sync!.retryDelayMs };
  }
  giveUp(s, reason);
  return { state: s, done: false };
}

function addRepository(s: SyncState, u: Upstream, contents: CompiledContent[], remote: string, i: number): void {
  if (s.repos.some((r) => r.remote === remote)) return;
  if (s.repos.length >= MAX_REPOSITORIES) {
    if (!s.notes.some((n) => n.startsWith("repositories"))) s.notes.push(`repositories: only the first ${MAX_REPOSITORIES} are synced per run`);
    return;
  }
  try {
    s.repos.push({ remote, local: localName(u.prefix, remote, contents[i]!.content), content: i });
  } catch (e) {
    s.counts.failed++;
    s.failures = listed(s.failures, { repository: remote, tag: null, reason: describeError(e).slice(0, 300), attempts: 0 });
  }
}

/** The catalog is listed: the exact names of prefixes without a glob join, then the repositories are synced. */
function endCatalog(s: SyncState, u: Upstream, contents: CompiledContent[]): SyncState {
  contents.forEach((c, i) => {
    if (c.exact !== null && contentFor(contents, c.exact) === i) addRepository(s, u, contents, c.exact, i);
  });
  return { ...s, phase: "tags", repo: 0, listAttempts: 0, counts: { ...s.counts, repositories: s.repos.length } };
}

async function catalogStep(s: SyncState, u: Upstream, contents: CompiledContent[], env: JobEnvironment, rt: SyncRuntime): Promise<Step> {
  if (contents.every((c) => c.exact !== null)) return { state: endCatalog(s, u, contents), done: false };
  let page;
  try {
    page = await rt.upstreams.client(u).catalogPage(s.cursor, CATALOG_PAGE);
  } catch (e) {
    return failed(s, u, env, e, s.listAttempts + 1, (x) => void (x.listAttempts += 1), (x, reason) => {
      x.counts.failed++;
      x.failures = listed(x.failures, { repository: "(catalog)", tag: null, reason, attempts: x.listAttempts + 1 });
      Object.assign(x, endCatalog(x, u, contents));
    });
  }
  for (const remote of page.repositories) {
    const i = contentFor(contents, remote);
    if (i >= 0) addRepository(s, u, contents, remote, i);
  }
  s.pages++;
  s.cursor = page.next;
  s.listAttempts = 0;
  if (page.next === null || page.repositories.length === 0) return { state: endCatalog(s, u, contents), done: false };
  if (s.pages >= MAX_CATALOG_PAGES) {
    s.notes.push(`catalog: only its first ${MAX_CATALOG_PAGES} pages are read per run`);
    return { state: endCatalog(s, u, contents), done: false };
  }
  return { state: s, done: false };
}

async function tagsStep(s: SyncState, u: Upstream, contents: CompiledContent[], env: JobEnvironment, rt: SyncRuntime): Promise<Step> {
  const repo = s.repos[s.repo];
  if (!repo) return { state: { ...s, phase: "done" }, done: true };
  let tags: string[];
  try {
    tags = await rt.upstreams.client(u).listTags(repo.remote);
  } catch (e) {
    // In the catalog with no tag left (Distribution answers 404 then): nothing to copy, nothing wrong.
    if (e instanceof UpstreamError && e.kind === "missing") {
      return { state: { ...s, repo: s.repo + 1, listAttempts: 0, notes: listed(s.notes, `${repo.remote}: the upstream has no tags for it`) }, done: false };
    }
    return failed(s, u, env, e, s.listAttempts + 1, (x) => void (x.listAttempts += 1), (x, reason) => {
      x.counts.failed++;
      x.failures = listed(x.failures, { repository: repo.local, tag: null, reason: `its tag list: ${reason}`, attempts: x.listAttempts + 1 });
      x.repo++;
      x.listAttempts = 0;
    });
  }
  const content = contents[repo.content]!.content;
  const matched = [...new Set(tags)].filter((t) => keepsTag(content, t)).sort(compareLexical);
  s.counts.tagsSeen += tags.length;
  s.counts.tagsMatched += matched.length;
  if (matched.length > MAX_TAGS) s.notes = listed(s.notes, `${repo.local}: only the first ${MAX_TAGS} of its ${matched.length} matching tags are synced per run`);
  return { state: { ...s, phase: "copy", tags: matched.slice(0, MAX_TAGS), task: null, listAttempts: 0 }, done: false };
}

async function copyStep(s: SyncState, u: Upstream, env: JobEnvironment, rt: SyncRuntime): Promise<Step> {
  const repo = s.repos[s.repo]!;
  const stopAtBytes = s.counts.bytesCopied + BYTES_PER_STEP;
  const cx: CopyContext = { rt, storage: env.storage, client: rt.upstreams.client(u), remote: repo.remote, local: repo.local, counts: s.counts, stopAtBytes };
  const deadline = env.now() + STEP_MS;
  let used = 0;
  while (used < UNITS_PER_STEP && env.now() < deadline && s.counts.bytesCopied < stopAtBytes) {
    if (s.task === null) {
      const next = s.tags.shift();
      if (next === undefined) return { state: { ...s, phase: "tags", repo: s.repo + 1 }, done: false };
      s.task = newTask(next);
    }
    const task = s.task;
    try {
      const r = await advanceTask(cx, task, UNITS_PER_STEP - used);
      used += r.used;
      s.task = r.done === null ? r.task : null;
      if (r.done === "skipped") s.counts.skipped++;
      if (r.done === "copied") {
        s.counts.copied++;
        s.copiedList = listed(s.copiedList, `${repo.local}:${task.tag}`);
      }
    } catch (e) {
      // Tried again from the start (what was stored stays, and is found in place), or given up.
      return failed(s, u, env, e, task.attempts + 1, (x) => void (x.task = newTask(task.tag, task.attempts + 1)), (x, reason) => {
        x.counts.failed++;
        x.failures = listed(x.failures, { repository: repo.local, tag: task.tag, reason, attempts: task.attempts + 1 });
        x.task = null;
      });
    }
  }
  return { state: s, done: false };
}

export const sync: Job<SyncState> = {
  kind: "sync",

  instance: upstreamParam,

  start(params, env) {
    const u = syncedUpstream(runtime(env), upstreamParam(params));
    u.sync.content.forEach((c, i) => compileContent(c, `[${u.name}].content[${i}].prefix`));
    return {
      upstream: u.name,
      phase: "catalog",
      cursor: null,
      pages: 0,
      repos: [],
      repo: 0,
      tags: [],
      listAttempts: 0,
      task: null,
      counts: emptyCounts(),
      copiedList: [],
      failures: [],
      notes: [],
    };
  },

  async step(saved, env) {
    const rt = runtime(env);
    // Worked on as a copy: a step that throws leaves the saved state as it was.
    const s = structuredClone(saved);
    let u;
    try {
      u = syncedUpstream(rt, s.upstream);
    } catch (e) {
      // The settings changed since the run started: it ends, saying why.
      s.notes.push(describeError(e));
      return { state: { ...s, phase: "done" }, done: true };
    }
    const contents = u.sync.content.map((c, i) => compileContent(c, `[${u.name}].content[${i}].prefix`));
    switch (s.phase) {
      case "catalog":
        return catalogStep(s, u, contents, env, rt);
      case "tags":
        return tagsStep(s, u, contents, env, rt);
      case "copy":
        return copyStep(s, u, env, rt);
      case "done":
        return { state: s, done: true };
    }
  },

  result: syncResult,
};
