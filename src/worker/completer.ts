/**
 * Completions, written in batches. Attempts hand their completions in (`complete`) and learn whether
 * each was written; who writes them depends on whether the fetch loop runs:
 *
 * - While it runs, the loop owns the writing: it holds the completer's {@link CompletionFeed}, takes a
 *   batch per round and writes it in the same statement as its next claim (`Store.jobClaim`), so a busy
 *   worker pays one round trip and one commit per round for both its finished and its next jobs.
 * - Without a feed out (before the loop starts, and once it has stopped and closed its feed at
 *   shutdown), the completer writes by itself: every completion that arrives while one write is in
 *   flight goes into the next.
 * @module
 */
import { MAX_BATCH, type CompleteItem, type Store } from "../store/store.js";

/** Completions taken to be written together. Exactly one of `settle` or `fail` is called. */
export interface CompletionBatch {
  readonly items: readonly CompleteItem[];
  /** The write landed; `applied` holds the ids written (the others had lost their lease). */
  settle(applied: ReadonlySet<string>): void;
  /** The write failed: each completion rejects with `error` (its attempt retries it). */
  fail(error: unknown): void;
}

/** The fetch loop's hold on the writing, from `Completer.feed` until `close`. */
export interface CompletionFeed {
  /** The next batch to write (at most `MAX_BATCH` completions), or undefined if none is waiting. */
  take(): CompletionBatch | undefined;
  /** Hands the writing back: the completer writes what is waiting, and what comes later, by itself. */
  close(): void;
}

interface Pending {
  readonly item: CompleteItem;
  resolve(applied: boolean): void;
  reject(error: unknown): void;
}

export class Completer {
  readonly #store: Store;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  /** Told when a completion arrives, while a feed is out. */
  #feedWake: (() => void) | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Resolves true when the completion was written, false when fenced out (lease lost). Rejects on a store error. */
  complete(item: CompleteItem): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#feedWake) this.#feedWake();
      else this.#flushing ??= this.#flushLoop();
    });
  }

  /**
   * Hands the writing to the caller (the fetch loop) until it closes the feed; `wake` is called whenever
   * a completion arrives meanwhile. One feed at a time.
   */
  feed(wake: () => void): CompletionFeed {
    if (this.#feedWake) throw new Error("the completer already has a feed out");
    this.#feedWake = wake;
    let open = true;
    return {
      take: () => (open ? this.#take() : undefined),
      close: () => {
        if (!open) return;
        open = false;
        this.#feedWake = undefined;
        if (this.#pending.length > 0) this.#flushing ??= this.#flushLoop();
      },
    };
  }

  #take(): CompletionBatch | undefined {
    const taken = this.#pending.splice(0, MAX_BATCH);
    if (taken.length === 0) return undefined;
    return {
      items: taken.map((pending) => pending.item),
      settle: (applied) => {
        for (const pending of taken) pending.resolve(applied.has(pending.item.id));
      },
      fail: (error) => {
        for (const pending of taken) pending.reject(error);
      },
    };
  }

  async #flushLoop(): Promise<void> {
    // Yield once so completions that finish in the same tick share the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (!this.#feedWake) {
        const batch = this.#take();
        if (!batch) break;
        try {
          batch.settle(await this.#store.jobCompleteMany({ items: [...batch.items] }));
        } catch (error) {
          batch.fail(error);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
