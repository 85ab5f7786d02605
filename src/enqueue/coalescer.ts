/**
 * Coalesces concurrent calls into batches.
 *
 * An application that fires many `enqueue` calls without awaiting each one (a request handler per job,
 * `Promise.all` over a list) would otherwise pay one round trip and one commit (one fsync) per job. Here
 * the calls made while a batch is in flight, or in the same tick, go into the next batch together.
 * A lone awaited call still goes out at once (after a microtask), so nothing waits on a timer.
 *
 * All items of one batch share its fate: if the write fails (connection lost, database full), every
 * call in it rejects with that error. Inputs are validated before they get here, so one caller's bad
 * input can never fail another caller's item; and a duplicate (unique jobs) is no failure: the store
 * answers it with the standing job, each call of the batch getting what it would have got alone.
 * @module
 */
import { MAX_BATCH } from "../store/store.js";

interface Pending<In, Out> {
  item: In;
  resolve(value: Out): void;
  reject(error: unknown): void;
}

export class Coalescer<In, Out> {
  readonly #write: (items: In[]) => Promise<Out[]>;
  #pending: Array<Pending<In, Out>> = [];
  #flushing = false;

  /** `write` stores a batch and returns one result per item, in order. */
  constructor(write: (items: In[]) => Promise<Out[]>) {
    this.#write = write;
  }

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
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
        const results = await this.#write(batch.map((pending) => pending.item));
        batch.forEach((pending, index) => pending.resolve(results[index] as Out));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.#flushing = false;
  }
}
