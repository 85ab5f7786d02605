/**
 * Retention (axe's `AddJobIndexes(removeAfter)`): deletes completed and cancelled jobs `removeAfter` ms
 * after they finished. Other statuses are never deleted. A maintenance service: it runs in processes
 * that started workers.
 * @module
 */
import { PeriodicService, type ServiceDeps } from "./service.js";

/** Rows deleted per statement, so one sweep never holds long locks. */
const DELETE_BATCH = 1000;
/** Sweep at least this often, and at most this often. */
const MAX_SWEEP_INTERVAL_MS = 60_000;
const MIN_SWEEP_INTERVAL_MS = 10;

export class Retention extends PeriodicService {
  readonly #removeAfter: number;

  constructor(deps: ServiceDeps, removeAfter: number) {
    super(deps, {
      source: "retention",
      firstRunMs: 0,
      // Half the retention period keeps a finished job's life at most 1.5 × removeAfter.
      everyMs: Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, removeAfter / 2)),
    });
    this.#removeAfter = removeAfter;
  }

  /** Deletes in batches until a batch comes back short (or the service stops), then reports the total. */
  protected async run(signal: AbortSignal): Promise<void> {
    let total = 0;
    try {
      for (;;) {
        const deleted = await this.deps.store.jobDeleteFinished({ olderThanMs: this.#removeAfter, limit: DELETE_BATCH });
        total += deleted;
        if (deleted < DELETE_BATCH || signal.aborted) break;
      }
    } finally {
      if (total > 0) this.deps.events.emit("queue:cleanup", { deleted: total });
    }
  }
}
