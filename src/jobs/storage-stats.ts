// The simplest job, and the proof of the job runner: counts the blobs in the bucket and their bytes by
// walking blobs/ in key order, a bounded number of keys per step, checkpointing the walk's cursor so a run
// survives restarts and resumes where it stopped. Costs one list request per 1000 blobs.

import type { Job } from "./job";

/** Keys walked per step: 5 list requests, far below an alarm's subrequest limit. */
const BLOBS_PER_STEP = 5000;

export interface StorageStatsState {
  /** The last blob key counted (the walk resumes after it), or null before the first. */
  cursor: string | null;
  blobs: number;
  bytes: number;
  /** Blobs per step (smaller in tests, to see a run take several steps). */
  perStep: number;
}

export const storageStats: Job<StorageStatsState> = {
  kind: "storage-stats",

  start(params) {
    const perStep = params.perStep === undefined ? BLOBS_PER_STEP : Number(params.perStep);
    if (!Number.isSafeInteger(perStep) || perStep < 1 || perStep > BLOBS_PER_STEP) {
      throw new Error(`perStep must be an integer from 1 to ${BLOBS_PER_STEP}`);
    }
    return { cursor: null, blobs: 0, bytes: 0, perStep };
  },

  async step(state, env) {
    const next = { ...state };
    let seen = 0;
    for await (const blob of env.storage.blobs.walk(state.cursor ?? undefined)) {
      next.blobs++;
      next.bytes += blob.size;
      next.cursor = blob.cursor;
      if (++seen >= state.perStep) return { state: next, done: false };
    }
    return { state: next, done: true };
  },

  result: (s) => ({ blobs: s.blobs, bytes: s.bytes }),
};
