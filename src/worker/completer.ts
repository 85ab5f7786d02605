/**
 * Writes completions in batches: every completion requested while one write is in flight goes into
 * the next write, so a busy worker pays one round trip for many jobs instead of one each.
 * A quiet worker still writes at once (the first completion starts a write on the next tick).
 * @module
 */
import type { CompleteItem, Store } from "../store/store.js";

interface Pending {
  item: CompleteItem;
  resolve(applied: boolean): void;
  reject(error: unknown): void;
}

/** Upper bound on one write, to keep statements and their parameter arrays reasonable. */
const MAX_BATCH = 1000;

export class Completer {
  readonly #store: Store;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Resolves true when the completion was written, false when fenced out (lease lost). Rejects on a store error. */
  complete(item: CompleteItem): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    // Yield once so completions that finish in the same tick share the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          const applied = await this.#store.completeJobs(batch.map((pending) => pending.item));
          for (const pending of batch) pending.resolve(applied.has(pending.item.id));
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
