/**
 * The contract every maintenance service keeps (retention now; a periodic enqueuer, a lease rescuer or a
 * metrics sampler later), and the periodic runner they are built on.
 *
 * A service runs in the background of a queue that started workers: the queue starts every service in its
 * list on `start()` and stops them all on `close()`, and knows nothing else about them. A service gets
 * everything it needs in one {@link ServiceDeps} (the store, the queue's events, the shared clock and the
 * error reporter), so adding one touches the queue in one line: its entry in that list.
 *
 * The runner ({@link PeriodicService}) owns what every periodic service would otherwise get wrong on its
 * own: one run at a time, every error reported (and the next run still comes), timers that never keep
 * the process alive, and a stop that waits for the run in progress.
 * @module
 */
import type { Clock } from "../clock.js";
import { coerceError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { ErrorReporter, ErrorSource } from "../report.js";
import type { Store } from "../store/store.js";

/** A long-lived background part of a queue. */
export interface Service {
  /** Starts the service. Idempotent; does nothing after `stop()`. */
  start(): void;
  /** Stops it and resolves once it is idle (no timer left, no run in progress). Idempotent, and safe before `start()`. */
  stop(): Promise<void>;
}

/** What a service may use: the same for every service of a queue. */
export interface ServiceDeps {
  readonly store: Store;
  readonly events: TypedEmitter<QueueEvents>;
  /** The one clock of the queue's services. */
  readonly clock: Clock;
  /** Where every error a service meets goes. */
  readonly report: ErrorReporter;
}

/** When a {@link PeriodicService} runs. */
export interface Schedule {
  /** Names the service in the errors it reports. */
  readonly source: ErrorSource;
  /** From start to the first run, in ms. */
  readonly firstRunMs: number;
  /** From the start of one run to the start of the next, in ms (a run that takes longer is followed at once). */
  readonly everyMs: number;
}

/**
 * A service that does one thing periodically. Subclasses implement {@link PeriodicService.run}; `signal`
 * aborts when the service stops, so a long run can end early between steps.
 */
export abstract class PeriodicService implements Service {
  protected readonly deps: ServiceDeps;
  readonly #schedule: Schedule;
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #started = false;
  /** A run is in progress (set synchronously, so a wake() from inside the run sees it). */
  #inRun = false;
  /** `wake()` was called during a run: the next run comes at once. */
  #woken = false;

  constructor(deps: ServiceDeps, schedule: Schedule) {
    this.deps = deps;
    this.#schedule = schedule;
  }

  start(): void {
    if (this.#started || this.#stopping.signal.aborted) return;
    this.#started = true;
    this.#wait(this.#schedule.firstRunMs);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /**
   * Brings the next run forward to now (its work changed), or right after the run in progress. Does
   * nothing before `start()` or after `stop()`.
   */
  wake(): void {
    if (!this.#started || this.#stopping.signal.aborted) return;
    if (this.#inRun) {
      this.#woken = true;
      return;
    }
    this.#wait(0);
  }

  /**
   * One run. What it throws is reported with the schedule's `source`; the next run comes as planned.
   * A run may return the ms until the next one instead (a service whose work falls due at set times).
   */
  protected abstract run(signal: AbortSignal): Promise<void | number>;

  #wait(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#stopping.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#runOnce().finally(() => (this.#running = undefined));
    }, ms);
    // Background upkeep alone must never keep the process alive.
    this.#timer.unref();
  }

  async #runOnce(): Promise<void> {
    const { clock, report } = this.deps;
    const startedAt = clock.now();
    let next: void | number = undefined;
    this.#inRun = true;
    try {
      next = await this.run(this.#stopping.signal);
    } catch (thrown) {
      report(coerceError(thrown), { source: this.#schedule.source });
    } finally {
      this.#inRun = false;
    }
    const planned = typeof next === "number" ? next : startedAt + this.#schedule.everyMs - clock.now();
    const woken = this.#woken;
    this.#woken = false;
    this.#wait(woken ? 0 : Math.max(0, planned));
  }
}
