/**
 * The job: hewn's unit of work, as stored and as handed to handlers.
 * @module
 */

/** A value that survives a JSON round trip unchanged. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * `T` itself where JSON keeps it as it is; the parts JSON would change or drop become `never`, so a
 * payload or result holding a `Date`, a `BigInt`, a `Map`, a function or a class instance with methods is
 * a compile error instead of a run-time `ValidationError`. Object properties that are `undefined` are
 * allowed: JSON leaves them out, and so does hewn. Works with interfaces (unlike `Json`, which needs an
 * index signature). `unknown` and `any` pass: such values are checked at run time, as is anything nested
 * deeper than ten levels (the compiler's patience is finite).
 */
export type JsonCompatible<T, Depth extends number = 10> =
  [Depth] extends [never] ? T
  : unknown extends T ? T
  : T extends string | number | boolean | null | void ? T
  : T extends bigint | symbol | ((...args: never[]) => unknown) ? never
  : T extends readonly unknown[] ? { [K in keyof T]: JsonCompatible<T[K], Shallower[Depth]> }
  : T extends object ? { [K in keyof T]: T[K] extends undefined ? T[K] : JsonCompatible<T[K], Shallower[Depth]> }
  : never;

/** `Shallower[n]` is n − 1 (never below 0): the depth counter of {@link JsonCompatible}. */
type Shallower = [never, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/**
 * Where a job is in its life.
 *
 * - `enqueued`: waiting to run at `availableAt`.
 * - `dequeued`: claimed by a worker; `availableAt` is the lease expiry, after which any worker may claim it again.
 * - `completed`: finished successfully (terminal).
 * - `failed`: the last attempt failed; it waits for `availableAt` to be retried (not an end state).
 * - `cancelled`: given up for good (terminal); `reason` says why.
 */
export type JobStatus = "enqueued" | "dequeued" | "completed" | "failed" | "cancelled";

/** Every status, in life-cycle order. */
export const JOB_STATUSES: readonly JobStatus[] = ["enqueued", "dequeued", "completed", "failed", "cancelled"];

/** One failed attempt, as kept in {@link Job.errors}. */
export interface JobAttemptError {
  /** The attempt (claim number) that failed. */
  attempt: number;
  /** When it failed (for a crash: when a claim found it crashed). ISO 8601. */
  at: string;
  /**
   * The error's message, or the `JobError` reason. An attempt that ended with no outcome at all (a crash,
   * counted in `crashes`: its worker died or stalled) reads {@link CRASH_MESSAGE}.
   */
  message: string;
  /**
   * The error's stack, cut to its first 2 000 characters, for errors a handler threw (or that ended it:
   * a lifetime exceeded, a result that would not serialise, a payload that failed validation). Absent for
   * a `JobError`, which is an expected outcome, and for crashes.
   */
  stack?: string;
}

/** The message of an entry in {@link Job.errors} that records a crash. */
export const CRASH_MESSAGE = "worker lost: the lease expired with no outcome";

/** How many past attempt errors a job keeps; older ones are dropped. */
export const MAX_KEPT_ERRORS = 10;

/** A stored job, as returned by `enqueue`, `get` and `list`. */
export interface Job<Data = Json, Result = Json> {
  /** Unique and increasing in insertion order (a decimal integer, as a string). */
  id: string;
  /** The task that runs it. */
  name: string;
  /** The payload given at enqueue. */
  data: Data;
  status: JobStatus;
  createdAt: Date;
  /** When it may run next; while `dequeued`, when its lease expires. */
  availableAt: Date;
  /** When the latest attempt started. */
  startedAt: Date | null;
  /** When the latest attempt ended (cleared when a new attempt starts). */
  endedAt: Date | null;
  /** When it reached `completed` or `cancelled`. */
  finishedAt: Date | null;
  /** How many times it was claimed (attempts started, not failures). */
  attempts: number;
  /**
   * How many attempts ended with no outcome at all: a claim found the previous attempt's lease expired,
   * so the worker running it died or stalled. Counted apart from handler errors; see `maxCrashes`.
   */
  crashes: number;
  /** What the handler returned, once completed. */
  result: Result | null;
  /** Why the latest attempt failed or why it was cancelled; cleared on completion (see `errors` for history). */
  reason: string | null;
  /** Optional key given at enqueue. */
  label: string | null;
  /** The flow-control group given at enqueue (`group`), e.g. a tenant; null for none. */
  group: string | null;
  /** Higher runs first among jobs that are available. Default 0. */
  priority: number;
  /** Progress the handler reported (any number it chose, typically 0..1). */
  progress: number | null;
  /** The latest failed or crashed attempts, oldest first, at most {@link MAX_KEPT_ERRORS}. */
  errors: JobAttemptError[];
  /**
   * The state the handler last saved with `ctx.checkpoint(state)`, so a later attempt can resume where an
   * earlier one stopped; null when none was saved. Cleared when the job completes.
   */
  checkpoint: Json | null;
}

/**
 * `availableAt` of a job waiting for its parents (`after`): it never becomes available by itself; the
 * transaction that completes its last parent sets it to the job's own place in line.
 */
export const WAITING_FOR_PARENTS_AT = Date.UTC(9999, 11, 31);

/** What `enqueue` returns: the stored job, and whether this call stored it (see unique jobs, `label`). */
export type EnqueuedJob<Data = Json, Result = Json> = Job<Data, Result> & {
  /**
   * True when this call stored nothing new: a job with the same name and label stood (enqueued, dequeued
   * or failed, or completed within the call's `isolation`), and this is that job. With
   * `onDuplicate: "replace"` it may carry this call's data, delay and priority now.
   */
  duplicate: boolean;
};
