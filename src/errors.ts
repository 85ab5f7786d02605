/**
 * The few error classes hewn throws or reports. Each carries a stable `code`.
 * @module
 */
import type { Job, JobStatus } from "./job.js";

/**
 * The stable, machine-readable code of every error hewn creates:
 * - `validation`: bad input at a boundary ({@link ValidationError}); nothing was stored.
 * - `job`: a handler's expected outcome ({@link JobError}).
 * - `lease_lost`: a worker lost a job's lease ({@link LeaseLostError}).
 * - `lifetime`: a handler outran its task's `lifetime` ({@link LifetimeExceededError}).
 * - `shutdown`: the queue closed while a handler ran ({@link ShutdownError}).
 * - `cancelled`: an operator cancelled a running job ({@link JobCancelledError}).
 * - `store`: the database failed ({@link StoreError}).
 * - `closed`: a call on a queue after `close()` ({@link QueueClosedError}).
 * - `not_found`: no job has this id ({@link JobNotFoundError}).
 * - `job_state`: the job is not in a state that allows the call ({@link JobStateError}).
 * - `timeout`: `waitFor` gave up waiting ({@link WaitTimeoutError}).
 */
export type HewnErrorCode =
  | "validation" | "job" | "lease_lost" | "lifetime" | "shutdown" | "cancelled" | "store" | "closed"
  | "not_found" | "job_state" | "timeout";

/** Base class of every error hewn creates itself. */
export class HewnError extends Error {
  /** A stable, machine-readable code. */
  readonly code: HewnErrorCode;

  constructor(code: HewnErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Bad input at a boundary (enqueue arguments, options, task definitions, URLs).
 * Nothing was stored when this is thrown.
 */
export class ValidationError extends HewnError {
  /** The argument or option at fault, e.g. `"data"`, `"options.delay"`, `"workers"`. */
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super("validation", `${field}: ${message}`, options);
    this.field = field;
  }
}

/**
 * Thrown by a handler to end an attempt with an expected outcome: it is not reported to `onError`.
 *
 * - `retry: true` (the default): the job is `failed` and retried after the backoff.
 *   Like axe, this ignores `maxAttempts`, so a handler that always asks to retry retries forever.
 * - `retry: false`: the job is `cancelled` at once with this reason.
 *
 * A `JobError` wrapped as the `cause` of another error (at any depth) is recognised too.
 */
export class JobError extends HewnError {
  /** Why the attempt ended; stored as the job's `reason`. */
  readonly reason: string;
  /** Whether to retry (`failed`) or give up (`cancelled`). */
  readonly retry: boolean;

  constructor(reason: string, options: { retry?: boolean; cause?: unknown } = {}) {
    super("job", reason, { cause: options.cause });
    this.reason = reason;
    this.retry = options.retry ?? true;
  }
}

/**
 * The worker no longer holds the job's lease: another worker claimed it again (or an operator in another
 * process cancelled it), so this attempt's outcome was not written. Reported to `onError`; the handler's `signal` is aborted with it.
 */
export class LeaseLostError extends HewnError {
  readonly jobId: string;
  readonly attempt: number;

  constructor(jobId: string, attempt: number, detail: string) {
    super("lease_lost", `job ${jobId} attempt ${attempt}: ${detail}`);
    this.jobId = jobId;
    this.attempt = attempt;
  }
}

/**
 * An operator cancelled the job (`queue.cancel`) while this process was running it: the handler's
 * `signal` aborts with this error, and whatever the handler does afterwards is dropped. It is not
 * reported to `onError` (a cancel is an outcome, not a fault); the queue emits `job:cancel` once.
 */
export class JobCancelledError extends HewnError {
  readonly jobId: string;
  /** The reason the operator gave (or, from `waitFor`, the job's stored reason). */
  readonly reason: string;
  /**
   * The cancelled job as stored, when `queue.waitFor` rejects with this error (the job ended `cancelled`:
   * an operator, `maxAttempts`, quarantine, `JobError` without retry, or a cancelled parent).
   */
  readonly job: Job | undefined;

  constructor(jobId: string, reason: string, job?: Job) {
    super("cancelled", `job ${jobId} was cancelled: ${reason}`);
    this.jobId = jobId;
    this.reason = reason;
    this.job = job;
  }
}

/**
 * A handler ran longer than its task's `lifetime`: its signal is aborted with this error. If the handler
 * ignores the signal, the attempt is failed with it shortly after and the handler abandoned.
 */
export class LifetimeExceededError extends HewnError {
  constructor(message: string) {
    super("lifetime", message);
  }
}

/** The queue was closed while a job ran: the job was released for another worker and its handler aborted. */
export class ShutdownError extends HewnError {
  constructor(message = "queue is closing") {
    super("shutdown", message);
  }
}

/** A call on a queue after `close()` was called (whatever the call: enqueue, get, list, define, start, …). */
export class QueueClosedError extends HewnError {
  constructor(call: string) {
    super("closed", `queue.${call}(): the queue is closed`);
  }
}

/** A store operation failed (connection lost, constraint violated, …); `cause` holds the driver's error. */
export class StoreError extends HewnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("store", message, options);
  }
}

/** No job has this id (it never existed, or retention or `queue.delete` removed it). */
export class JobNotFoundError extends HewnError {
  readonly jobId: string;

  constructor(jobId: string, detail = "no job has this id") {
    super("not_found", `job ${jobId}: ${detail}`);
    this.jobId = jobId;
  }
}

/**
 * The job exists but its status does not allow the call: `retry` of a job that is not `cancelled`, or
 * `delete` of a job that has not finished (cancel it first).
 */
export class JobStateError extends HewnError {
  readonly jobId: string;
  /** The job's status when the call was refused. */
  readonly status: JobStatus;

  constructor(jobId: string, status: JobStatus, detail: string) {
    super("job_state", `job ${jobId} is ${status}: ${detail}`);
    this.jobId = jobId;
    this.status = status;
  }
}

/** `queue.waitFor` waited `timeout` ms and the job had not finished. The job itself is unaffected. */
export class WaitTimeoutError extends HewnError {
  readonly jobId: string;
  readonly timeout: number;

  constructor(jobId: string, timeout: number) {
    super("timeout", `job ${jobId} did not finish within ${timeout} ms`);
    this.jobId = jobId;
    this.timeout = timeout;
  }
}

/** Turns anything thrown into an `Error`, so every `catch` has something with a message and a stack. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let text: string;
  try {
    text = typeof thrown === "string" ? thrown : JSON.stringify(thrown) ?? String(thrown);
  } catch {
    text = String(thrown);
  }
  return new Error(`non-error thrown: ${text}`);
}

/** Finds a `JobError` in an error or its chain of `cause`s (depth-limited against cycles). */
export function findJobError(error: unknown): JobError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 16 && current instanceof Error; depth++) {
    if (current instanceof JobError) return current;
    current = current.cause;
  }
  return undefined;
}
