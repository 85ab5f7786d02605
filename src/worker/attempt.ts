/**
 * One attempt of one job in this process, from its claim to its outcome, as a pipeline:
 *
 *   held (claimed, lease kept, waiting for a slot) → start → check the job may run (quarantine) →
 *   decode and validate the payload → run the handler (bounded by `lifetime`) → decide the outcome and
 *   write it, fenced (outcome.ts) → emit
 *
 * An attempt ends in exactly one way. Besides its own end (`done`), three things can end it from outside,
 * each once and each with its own reason on the handler's signal:
 * - `lost`: the lease is gone (another worker took the job, an operator in another process cancelled it, or
 *   a write could not land in time). Reported to `onError` and emitted as `job:lease-lost`.
 * - `released`: the worker hands the job back (shutdown, or to let a suspect run alone). The caller
 *   writes the release; the signal aborts with a `ShutdownError`.
 * - `cancelled`: an operator cancelled the job (`queue.cancel`). Nothing is reported here: the cancel is
 *   the operator's, and the queue emits its one `job:cancel`. The signal aborts with a `JobCancelledError`.
 * From then on whatever the handler does is dropped: nothing is written (the fence would refuse it anyway)
 * and nothing more is reported.
 * @module
 */
import { LifetimeExceededError, ShutdownError, coerceError, type JobCancelledError, type LeaseLostError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { ErrorReporter } from "../report.js";
import type { Store, StoredJob } from "../store/store.js";
import type { JobContext, Task } from "../task.js";
import { createContext } from "./context.js";
import { toRunningJob } from "../store/row.js";
import type { Heartbeat, Lease } from "./heartbeat.js";
import type { HandlerOutcome, Outcomes } from "./outcome.js";
import type { AttemptOutcome, AttemptSpan, TracingSlot } from "../tracing/hooks.js";

/** What every attempt of a worker shares; built once per worker. */
export interface AttemptDeps {
  readonly store: Store;
  /** Largest checkpoint and transaction result accepted, in bytes of JSON. */
  readonly maxPayloadBytes: number;
  readonly heartbeat: Heartbeat;
  readonly outcomes: Outcomes;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  /** The queue's tracer slot: read once per attempt; empty, nothing else is done for tracing. */
  readonly tracing: TracingSlot;
  /**
   * Called once per started attempt when its handler is done (or will not run): its slot is free again.
   * `handlerMs` is how long the handler ran, if it did. The outcome may still be on its way to the store.
   */
  readonly onHandlerDone: (attempt: Attempt, handlerMs: number | undefined) => void;
}

/** `committed`: `ctx.transaction` wrote the completion; nothing else may be written for this attempt. */
type AttemptState = "live" | "done" | "lost" | "released" | "cancelled" | "committed";

/** After `lifetime` aborted its signal, how long a handler gets to settle before it is abandoned. */
const ABANDON_AFTER_MS = 1000;

export class Attempt {
  readonly job: StoredJob;
  readonly task: Task;
  readonly lease: Lease;
  readonly #deps: AttemptDeps;
  /**
   * Made on first use of `signal`: most handlers never read it, and an AbortController per job was a
   * noticeable share of a busy worker's CPU. `#abortedWith` keeps the reason until then.
   */
  #controller: AbortController | undefined;
  #abortedWith: { reason: Error } | undefined;
  #state: AttemptState = "live";
  /** What `ctx.transaction` committed, announced once the handler returns. */
  #committed: { job: StoredJob; result: unknown } | undefined;
  #started = false;
  #slotFreed = false;
  /** The attempt's span, when a tracer is installed. */
  #span: AttemptSpan | undefined;

  /** A job claimed by a write sent at local time `grantedAt`; its lease is kept from now on. */
  constructor(deps: AttemptDeps, job: StoredJob, task: Task, grantedAt: number) {
    this.#deps = deps;
    this.job = job;
    this.task = task;
    this.lease = deps.heartbeat.track({ id: job.id, attempt: job.attempts }, task.timeout, grantedAt, (error) => this.loseLease(error));
  }

  /** The attempt number (the job's `attempts` right after the claim). */
  get attempt(): number {
    return this.job.attempts;
  }

  /** Whether the attempt left the local buffer (`start` was called). */
  get started(): boolean {
    return this.#started;
  }

  /** Whether it still holds its lease and may write an outcome. */
  get live(): boolean {
    return this.#state === "live";
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortedWith) this.#controller.abort(this.#abortedWith.reason);
    }
    return this.#controller.signal;
  }

  /** Runs the attempt. Resolves once its outcome is written or dropped. */
  start(): Promise<void> {
    this.#started = true;
    return this.#run();
  }

  /** The lease is gone: abort the handler, report, and drop whatever it does next. */
  loseLease(error: LeaseLostError): void {
    if (!this.#end("lost", error)) return;
    this.#deps.report(error, { source: "lease", job: this.job });
    this.#deps.events.emit("job:lease-lost", { job: this.job, error });
  }

  /**
   * The worker hands the job back (it writes the release itself, for many attempts at once); a running
   * handler's signal aborts. False if the attempt had already ended.
   */
  release(): boolean {
    return this.#end("released", new ShutdownError("queue closed before the handler finished; the job was released"));
  }

  /** An operator cancelled the job: the handler's signal aborts with `error`; nothing is reported. */
  cancel(error: JobCancelledError): void {
    this.#end("cancelled", error);
  }

  /**
   * `ctx.transaction` committed the completion: the attempt is over for the store (no more renewals, no
   * other outcome); its handler runs on undisturbed, and `job:complete` follows when it returns.
   */
  committed(job: StoredJob, result: unknown): void {
    if (this.#state !== "live") return;
    this.#state = "committed";
    this.#committed = { job, result };
    this.#deps.heartbeat.untrack(this.lease);
  }

  #end(state: Exclude<AttemptState, "live" | "done" | "committed">, reason: Error): boolean {
    if (this.#state !== "live") return false;
    this.#state = state;
    this.#deps.heartbeat.untrack(this.lease);
    this.#abort(reason);
    return true;
  }

  /** Aborts the handler's signal with `reason` (the first reason only, as an AbortController does). */
  #abort(reason: Error): void {
    if (this.#abortedWith) return;
    this.#abortedWith = { reason };
    this.#controller?.abort(reason);
  }

  async #run(): Promise<void> {
    const { job, task } = this;
    const { events, outcomes, report } = this.#deps;
    const startedAt = performance.now();
    this.#span = this.#deps.tracing.hooks?.attempt(job);
    let handled: HandlerOutcome | undefined;
    try {
      // Cancelled or lost while it waited in the local buffer: nothing to run.
      if (!this.live) return;
      events.emit("job:start", { job });
      if (task.maxCrashes > 0 && job.crashes >= task.maxCrashes) {
        // Its worker died (or stalled) on every recent attempt: running it again may well kill this one too.
        const reason = `quarantined: its lease expired ${job.crashes} times with no outcome `
          + "(the worker running it died or stalled), reaching maxCrashes";
        report(new Error(reason), { source: "quarantine", job });
        return await outcomes.cancel(this, reason);
      }
      const data = this.#payload();
      if ("reason" in data) {
        report(data.error, { source: "payload", job });
        return await outcomes.cancel(this, data.reason, data.error);
      }
      const handlerStartedAt = performance.now();
      const outcome = await this.#runHandler(data.value);
      handled = outcome;
      this.#freeSlot(performance.now() - handlerStartedAt);
      // Completed by ctx.transaction: already written; what the handler did afterwards does not count.
      if (this.#committed) return events.emit("job:complete", { ...this.#committed, durationMs: performance.now() - startedAt });
      // Lost, released or cancelled meanwhile: already dealt with, and no outcome of ours may be written.
      if (!this.live) return;
      await outcomes.handlerEnded(this, outcome, performance.now() - startedAt);
    } finally {
      this.#freeSlot();
      if (this.#span !== undefined) this.#endSpan(this.#span, handled);
      if (this.#state === "live") this.#state = "done";
      this.#deps.heartbeat.untrack(this.lease);
    }
  }

  /** The payload to hand the handler: decoded and validated; a payload that fails will fail on every retry. */
  #payload(): { value: unknown } | { reason: string; error: Error } {
    const { job, task } = this;
    if (job.dataError !== undefined) {
      const error = new Error(`payload could not be decoded: ${job.dataError}`);
      return { reason: error.message, error };
    }
    if (!task.validate) return { value: job.data };
    try {
      return { value: task.validate(job.data) };
    } catch (thrown) {
      const error = coerceError(thrown);
      return { reason: `invalid payload: ${error.message}`, error };
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
    const context = this.#context(data);
    return new Promise<HandlerOutcome>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (outcome: HandlerOutcome) => {
        for (const timer of timers) clearTimeout(timer);
        resolve(outcome);
      };
      Promise.resolve()
        .then(() => (this.#span === undefined ? task.handler(context) : this.#span.run(() => task.handler(context))))
        .then((value) => finish({ ok: true, value }), (thrown: unknown) => finish({ ok: false, error: coerceError(thrown) }));
      const lifetime = task.lifetime;
      if (lifetime === undefined) return;
      timers.push(setTimeout(() => {
        this.#abort(new LifetimeExceededError(`handler ran longer than its lifetime of ${lifetime} ms`));
        timers.push(setTimeout(() => finish({
          ok: false,
          error: new LifetimeExceededError(
            `handler ran longer than its lifetime of ${lifetime} ms and ignored its signal for ${ABANDON_AFTER_MS} ms; abandoned`),
        }), ABANDON_AFTER_MS));
      }, lifetime));
    });
  }

  #context(data: unknown): JobContext<unknown> {
    return createContext(this, toRunningJob(this.job, data), this.#deps);
  }

  /** The span's outcome: the attempt's own end if something ended it from outside, else the handler's. */
  #endSpan(span: AttemptSpan, handled: HandlerOutcome | undefined): void {
    const ended: Partial<Record<AttemptState, AttemptOutcome>> = {
      lost: "lease-lost", released: "released", cancelled: "cancelled", committed: "completed",
    };
    const outside = ended[this.#state];
    // No handler outcome and nothing from outside: quarantined or a bad payload, so the job was cancelled.
    if (outside !== undefined || handled === undefined) return span.end(outside ?? "cancelled");
    if (handled.ok) return span.end("completed");
    span.end("failed", handled.error);
  }

  #freeSlot(handlerMs?: number): void {
    if (this.#slotFreed) return;
    this.#slotFreed = true;
    this.#deps.onHandlerDone(this, handlerMs);
  }
}
