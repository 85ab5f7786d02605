/**
 * The direct-claim contract between enqueueing and this process's workers.
 *
 * When the process enqueueing a job has an idle worker for its task, the job is stored already claimed
 * (`Store.jobInsertClaimed`: dequeued, attempt 1, leased) and handed straight to that worker: one commit
 * from `enqueue` to handler instead of two (insert, then claim). An idle worker means it found no
 * backlog the last time it looked, so a job taken this way overtakes at most what became due since.
 *
 * Never inside a user's transaction: a rollback would leave the worker running a job that never was.
 * @module
 */
import type { StoredJob } from "../store/store.js";

/** A free worker slot held for one job being enqueued now. Exactly one of `adopt` or `cancel` is called. */
export interface DirectClaim {
  /** The lease to store the job with: its task's `timeout`. */
  readonly leaseMs: number;
  /** The job was stored claimed: run it. */
  adopt(job: StoredJob): void;
  /** The insert failed: give the slot back. */
  cancel(): void;
}

/** Where direct claims come from: the workers of this process, once started. */
export interface DirectClaimSource {
  /** A slot for a job of task `name`, if one is free right now (and nothing else is on its way to fill it). */
  reserveDirect(name: string): DirectClaim | undefined;
}
