/**
 * Job lifecycle events: a typed emitter whose listeners can never break a worker.
 * @module
 */
import { EventEmitter } from "node:events";
import type { Job } from "./job.js";

/** Events a queue emits, each with one payload object. They double as the hook for metrics and logs. */
export interface QueueEvents {
  /** Jobs were stored by this process (with `tx`: inside the caller's transaction, which may still roll back). */
  "job:enqueue": { jobs: Job[] };
  /** A worker of this process claimed a job and is about to run its handler. */
  "job:start": { job: Job };
  /** The attempt succeeded and its result is stored. */
  "job:complete": { job: Job; result: unknown; durationMs: number };
  /** The attempt failed and a retry is scheduled at `job.availableAt`. */
  "job:fail": { job: Job; error: Error; durationMs: number };
  /**
   * The job was cancelled: by its handler, by `maxAttempts`, by quarantine, because its payload was
   * invalid, or by an operator's `queue.cancel` in this process (emitted once, by the process that cancelled).
   */
  "job:cancel": { job: Job; reason: string };
  /** This process lost a job's lease while running it; its outcome was not written. */
  "job:lease-lost": { job: Job; error: Error };
  /**
   * The queue was closing: the job was handed back for another worker to take at once, keeping its place
   * in line. Once per attempt at most.
   */
  "job:release": { job: Job };
  /**
   * This process gave back a job it had claimed but not started, to let a job that crashed before run
   * alone (see `maxCrashes`), or because its task was paused: the claim was undone (the attempt is not
   * counted) and the job keeps its place in line, for any worker to take. Not a shutdown, and not a fault.
   */
  "job:unclaim": { job: Job };
  /** Retention deleted finished jobs. */
  "queue:cleanup": { deleted: number };
}

/** A typed wrapper over `EventEmitter`. A listener that throws is reported, never propagated. */
export class TypedEmitter<Events extends object> {
  readonly #emitter = new EventEmitter();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
    // Many tests and dashboards may listen to one queue; the default cap of 10 only produces noise.
    this.#emitter.setMaxListeners(0);
  }

  /** Calls `listener` for every `event`. */
  on<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  /** Calls `listener` for the next `event` only. */
  once<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  /** Removes a listener added with `on` or `once`. */
  off<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  /** @internal */
  emit<K extends keyof Events & string>(event: K, payload: Events[K]): void {
    // Several events fire per job: with no listener, not even the copy of the (empty) listener list.
    if (this.#emitter.listenerCount(event) === 0) return;
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (payload: Events[K]) => void).call(this.#emitter, payload);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
