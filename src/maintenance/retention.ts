/**
 * Retention (axe's `AddJobIndexes(removeAfter)`): deletes completed and cancelled jobs `removeAfter` ms
 * after they finished. Other statuses are never deleted. Runs in processes that started workers.
 * @module
 */
import { coerceError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { Store } from "../store/store.js";
import type { ErrorReporter } from "../report.js";

/** Rows deleted per statement, so one sweep never holds long locks. */
const DELETE_BATCH = 1000;
/** Sweep at least this often, and at most this often. */
const MAX_SWEEP_INTERVAL_MS = 60_000;
const MIN_SWEEP_INTERVAL_MS = 10;

export class Retention {
  readonly #store: Store;
  readonly #removeAfter: number;
  readonly #events: TypedEmitter<QueueEvents>;
  readonly #report: ErrorReporter;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #stopped = false;

  constructor(store: Store, removeAfter: number, events: TypedEmitter<QueueEvents>, report: ErrorReporter) {
    this.#store = store;
    this.#removeAfter = removeAfter;
    this.#events = events;
    this.#report = report;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#sweeping;
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#sweeping = this.#sweep().finally(() => {
        this.#sweeping = undefined;
        // Half the retention period keeps a finished job's life at most 1.5 × removeAfter.
        this.#schedule(Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, this.#removeAfter / 2)));
      });
    }, delay);
    // Retention alone must not keep the process alive.
    this.#timer.unref();
  }

  async #sweep(): Promise<void> {
    let total = 0;
    try {
      for (;;) {
        const deleted = await this.#store.jobDeleteFinished({ olderThanMs: this.#removeAfter, limit: DELETE_BATCH });
        total += deleted;
        if (deleted < DELETE_BATCH || this.#stopped) break;
      }
    } catch (thrown) {
      this.#report(coerceError(thrown), { source: "retention" });
    }
    if (total > 0) this.#events.emit("queue:cleanup", { deleted: total });
  }
}
