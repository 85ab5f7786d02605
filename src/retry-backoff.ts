/**
 * How long to wait before trying again after a store or connection error: 100 ms, doubling up to 5 s,
 * back to 100 ms after a success. One policy for every loop that retries such errors (the fetch loop,
 * an attempt writing its outcome, the PostgreSQL listener reconnecting), so they all back off alike:
 * fast enough to recover from a blip at once, slow enough not to hammer a database that is down.
 * @module
 */

/** The first delay. */
export const RETRY_MIN_MS = 100;
/** The longest delay. */
export const RETRY_MAX_MS = 5_000;

/** The delays of one run of retries. */
export class RetryBackoff {
  #next = RETRY_MIN_MS;

  /** The delay before the next try; the one after it will be twice as long, up to {@link RETRY_MAX_MS}. */
  next(): number {
    const delay = this.#next;
    this.#next = Math.min(delay * 2, RETRY_MAX_MS);
    return delay;
  }

  /** A try succeeded: the next failure waits {@link RETRY_MIN_MS} again. */
  reset(): void {
    this.#next = RETRY_MIN_MS;
  }
}
