/**
 * Tasks: a name, a handler and the policy for running it.
 * @module
 */
import type { Job, Json } from "./job.js";
import type { BackoffPolicy } from "./backoff.js";
import { ValidationError } from "./errors.js";
import { checkDuration, checkInteger, checkKnownKeys, checkOptionsObject } from "./validate.js";
import { FLOW_OPTION_KEYS, resolveFlow, type FlowLimits, type RateLimit } from "./flow/limits.js";

/** The job as a handler sees it: a claimed job plus the number of this attempt. */
export interface RunningJob<Data = Json> extends Job<Data, unknown> {
  /** This attempt's number (1 = first run); equal to `attempts` at claim time. */
  readonly attempt: number;
}

/** What a handler receives. */
export interface JobContext<Data = Json> {
  /** The claimed job, payload included. */
  readonly job: RunningJob<Data>;
  /**
   * Aborted when this attempt should stop; its `reason` says why: the lease was lost (`LeaseLostError`:
   * another worker may run the job now), an operator cancelled the job in this process
   * (`JobCancelledError`), the handler outran its `lifetime` (`LifetimeExceededError`), or the queue is
   * closing and the grace period ran out (`ShutdownError`). Pass it to anything that accepts one.
   */
  readonly signal: AbortSignal;
  /**
   * Pushes the lease to `ms` from now and uses `ms` as the lease length from then on.
   * Leases are already renewed automatically while the handler runs; use this when a step needs
   * a longer lease than the task's `timeout`. Rejects with `LeaseLostError` if the lease was lost.
   */
  extend(ms: number): Promise<void>;
  /** Records progress on the job (any finite number; 0..1 by convention). Rejects with `LeaseLostError` if the lease was lost. */
  progress(value: number): Promise<void>;
  /**
   * The jobs this one runs after (enqueued with `after`), in id order, each completed with its `result`.
   * A parent deleted since (retention's `removeAfter`, `queue.delete`) is missing.
   */
  parents<Result = Json>(): Promise<Array<Job<Json, Result>>>;
  /**
   * Stores a small JSON state on the job (fenced like every write; at most the queue's `maxPayloadBytes`),
   * so a later attempt of the same job can resume from it: it reads `ctx.job.checkpoint`. Cleared when the
   * job completes. Rejects with `LeaseLostError` if the lease was lost.
   */
  checkpoint(state: Json): Promise<void>;
  /**
   * A job-scoped transaction, for a job whose effects are writes to the queue's own database: `fn`'s writes
   * and the job's completion commit together or not at all, so they take effect exactly once even if the
   * process dies midway. `fn`'s return value is the job's result (JSON, as a handler's).
   * - PostgreSQL: `tx` is a `pg` client (of hewn's pool) inside BEGIN; `fn` may be async. Do not COMMIT or
   *   ROLLBACK it yourself.
   * - SQLite: `tx` is the queue's better-sqlite3 handle inside BEGIN IMMEDIATE, and `fn` must be
   *   synchronous: a returned promise is a `ValidationError` on `fn` and nothing is committed.
   *
   * Once it resolves, the job is completed: what the handler returns or throws afterwards is ignored.
   * A throw inside `fn` rolls back and is rethrown (the attempt fails as any throw does). If the lease was
   * lost, everything is rolled back and it rejects with `LeaseLostError`. Annotate `tx` with your driver's
   * type: `ctx.transaction(async (tx: pg.PoolClient) => …)`.
   */
  transaction<T, Tx = unknown>(fn: (tx: Tx) => T | Promise<T>): Promise<T>;
}

/**
 * Runs one attempt of a job. Its return value (JSON-serialisable, or undefined → null) becomes the
 * job's `result`. Throw `JobError` for an expected failure; any other throw is reported and retried.
 */
export type Handler<Data = Json, Result = unknown> = (ctx: JobContext<Data>) => Result | Promise<Result>;

/** How a task's jobs run. Durations in ms. */
export interface TaskOptions<Data = Json> {
  /** Jobs of this task run at most this many at once in this process. Default 2. */
  workers?: number;
  /** Attempts before a job that keeps throwing plain errors is cancelled; 0 = unlimited (default). */
  maxAttempts?: number;
  /** First retry delay. Default 1 000. */
  minDelay?: number;
  /** Longest retry delay. Default 600 000 (10 min). */
  maxDelay?: number;
  /** Each retry waits this many times longer than the one before. Default 2; at least 1. */
  delayFactor?: number;
  /** Randomise each retry delay downwards by up to this fraction (0..1). Default 0. */
  jitter?: number;
  /**
   * The lease: how long a claimed job stays reserved for its worker. It is renewed automatically while
   * the handler runs (every third of it), so it does not bound how long a handler may run (see
   * `lifetime`); it bounds how long a crashed worker's job waits before another worker takes it.
   * Default 30 000 (30 s). (axe's 10 minutes made sense without renewal; with it, a short lease only
   * costs a renewal write every 10 s per running job.)
   */
  timeout?: number;
  /**
   * The longest a handler may run, in ms. Default: no limit. When it is reached the handler's `signal`
   * aborts with a `LifetimeExceededError`; a handler that settles soon after is handled as usual (a throw
   * is retried). One that ignores its signal is abandoned a moment later: the attempt is written as a
   * failure (retried per `maxAttempts`), its slot is freed, and whatever it does afterwards is dropped.
   */
  lifetime?: number;
  /**
   * Quarantine: a job whose lease expired with no outcome this many times (its worker process died or
   * stalled while running it — e.g. a payload that crashes the process) is cancelled instead of being run
   * again, so one poison job cannot kill workers forever. Counted in the job's `crashes`, apart from handler
   * errors. Default 5; 0 = never quarantine. A job that crashed twice (or whose next crash would reach
   * `maxCrashes`) runs alone in its process, so the jobs that crashed beside a poison job are never
   * quarantined with it; a job that crashed once runs as usual.
   */
  maxCrashes?: number;
  /**
   * How often an idle worker looks for jobs that other processes enqueued, as a fallback to wake-ups.
   * Default: 1 000 on PostgreSQL (LISTEN/NOTIFY wakes workers at once), 200 on SQLite.
   */
  interval?: number;
  /**
   * Checks and converts the payload before the handler runs; a throw cancels the job at once
   * (a payload that is invalid now will be invalid on every retry). Return the value to hand the handler.
   */
  validate?: (data: unknown) => Data;
  /**
   * At most this many jobs of this task run at once across all processes (`workers` stays the cap per
   * process). Enforced by the store at claim time from live leases: a crashed process's jobs stop
   * counting when their leases expire. Every process defining the task must give the same limits.
   * See docs/flow-control.md.
   */
  concurrency?: number;
  /** At most this many jobs of one `group` (an enqueue option) run at once across all processes. */
  groupConcurrency?: number;
  /**
   * At most `limit` jobs start in any sliding window of `per` ms across all processes (of each group
   * with `byGroup`). Jobs over the limit wait; they are not failed and their attempts do not grow.
   */
  rateLimit?: RateLimit;
}

/** A task with every option resolved. Internal. */
export interface Task {
  readonly name: string;
  readonly handler: Handler<unknown, unknown>;
  readonly workers: number;
  readonly maxAttempts: number;
  readonly maxCrashes: number;
  readonly lifetime: number | undefined;
  readonly backoff: BackoffPolicy;
  readonly timeout: number;
  readonly interval: number | undefined;
  readonly validate: ((data: unknown) => unknown) | undefined;
  /** Flow limits (and fair order across groups); undefined for an unlimited task, which keeps the plain claim. */
  readonly flow: FlowLimits | undefined;
}

const TASK_OPTION_KEYS = [
  "workers", "maxAttempts", "maxCrashes", "minDelay", "maxDelay", "delayFactor", "jitter", "timeout", "lifetime",
  "interval", "validate", ...FLOW_OPTION_KEYS,
] as const;

/** The defaults: axe's, except the lease (`timeout`), which hewn renews and so can keep short. */
export const TASK_DEFAULTS = {
  workers: 2,
  maxAttempts: 0,
  maxCrashes: 5,
  minDelay: 1_000,
  maxDelay: 600_000,
  delayFactor: 2,
  jitter: 0,
  timeout: 30_000,
} as const;

/** Validates a task definition and fills in defaults. Throws `ValidationError`. */
export function resolveTask(name: string, handler: unknown, options: TaskOptions<unknown> | undefined): Task {
  if (typeof handler !== "function") throw new ValidationError("handler", "must be a function");
  const given = checkOptionsObject(options, "taskOptions");
  checkKnownKeys(given, TASK_OPTION_KEYS, "taskOptions");
  const workers = checkInteger(given.workers ?? TASK_DEFAULTS.workers, "taskOptions.workers", 1, 10_000);
  const maxAttempts = checkInteger(given.maxAttempts ?? TASK_DEFAULTS.maxAttempts, "taskOptions.maxAttempts", 0, 1_000_000);
  const maxCrashes = checkInteger(given.maxCrashes ?? TASK_DEFAULTS.maxCrashes, "taskOptions.maxCrashes", 0, 1_000_000);
  const lifetime =
    given.lifetime === undefined ? undefined : checkDuration(given.lifetime, "taskOptions.lifetime", { min: 1 });
  const minDelay = checkDuration(given.minDelay ?? TASK_DEFAULTS.minDelay, "taskOptions.minDelay", { min: 0 });
  const maxDelay = checkDuration(given.maxDelay ?? TASK_DEFAULTS.maxDelay, "taskOptions.maxDelay", { min: 0 });
  if (minDelay > maxDelay) {
    throw new ValidationError("taskOptions.minDelay", `must not exceed maxDelay (${minDelay} > ${maxDelay})`);
  }
  const delayFactor = given.delayFactor ?? TASK_DEFAULTS.delayFactor;
  if (typeof delayFactor !== "number" || !Number.isFinite(delayFactor) || delayFactor < 1) {
    throw new ValidationError("taskOptions.delayFactor", `must be a finite number of at least 1, got ${String(delayFactor)}`);
  }
  const jitter = given.jitter ?? TASK_DEFAULTS.jitter;
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
    throw new ValidationError("taskOptions.jitter", `must be a number between 0 and 1, got ${String(jitter)}`);
  }
  const timeout = checkDuration(given.timeout ?? TASK_DEFAULTS.timeout, "taskOptions.timeout", { min: 1 });
  const interval =
    given.interval === undefined ? undefined : checkDuration(given.interval, "taskOptions.interval", { min: 1 });
  if (given.validate !== undefined && typeof given.validate !== "function") {
    throw new ValidationError("taskOptions.validate", "must be a function");
  }
  return {
    name,
    handler: handler as Handler<unknown, unknown>,
    workers,
    maxAttempts,
    maxCrashes,
    lifetime,
    backoff: { minDelay, maxDelay, delayFactor, jitter },
    timeout,
    interval,
    validate: given.validate,
    flow: resolveFlow(given),
  };
}
