// Online garbage collection as a job of the coordinator (README "Garbage collection"). A run goes through
// its phases one bounded step at a time: fence (wait until no writer holds a lease, so that every write from
// now on vouches for what it uses), mark (mark.ts, which also applies retention policies), retention (the
// tags they remove, retain.ts), untagged (manifests no tag reaches, with delete-untagged or a policy), sweep,
// links and multipart (sweep.ts). Parameters: dryRun=true|false and deleteUntagged=true|false override the
// settings for one run;
// perStep bounds the objects walked per step.

import type { Job, JobEnvironment, GcRuntime } from "../job";
import { markStep } from "./mark";
import { untagStep } from "./retain";
import { emptyCounts, type GcState, type RetentionMode } from "./state";
import { linksStep, multipartStep, sweepStep, untaggedStep } from "./sweep";

/** Objects walked per step: 5 list requests, and at most that many small reads, far below an alarm's limits. */
const OBJECTS_PER_STEP = 5000;

function flag(params: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = params[name];
  if (v === undefined) return fallback;
  if (v === true || v === "true" || v === "1") return true;
  if (v === false || v === "false" || v === "0") return false;
  throw new Error(`${name} must be true or false`);
}

function runtime(env: JobEnvironment): GcRuntime {
  if (!env.gc) throw new Error("this coordinator has no garbage collector");
  return env.gc;
}

export const gc: Job<GcState> = {
  kind: "gc",

  start(params, env) {
    const rt = runtime(env);
    for (const k of Object.keys(params)) {
      if (!["dryRun", "deleteUntagged", "perStep"].includes(k)) throw new Error(`unknown parameter ${JSON.stringify(k.slice(0, 64))} (known: dryRun, deleteUntagged, perStep)`);
    }
    const perStep = params.perStep === undefined ? OBJECTS_PER_STEP : Number(params.perStep);
    if (!Number.isSafeInteger(perStep) || perStep < 1 || perStep > OBJECTS_PER_STEP) throw new Error(`perStep must be an integer from 1 to ${OBJECTS_PER_STEP}`);
    const dryRun = flag(params, "dryRun", rt.config.dryRun);
    const retention: RetentionMode = !rt.config.retention ? "off" : dryRun ? "simulate" : rt.config.retention.dryRun ? "report" : "apply";
    const state: GcState = {
      phase: "fence",
      dryRun,
      deleteUntagged: flag(params, "deleteUntagged", rt.config.deleteUntagged),
      delayMs: rt.config.delayMs,
      retention,
      startedAt: env.now(),
      perStep,
      cursor: null,
      repo: null,
      untagCursor: null,
      doomedCursor: null,
      linkCursor: null,
      sweepAt: null,
      counts: emptyCounts(),
      blobs: [],
      removed: [],
      tagsRemovedList: [],
    };
    rt.ledger.reset();
    return state;
  },

  async step(state, env) {
    const rt = runtime(env);
    switch (state.phase) {
      case "fence": {
        const notBefore = await rt.fence.markNotBefore();
        if (env.now() < notBefore) return { state, done: false, wakeAt: notBefore };
        return { state: { ...state, phase: "mark" }, done: false };
      }
      case "mark":
        return { state: await markStep(state, env, rt), done: false };
      case "retention":
        return { state: await untagStep(state, rt), done: false };
      case "untagged":
        return { state: await untaggedStep(state, rt), done: false };
      case "sweep":
        return { state: await sweepStep(state, env, rt), done: false };
      case "links":
        return { state: await linksStep(state, env, rt), done: false };
      case "multipart": {
        const next = await multipartStep(state, env, rt);
        return { state: next, done: next.phase === "done" };
      }
      case "done":
        return { state, done: true };
    }
  },

  result: (s) => ({
    phase: s.phase,
    dryRun: s.dryRun,
    deleteUntagged: s.deleteUntagged,
    retention: s.retention,
    delaySeconds: s.delayMs / 1000,
    ...s.counts,
    blobs: s.blobs,
    manifestsRemovedList: s.removed,
    tagsRemovedList: s.tagsRemovedList,
  }),
};
