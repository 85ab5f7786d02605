/**
 * The end of an attempt: deciding what the handler's end means, writing it, announcing it.
 *
 * - Decide: a return is a completion (its result must serialise); `JobError` fails with backoff or, with
 *   `retry: false`, cancels, unreported; any other throw is reported and fails with backoff, or cancels
 *   once `maxAttempts` is reached. Failures are kept in the job's `errors` with their stack.
 * - Write, fenced on the attempt: completions through the completer (batched with the next claim),
 *   failures and cancels one by one. Store errors are retried (retry-backoff.ts) for as long as the lease
 *   may still hold; a write the fence refuses means the lease was lost, which is the attempt's to report.
 * - Announce: `job:complete`, `job:fail` or `job:cancel`, once the write has landed.
 * @module
 */
import { backoffDelay } from "../backoff.js";
import { LeaseLostError, coerceError, findJobError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import { MAX_KEPT_ERRORS, type Job, type JobAttemptError, type Json } from "../job.js";
import type { ErrorReporter } from "../report.js";
import { RetryBackoff } from "../retry-backoff.js";
import type { Store, StoredJob } from "../store/store.js";
import type { Task } from "../task.js";
import { serializeJson } from "../validate.js";
import type { Completer } from "./completer.js";
import type { Heartbeat, Lease } from "./heartbeat.js";

/** How the handler ended. */
export type HandlerOutcome = { ok: true; value: unknown } | { ok: false; error: Error };

/** The attempt as its outcome sees it. */
export interface Settling {
  readonly job: StoredJob;
  readonly task: Task;
  readonly lease: Lease;
  /** False once the lease was lost, the job released or cancelled: nothing may be written then. */
  readonly live: boolean;
  /** A write was refused by the fence, or could not land before the lease ran out. */
  loseLease(error: LeaseLostError): void;
}

export interface OutcomeDeps {
  readonly store: Store;
  readonly completer: Completer;
  readonly heartbeat: Heartbeat;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  readonly maxPayloadBytes: number;
}

/** Longest reason or message stored; longer ones are cut (a stack trace pasted as a message, say). */
const MAX_REASON_LENGTH = 2000;
/** Longest stack kept with a failure in `errors`. */
const MAX_STACK_LENGTH = 2000;

/** Decides and writes attempts' outcomes. One per worker. */
export class Outcomes {
  readonly #deps: OutcomeDeps;

  constructor(deps: OutcomeDeps) {
    this.#deps = deps;
  }

  /** The handler ended with `outcome`, `durationMs` after the attempt started. */
  async handlerEnded(attempt: Settling, outcome: HandlerOutcome, durationMs: number): Promise<void> {
    if (!outcome.ok) return this.#failOrCancel(attempt, outcome.error, durationMs);
    let result: string;
    try {
      result = serializeJson(outcome.value === undefined ? null : outcome.value, "result", this.#deps.maxPayloadBytes);
    } catch (error) {
      return this.#failOrCancel(attempt, coerceError(error), durationMs);
    }
    return this.#complete(attempt, result, durationMs);
  }

  /** Cancels the attempt's job for good with `reason`; `error`, if given, is kept in `errors` with its stack. */
  async cancel(attempt: Settling, reason: string, error?: Error): Promise<void> {
    const { job } = attempt;
    const item = { id: job.id, attempt: job.attempts, reason: cleanText(reason, MAX_REASON_LENGTH), errors: errorsWith(job, reason, error) };
    let row: StoredJob | null = null;
    const written = await this.#write(attempt, "cancel", async () => (row = await this.#deps.store.jobCancel(item)) !== null,
      (current) => current.status === "cancelled");
    if (written) this.#deps.events.emit("job:cancel", { job: row ?? job, reason: item.reason });
  }

  async #complete(attempt: Settling, result: string, durationMs: number): Promise<void> {
    const { job } = attempt;
    const written = await this.#write(attempt, "complete",
      () => this.#deps.completer.complete({ id: job.id, attempt: job.attempts, result }),
      (row) => row.status === "completed");
    if (!written) return;
    const now = new Date();
    const completed: Job = {
      ...job, status: "completed", result: JSON.parse(result) as Json, reason: null, endedAt: now, finishedAt: now,
    };
    this.#deps.events.emit("job:complete", { job: completed, result: completed.result, durationMs });
  }

  async #failOrCancel(attempt: Settling, error: Error, durationMs: number): Promise<void> {
    const { job, task } = attempt;
    const jobError = findJobError(error);
    if (jobError) {
      if (!jobError.retry) return this.cancel(attempt, jobError.reason);
      return this.#fail(attempt, jobError.reason, jobError, durationMs);
    }
    this.#deps.report(error, { source: "handler", job });
    if (task.maxAttempts > 0 && job.attempts >= task.maxAttempts) {
      return this.cancel(attempt, `gave up after ${job.attempts} attempts (maxAttempts ${task.maxAttempts}): ${messageOf(error)}`, error);
    }
    return this.#fail(attempt, messageOf(error), error, durationMs);
  }

  async #fail(attempt: Settling, reason: string, error: Error, durationMs: number): Promise<void> {
    const { job, task } = attempt;
    // A JobError is an expected outcome: its reason says it all, its stack would only be noise.
    const detail = findJobError(error) ? undefined : error;
    const item = {
      id: job.id,
      attempt: job.attempts,
      reason: cleanText(reason, MAX_REASON_LENGTH),
      delayMs: backoffDelay(task.backoff, job.attempts),
      errors: errorsWith(job, reason, detail),
    };
    let row: StoredJob | null = null;
    const written = await this.#write(attempt, "fail", async () => (row = await this.#deps.store.jobFail(item)) !== null,
      (current) => current.status === "failed");
    if (written) this.#deps.events.emit("job:fail", { job: row ?? job, error, durationMs });
  }

  /**
   * Writes an outcome, retrying store errors with backoff for as long as the lease may still hold.
   * Returns whether it was written. A write refused by the fence means the lease was lost. After a failed
   * try, a refusal may also mean the earlier try did land (its reply was lost), so the row is read back
   * and `landed` decides.
   */
  async #write(attempt: Settling, what: string, write: () => Promise<boolean>, landed: (row: StoredJob) => boolean): Promise<boolean> {
    const { job, lease } = attempt;
    let backoff: RetryBackoff | undefined;
    for (let tries = 0; ; tries++) {
      if (!attempt.live) return false;
      try {
        if (await write()) return true;
        if (tries > 0) {
          const row = await this.#deps.store.jobGet({ id: job.id });
          if (row && row.attempts === job.attempts && landed(row)) return true;
        }
        attempt.loseLease(new LeaseLostError(job.id, job.attempts, `${what} was not written: the lease was lost`));
        return false;
      } catch (thrown) {
        this.#deps.report(coerceError(thrown), { source: "outcome", job });
        const delay = (backoff ??= new RetryBackoff()).next();
        if (!this.#deps.heartbeat.holdsFor(lease, delay)) {
          attempt.loseLease(new LeaseLostError(job.id, job.attempts,
            `${what} could not be written before the lease ran out; the job will run again`));
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/** The job's `errors` with one more entry for this attempt, as the JSON text the store writes. */
function errorsWith(job: StoredJob, message: string, error: Error | undefined): string {
  const entry: JobAttemptError = { attempt: job.attempts, at: new Date().toISOString(), message: cleanText(message, MAX_REASON_LENGTH) };
  if (error?.stack) entry.stack = cleanText(error.stack, MAX_STACK_LENGTH);
  return JSON.stringify([...job.errors, entry].slice(-MAX_KEPT_ERRORS));
}

function messageOf(error: Error): string {
  return error.message || error.name || "error without a message";
}

/** Text for the store: PostgreSQL text cannot hold NUL, and a huge message helps nobody. */
function cleanText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\u0000/g, "\uFFFD").toWellFormed();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
