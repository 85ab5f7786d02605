/**
 * Coalesces concurrent enqueues into multi-row inserts.
 *
 * An application that fires many `enqueue` calls without awaiting each one (a request handler per job,
 * `Promise.all` over a list) would otherwise pay one round trip and one commit (one fsync) per job. Here
 * the calls made while an insert is in flight, or in the same tick, go into the next insert together.
 * A lone awaited `enqueue` still goes out at once (after a microtask), so nothing waits on a timer.
 *
 * All jobs of one insert share its fate: if the statement fails (connection lost, database full), every
 * call in it rejects with that error; none is stored. Inputs were validated before they got here, so
 * one caller's bad payload can never fail another caller's job.
 * @module
 */
import type { NewJob, Store, StoredJob } from "./store/store.js";

interface Pending {
  job: NewJob;
  resolve(job: StoredJob): void;
  reject(error: unknown): void;
}

/** Rows per insert: keeps statements and parameter arrays moderate. */
const MAX_BATCH = 1000;

export class EnqueueBatcher {
  readonly #store: Store;
  readonly #onInserted: (jobs: StoredJob[]) => void;
  #pending: Pending[] = [];
  #flushing = false;

  /** `onInserted` runs after every insert, with the stored jobs (to wake workers, emit events). */
  constructor(store: Store, onInserted: (jobs: StoredJob[]) => void) {
    this.#store = store;
    this.#onInserted = onInserted;
  }

  add(job: NewJob): Promise<StoredJob> {
    return new Promise<StoredJob>((resolve, reject) => {
      this.#pending.push({ job, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // A microtask, not a timer: calls made in this same tick join, and a lone call is not delayed.
        queueMicrotask(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        const stored = await this.#store.insertJobs(batch.map((pending) => pending.job));
        batch.forEach((pending, index) => pending.resolve(stored[index] as StoredJob));
        this.#onInserted(stored);
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.#flushing = false;
  }
}
