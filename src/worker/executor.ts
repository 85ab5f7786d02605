/**
 * Runs one attempt of one job, as a pipeline:
 * start → decode and validate the payload → run the handler → decide the outcome → write it (fenced,
 * retried on store errors) → emit the event.
 *
 * An attempt ends in exactly one way. `settle` guards that: once the lease is lost or the job released
 * at shutdown, whatever the handler does later is dropped (a write would be fenced out anyway).
 * @module
 */
import { backoffDelay } from "../backoff.js";
import { LeaseLostError, LifetimeExceededError, ShutdownError, coerceError, findJobError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import { RetryBackoff } from "../retry-backoff.js";
import { MAX_KEPT_ERRORS, type Job, type JobAttemptError } from "../job.js";
import type { StoredJob, Store } from "../store/store.js";
import type { JobContext, RunningJob, Task } from "../task.js";
import { checkDuration, serializeJson } from "../validate.js";
import type { Completer } from "./completer.js";
import type { Heartbeat, TrackedLease } from "./heartbeat.js";
import type { ErrorReporter } from "../report.js";

/** What an attempt needs from its worker. */
export interface ExecutorDeps {
  readonly store: Store;
  readonly heartbeat: Heartbeat;
  readonly completer: Completer;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  readonly maxPayloadBytes: number;
  /** Called once per attempt when its handler is done (or will not run): its slot is free again. `handlerMs` is how long the handler ran, if it did. */
  readonly onHandlerDone: (attempt: Attempt, handlerMs: number | undefined) => void;
}

type AttemptState = "running" | "lost" | "released" | "done";

/** How the handler ended. */
type HandlerOutcome = { ok: true; value: unknown } | { ok: false; error: Error };

/** Longest reason stored; longer messages are cut (a stack trace pasted as a message, say). */
const MAX_REASON_LENGTH = 2000;
/** After `lifetime` aborted its signal, how long a handler gets to settle before it is abandoned. */
const ABANDON_AFTER_MS = 1000;

/** One attempt of a job in this process. */
export class Attempt {
  readonly job: StoredJob;
  readonly task: Task;
  readonly controller = new AbortController();
  readonly lease: TrackedLease;
  #state: AttemptState = "running";
  #deps: ExecutorDeps;
  #slotFreed = false;
  #started = false;

  constructor(deps: ExecutorDeps, job: StoredJob, task: Task, grantedAt: number) {
    this.#deps = deps;
    this.job = job;
    this.task = task;
    this.lease = deps.heartbeat.track(
      { id: job.id, attempt: job.attempts, leaseMs: task.timeout, onLost: (error) => this.loseLease(error) },
      grantedAt,
    );
  }

  /**
   * Runs the attempt. Resolves when its outcome is written or dropped. Until it is called the job is
   * only held (leased, its lease renewed) in the worker's local buffer.
   */
  start(): Promise<void> {
    this.#started = true;
    return this.#run();
  }

  /** Whether `start` was called (the job left the local buffer). */
  get started(): boolean {
    return this.#started;
  }

  get attempt(): number {
    return this.job.attempts;
  }

  /** The lease is gone: abort the handler, report, and drop whatever it does next. */
  loseLease(error: LeaseLostError): void {
    if (this.#state !== "running") return;
    this.#state = "lost";
    this.#deps.heartbeat.untrack(this.lease);
    this.controller.abort(error);
    this.#deps.report(error, { source: "lease", job: this.job });
    this.#deps.events.emit("job:lease-lost", { job: this.job, error });
  }

  /**
   * Marks the attempt as released at shutdown (the caller writes the release for all attempts in one
   * batch) and aborts the handler. Returns false if the attempt had already ended.
   */
  release(): boolean {
    if (this.#state !== "running") return false;
    this.#state = "released";
    this.#deps.heartbeat.untrack(this.lease);
    this.controller.abort(new ShutdownError("queue closed before the handler finished; the job was released"));
    return true;
  }

  async #run(): Promise<void> {
    const { job, task } = this;
    const { events } = this.#deps;
    const startedAt = performance.now();
    try {
      // Lost (e.g. cancelled) while it waited in the local buffer: nothing to run.
      if (this.#state !== "running") return;
      events.emit("job:start", { job });
      if (task.maxCrashes > 0 && job.crashes >= task.maxCrashes) {
        // Its worker died (or stalled) on every recent attempt: running it again may well kill this one too.
        const reason = `quarantined: its lease expired ${job.crashes} times with no outcome `
          + "(the worker running it died or stalled), reaching maxCrashes";
        this.#deps.report(new Error(reason), { source: "quarantine", job });
        await this.#cancel(reason);
        return;
      }
      if (job.dataError !== undefined) {
        const error = new Error(`payload could not be decoded: ${job.dataError}`);
        this.#deps.report(error, { source: "payload", job });
        await this.#cancel(error.message);
        return;
      }
      let data: unknown = job.data;
      if (task.validate) {
        try {
          data = task.validate(job.data);
        } catch (thrown) {
          // A payload that fails validation now will fail on every retry: cancel rather than loop.
          const error = coerceError(thrown);
          this.#deps.report(error, { source: "payload", job });
          await this.#cancel(`invalid payload: ${error.message}`);
          return;
        }
      }
      const handlerStartedAt = performance.now();
      const outcome = await this.#runHandler(data);
      this.#freeSlot(performance.now() - handlerStartedAt);
      // Lost or released meanwhile: that was reported already, and no outcome of ours may be written.
      if (this.#state !== "running") return;
      const durationMs = performance.now() - startedAt;
      if (!outcome.ok) return await this.#failOrCancel(outcome.error, durationMs);
      let result: string;
      try {
        result = serializeJson(outcome.value === undefined ? null : outcome.value, "result", this.#deps.maxPayloadBytes);
      } catch (error) {
        return await this.#failOrCancel(coerceError(error), durationMs);
      }
      await this.#complete(result, durationMs);
    } finally {
      this.#freeSlot();
      if (this.#state === "running") this.#state = "done";
      this.#deps.heartbeat.untrack(this.lease);
    }
  }

  /**
   * Runs the handler (a synchronous throw counts as a rejection) and enforces `lifetime`: at the limit
   * the signal aborts; a handler still running `ABANDON_AFTER_MS` later is abandoned, and the attempt
   * ends as a failure. The abandoned promise is no longer referenced by anything of ours once it is
   * dropped here, so a handler that never settles leaks neither a slot nor our bookkeeping.
   */
  #runHandler(data: unknown): Promise<HandlerOutcome> {
    const { task } = this;
    return new Promise<HandlerOutcome>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (outcome: HandlerOutcome) => {
        for (const timer of timers) clearTimeout(timer);
        resolve(outcome);
      };
      Promise.resolve()
        .then(() => task.handler(this.#context(data)))
        .then((value) => finish({ ok: true, value }), (thrown: unknown) => finish({ ok: false, error: coerceError(thrown) }));
      const lifetime = task.lifetime;
      if (lifetime === undefined) return;
      timers.push(setTimeout(() => {
        this.controller.abort(new LifetimeExceededError(`handler ran longer than its lifetime of ${lifetime} ms`));
        timers.push(setTimeout(() => finish({
          ok: false,
          error: new LifetimeExceededError(
            `handler ran longer than its lifetime of ${lifetime} ms and ignored its signal for ${ABANDON_AFTER_MS} ms; abandoned`),
        }), ABANDON_AFTER_MS));
      }, lifetime));
    });
  }

  #freeSlot(handlerMs?: number): void {
    if (this.#slotFreed) return;
    this.#slotFreed = true;
    this.#deps.onHandlerDone(this, handlerMs);
  }

  #context(data: unknown): JobContext<unknown> {
    const { store, heartbeat } = this.#deps;
    const { dataError: _unused, ...stored } = this.job;
    const job: RunningJob<unknown> = { ...stored, data, attempt: stored.attempts };
    const ref = { id: this.job.id, attempt: this.job.attempts };
    const ensureLease = () => {
      if (this.#state !== "running") {
        throw this.controller.signal.reason instanceof Error
          ? this.controller.signal.reason
          : new LeaseLostError(ref.id, ref.attempt, "the attempt has ended");
      }
    };
    return {
      job,
      signal: this.controller.signal,
      extend: async (ms: number) => {
        checkDuration(ms, "ms", { min: 1 });
        ensureLease();
        const sentAt = performance.now();
        const extended = await store.jobExtendLeases({ items: [{ ...ref, leaseMs: ms }] });
        if (!extended.has(ref.id)) {
          this.loseLease(new LeaseLostError(ref.id, ref.attempt, "extend found the lease lost"));
          ensureLease();
        }
        this.lease.leaseMs = ms;
        heartbeat.renewed(this.lease, sentAt);
      },
      progress: async (value: number) => {
        if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError("progress must be a finite number");
        ensureLease();
        if (!(await store.jobSetProgress({ ...ref, progress: value }))) {
          this.loseLease(new LeaseLostError(ref.id, ref.attempt, "progress found the lease lost"));
          ensureLease();
        }
      },
    };
  }

  async #complete(result: string, durationMs: number): Promise<void> {
    const written = await this.#write("complete", () => this.#deps.completer.complete({ id: this.job.id, attempt: this.attempt, result }),
      (row) => row.status === "completed");
    if (!written) return;
    const now = new Date();
    const job: Job<unknown, unknown> = {
      ...this.job, status: "completed", result: JSON.parse(result) as unknown, reason: null, endedAt: now, finishedAt: now,
    };
    this.#deps.events.emit("job:complete", { job, result: job.result, durationMs });
  }

  async #failOrCancel(error: Error, durationMs: number): Promise<void> {
    const { task } = this;
    const jobError = findJobError(error);
    if (jobError) {
      if (!jobError.retry) return this.#cancel(jobError.reason);
      return this.#fail(jobError.reason, jobError, durationMs);
    }
    this.#deps.report(error, { source: "handler", job: this.job });
    if (task.maxAttempts > 0 && this.attempt >= task.maxAttempts) {
      return this.#cancel(`gave up after ${this.attempt} attempts (maxAttempts ${task.maxAttempts}): ${messageOf(error)}`);
    }
    return this.#fail(messageOf(error), error, durationMs);
  }

  async #fail(reason: string, error: Error, durationMs: number): Promise<void> {
    const item = {
      id: this.job.id,
      attempt: this.attempt,
      reason: cleanReason(reason),
      delayMs: backoffDelay(this.task.backoff, this.attempt),
      errors: this.#errorsWith(reason),
    };
    let row: StoredJob | null = null;
    const written = await this.#write("fail", async () => (row = await this.#deps.store.jobFail(item)) !== null,
      (current) => current.status === "failed");
    if (written) this.#deps.events.emit("job:fail", { job: row ?? this.job, error, durationMs });
  }

  async #cancel(reason: string): Promise<void> {
    const item = { id: this.job.id, attempt: this.attempt, reason: cleanReason(reason), errors: this.#errorsWith(reason) };
    let row: StoredJob | null = null;
    const written = await this.#write("cancel", async () => (row = await this.#deps.store.jobCancel(item)) !== null,
      (current) => current.status === "cancelled");
    if (written) this.#deps.events.emit("job:cancel", { job: row ?? this.job, reason: item.reason });
  }

  #errorsWith(message: string): string {
    const entry: JobAttemptError = { attempt: this.attempt, at: new Date().toISOString(), message: cleanReason(message) };
    return JSON.stringify([...this.job.errors, entry].slice(-MAX_KEPT_ERRORS));
  }

  /**
   * Writes an outcome, retrying store errors with backoff for as long as the lease may still hold.
   * Returns whether it was written. A write refused by the fence means the lease was lost: reported.
   * After a failed try, a refusal may also mean the earlier try did land (its reply was lost), so the
   * row is read back and `landed` decides.
   */
  async #write(what: string, write: () => Promise<boolean>, landed: (row: StoredJob) => boolean): Promise<boolean> {
    const backoff = new RetryBackoff();
    for (let tries = 0; ; tries++) {
      if (this.#state !== "running") return false;
      try {
        if (await write()) return true;
        if (tries > 0) {
          const row = await this.#deps.store.jobGet({ id: this.job.id });
          if (row && row.attempts === this.attempt && landed(row)) return true;
        }
        this.loseLease(new LeaseLostError(this.job.id, this.attempt, `${what} was not written: the lease was lost`));
        return false;
      } catch (thrown) {
        this.#deps.report(coerceError(thrown), { source: "outcome", job: this.job });
        const delay = backoff.next();
        if (performance.now() + delay >= this.lease.expiresAt) {
          this.loseLease(new LeaseLostError(this.job.id, this.attempt,
            `${what} could not be written before the lease ran out; the job will run again`));
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

function messageOf(error: Error): string {
  return error.message || error.name || "error without a message";
}

/** Reasons go into text columns: PostgreSQL text cannot hold NUL, and a huge message helps nobody. */
function cleanReason(reason: string): string {
  // eslint-disable-next-line no-control-regex
  const text = reason.replace(/\u0000/g, "\uFFFD").toWellFormed();
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH)}…` : text;
}
