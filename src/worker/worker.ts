/**
 * The worker side of a queue in one process: the fetch loop, the attempts it runs, the heartbeat that
 * keeps their leases, the completer that batches their outcomes, and the wake-up listener.
 * @module
 */
import { coerceError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { ClaimRequest, Store, StoredJob } from "../store/store.js";
import type { Task } from "../task.js";
import { Completer } from "./completer.js";
import { Attempt } from "./executor.js";
import { FetchLoop } from "./fetch-loop.js";
import { Heartbeat } from "./heartbeat.js";
import type { ErrorReporter } from "./report.js";

export interface WorkerDeps {
  readonly store: Store;
  /** The queue's tasks; read on every round, so tasks defined after start are served too. */
  readonly tasks: ReadonlyMap<string, Task>;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  readonly maxPayloadBytes: number;
}

export class Worker {
  readonly #deps: WorkerDeps;
  readonly #heartbeat: Heartbeat;
  readonly #completer: Completer;
  readonly #loop: FetchLoop;
  /** Attempts whose outcome is not yet settled, by job id. */
  readonly #attempts = new Map<string, Attempt>();
  /** Handlers running per task name: what the slots count. */
  readonly #busy = new Map<string, number>();
  #stopListening: (() => Promise<void>) | undefined;
  #idle: (() => void) | undefined;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.#heartbeat = new Heartbeat(deps.store, (error) => deps.report(error, { source: "heartbeat" }));
    this.#completer = new Completer(deps.store);
    this.#loop = new FetchLoop({
      store: deps.store,
      requests: () => this.#requests(),
      onClaimed: (jobs, grantedAt) => this.#run(jobs, grantedAt),
      pollInterval: () => this.#pollInterval(),
      report: deps.report,
    });
  }

  /** Starts listening for wake-ups (resolves once listening) and claiming. */
  async start(): Promise<void> {
    const { store, tasks, report } = this.#deps;
    if (store.capabilities.crossProcessWakeups) {
      this.#stopListening = await store.listen([...tasks.keys()], () => this.wake(), (error) => report(error, { source: "listen" }));
    }
    this.#loop.start();
  }

  /** Jobs may be available: claim now rather than at the next poll. */
  wake(): void {
    this.#loop.wake();
  }

  /** The attempt of job `id` running in this process, if any. */
  attemptOf(id: string): Attempt | undefined {
    return this.#attempts.get(id);
  }

  /**
   * Stops claiming, waits up to `graceMs` for running attempts to finish, then releases the rest so
   * another worker can take them at once, and aborts their handlers.
   */
  async close(graceMs: number): Promise<void> {
    await this.#loop.stop();
    await this.#stopListening?.().catch((error: unknown) => this.#deps.report(coerceError(error), { source: "listen" }));
    if (this.#attempts.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => (this.#idle = resolve));
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, graceOver]);
      clearTimeout(timer);
      await this.#releaseUnfinished();
    }
    this.#heartbeat.stop();
  }

  async #releaseUnfinished(): Promise<void> {
    const released = [...this.#attempts.values()].filter((attempt) => attempt.release());
    if (released.length === 0) return;
    try {
      const ids = await this.#deps.store.releaseJobs(
        released.map((attempt) => ({ id: attempt.job.id, attempt: attempt.attempt })),
        "released: the worker shut down before the handler finished",
      );
      for (const attempt of released) {
        if (ids.has(attempt.job.id)) this.#deps.events.emit("job:release", { job: attempt.job });
      }
    } catch (thrown) {
      // Not fatal: these jobs become claimable anyway once their leases expire.
      this.#deps.report(coerceError(thrown), { source: "release" });
    }
    for (const attempt of released) this.#forget(attempt);
  }

  #requests(): ClaimRequest[] {
    const requests: ClaimRequest[] = [];
    for (const task of this.#deps.tasks.values()) {
      const free = task.workers - (this.#busy.get(task.name) ?? 0);
      if (free > 0) requests.push({ name: task.name, limit: free, leaseMs: task.timeout });
    }
    return requests;
  }

  #pollInterval(): number {
    let interval = Infinity;
    for (const task of this.#deps.tasks.values()) interval = Math.min(interval, task.interval ?? Infinity);
    return Number.isFinite(interval) ? interval : this.#deps.store.capabilities.defaultPollInterval;
  }

  #run(jobs: StoredJob[], grantedAt: number): void {
    const deps = { ...this.#deps, heartbeat: this.#heartbeat, completer: this.#completer };
    for (const job of jobs) {
      const task = this.#deps.tasks.get(job.name);
      if (!task) continue; // cannot happen: we only claim names we have tasks for
      this.#busy.set(task.name, (this.#busy.get(task.name) ?? 0) + 1);
      const attempt = new Attempt(deps, job, task, grantedAt);
      this.#attempts.set(job.id, attempt);
      void attempt.done.then(
        () => this.#forget(attempt),
        (error: unknown) => {
          this.#deps.report(coerceError(error), { source: "outcome", job });
          this.#forget(attempt);
        },
      );
    }
  }

  /** Frees the attempt's slot (once) and wakes the loop to fill it. */
  #forget(attempt: Attempt): void {
    if (this.#attempts.get(attempt.job.id) !== attempt) return;
    this.#attempts.delete(attempt.job.id);
    const busy = (this.#busy.get(attempt.task.name) ?? 1) - 1;
    this.#busy.set(attempt.task.name, busy);
    if (this.#attempts.size === 0) this.#idle?.();
    this.#loop.wake();
  }
}
