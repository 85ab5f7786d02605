/**
 * Collects completions so they are written in batches.
 *
 * While the fetch loop runs, it takes the collected completions and writes them in the same statement
 * as its next claim (`Store.completeAndClaim`): a busy worker pays one round trip and one commit per
 * round for both its finished and its next jobs. Without a running loop (the queue is closing), the
 * completer writes them itself: every completion requested while one write is in flight goes into the next.
 * @module
 */
import { MAX_BATCH, type CompleteItem, type Store } from "../store/store.js";

export interface PendingCompletion {
  readonly item: CompleteItem;
  resolve(applied: boolean): void;
  reject(error: unknown): void;
}

export class Completer {
  readonly #store: Store;
  #queue: PendingCompletion[] = [];
  #flushing: Promise<void> | undefined;
  /** The fetch loop, while it takes care of writing: told when there is something to write. */
  #driver: { wake(): void } | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Resolves true when the completion was written, false when fenced out (lease lost). Rejects on a store error. */
  complete(item: CompleteItem): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (this.#driver) this.#driver.wake();
      else this.#flushing ??= this.#flushLoop();
    });
  }

  /** Hands writing over to `driver`, which calls `take` and then `settle` or `fail`. */
  attach(driver: { wake(): void }): void {
    this.#driver = driver;
  }

  /** Takes writing back (the driver stopped): writes what is pending, and from now on writes by itself. */
  detach(): void {
    this.#driver = undefined;
    if (this.#queue.length > 0) this.#flushing ??= this.#flushLoop();
  }

  /** The completions to write next (at most one batch). */
  take(): PendingCompletion[] {
    return this.#queue.splice(0, MAX_BATCH);
  }

  /** Reports a batch's write: `applied` holds the ids that were written. */
  static settle(batch: PendingCompletion[], applied: Set<string>): void {
    for (const pending of batch) pending.resolve(applied.has(pending.item.id));
  }

  static fail(batch: PendingCompletion[], error: unknown): void {
    for (const pending of batch) pending.reject(error);
  }

  async #flushLoop(): Promise<void> {
    // Yield once so completions that finish in the same tick share the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0 && !this.#driver) {
        const batch = this.take();
        try {
          Completer.settle(batch, await this.#store.jobCompleteMany({ items: batch.map((pending) => pending.item) }));
        } catch (error) {
          Completer.fail(batch, error);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
