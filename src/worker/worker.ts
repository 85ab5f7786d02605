/**
 * The worker side of a queue in one process: wiring only. Jobs flow one way:
 *
 *   fetch loop (claims) ─► isolation (suspects run alone) ─► slots (capacity, local buffer) ─► attempt
 *   (runs the handler) ─► outcomes (decided, written fenced) ─► completer (batched into the next claim)
 *
 * The heartbeat keeps the leases of every job the process holds; releases hand jobs back (at shutdown,
 * or to make way for a suspect); the listener wakes the fetch loop when another process enqueues.
 * Each part owns one concern and says so at its top; this file only connects them, starts them, and
 * shuts them down in order.
 * @module
 */
import { JobCancelledError, coerceError } from "../errors.js";
import type { DirectClaim, DirectClaimSource } from "../enqueue/direct-claim.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { ErrorReporter } from "../report.js";
import type { Store, StoredJob } from "../store/store.js";
import type { Task } from "../task.js";
import type { TracingSlot } from "../tracing/hooks.js";
import { Attempt, type AttemptDeps } from "./attempt.js";
import { Completer } from "./completer.js";
import { FetchLoop } from "./fetch-loop.js";
import { Heartbeat } from "./heartbeat.js";
import { Isolation } from "./isolation.js";
import { Outcomes } from "./outcome.js";
import { Releases } from "./release.js";
import { Slots } from "./slots.js";

export interface WorkerDeps {
  readonly store: Store;
  /** The queue's tasks; read on every round, so tasks defined after start are served too. */
  readonly tasks: ReadonlyMap<string, Task>;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  readonly maxPayloadBytes: number;
  /** The queue's tracer slot (see src/tracing/hooks.ts); absent: never traced. */
  readonly tracing?: TracingSlot;
}

export class Worker implements DirectClaimSource {
  readonly #deps: WorkerDeps;
  readonly #heartbeat: Heartbeat;
  readonly #releases: Releases;
  readonly #slots: Slots;
  readonly #isolation: Isolation;
  readonly #loop: FetchLoop;
  /** What every attempt gets; built once, not per claimed job. */
  readonly #attemptDeps: AttemptDeps;
  /** Attempts not yet over (buffered, running, or writing their outcome), by job id. */
  readonly #attempts = new Map<string, Attempt>();
  #stopListening: (() => Promise<void>) | undefined;
  /** Resolves `close`'s wait once no attempt is left. */
  #idle: (() => void) | undefined;
  #closing = false;

  constructor(deps: WorkerDeps) {
    const { store, tasks, events, report, maxPayloadBytes } = deps;
    this.#deps = deps;
    this.#heartbeat = new Heartbeat(store, (error) => report(error, { source: "heartbeat" }));
    const completer = new Completer(store);
    this.#attemptDeps = {
      store,
      maxPayloadBytes,
      heartbeat: this.#heartbeat,
      outcomes: new Outcomes({ store, completer, heartbeat: this.#heartbeat, events, report, maxPayloadBytes }),
      events,
      report,
      tracing: deps.tracing ?? { hooks: undefined },
      onHandlerDone: (attempt, handlerMs) => this.#handlerDone(attempt, handlerMs),
    };
    this.#releases = new Releases({
      store, events, report,
      onReleased: (attempt) => this.#forget(attempt),
      onLanded: () => this.#isolation.check(),
    });
    this.#slots = new Slots({
      tasks,
      maxRounds: store.capabilities.maxConcurrentRounds,
      gate: () => !this.#closing && this.#isolation.open,
      run: (attempt) => this.#run(attempt),
      adopt: (job, grantedAt) => this.#claimed([job], grantedAt),
      wake: () => this.wake(),
    });
    this.#isolation = new Isolation({
      slots: this.#slots,
      handBack: (attempts) => void this.#releases.release(attempts, "isolation"),
      handingBack: () => this.#releases.inFlight,
      wake: () => this.wake(),
    });
    this.#loop = new FetchLoop({
      store,
      completer,
      maxRounds: store.capabilities.maxConcurrentRounds,
      requests: () => this.#isolation.requests(),
      claimed: (jobs, requests, grantedAt, heldBack) => {
        this.#slots.unreserve(requests);
        this.#claimed(jobs, grantedAt);
        // A paused task's jobs waiting in the local buffer must not start either: back they go.
        for (const { name, paused } of heldBack) if (paused) void this.#releases.release(this.#slots.takeBufferedOf(name), "pause");
      },
      claimFailed: (requests) => {
        this.#slots.unreserve(requests);
        this.#isolation.claimFailed();
        this.#isolation.check();
      },
      pollInterval: () => this.#pollInterval(),
      report,
    });
  }

  /** Starts listening for wake-ups (resolves once listening) and claiming. */
  async start(): Promise<void> {
    const { store, tasks, report } = this.#deps;
    if (store.capabilities.crossProcessWakeups) {
      this.#stopListening = await store.listen({ names: [...tasks.keys()], onWake: () => this.wake(), onError: (error) => report(error, { source: "listen" }) });
    }
    this.#loop.start();
  }

  /** Jobs may be available: claim now rather than at the next poll. */
  wake(): void {
    this.#loop.wake();
  }

  /** A free slot for a job this process is enqueueing now, if there is one (see slots.ts). */
  reserveDirect(name: string): DirectClaim | undefined {
    return this.#slots.reserveDirect(name);
  }

  /**
   * An operator cancelled job `id` (the store already says so): if this process holds it, its handler's
   * signal aborts with a `JobCancelledError` and its outcome is dropped. Nothing is reported or emitted here.
   */
  cancel(id: string, reason: string): void {
    this.#attempts.get(id)?.cancel(new JobCancelledError(id, reason));
  }

  /**
   * Stops claiming, hands jobs that never started back at once, waits up to `graceMs` for running
   * attempts to finish, then releases the rest so another worker can take them at once, and aborts
   * their handlers.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.#isolation.close();
    await this.#loop.stop();
    await this.#stopListening?.().catch((error: unknown) => this.#deps.report(coerceError(error), { source: "listen" }));
    // Every attempt not started yet (buffered, a suspect waiting its turn) goes back at once; the buffer is done with.
    this.#slots.takeBuffered();
    await this.#releases.release([...this.#attempts.values()].filter((attempt) => !attempt.started), "shutdown");
    if (this.#attempts.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => (this.#idle = resolve));
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, graceOver]);
      clearTimeout(timer);
      await this.#releases.release([...this.#attempts.values()], "shutdown");
    }
    // Hand-backs still on their way (for isolation, or of a direct claim that landed late) must land before the store closes.
    await this.#releases.settled();
    this.#heartbeat.stop();
  }

  /** Jobs a round claimed (or one claimed directly), held from now on. */
  #claimed(jobs: StoredJob[], grantedAt: number): void {
    const attempts: Attempt[] = [];
    for (const job of jobs) {
      const task = this.#deps.tasks.get(job.name);
      if (!task) continue; // cannot happen: only names with a task are claimed
      const attempt = new Attempt(this.#attemptDeps, job, task, grantedAt);
      this.#attempts.set(job.id, attempt);
      attempts.push(attempt);
    }
    // Claimed while closing (a direct claim landing late): straight back.
    if (this.#closing) void this.#releases.release(attempts, "shutdown");
    else this.#isolation.admit(attempts);
    this.#isolation.check();
  }

  #run(attempt: Attempt): void {
    void attempt.start().then(
      () => this.#forget(attempt),
      (error: unknown) => {
        this.#deps.report(coerceError(error), { source: "outcome", job: attempt.job });
        this.#forget(attempt);
      },
    );
  }

  #handlerDone(attempt: Attempt, handlerMs: number | undefined): void {
    this.#slots.handlerDone(attempt, handlerMs);
    this.#isolation.handlerDone(attempt);
    this.#isolation.check();
  }

  #pollInterval(): number {
    let interval = Infinity;
    for (const task of this.#deps.tasks.values()) interval = Math.min(interval, task.interval ?? Infinity);
    return Number.isFinite(interval) ? interval : this.#deps.store.capabilities.defaultPollInterval;
  }

  /** The attempt is over: outcome written, dropped or released. */
  #forget(attempt: Attempt): void {
    if (this.#attempts.get(attempt.job.id) !== attempt) return;
    this.#attempts.delete(attempt.job.id);
    if (this.#attempts.size === 0) this.#idle?.();
  }
}
