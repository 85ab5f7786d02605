/**
 * The dashboard's view of `queue.stats()`, shared by every viewer and scrape so that however many
 * browsers watch, the database counts at most once per interval:
 * - a reading is reused for `ttlMs`, or for ten times as long as it took to count if that is longer (a
 *   count that takes 2 s on a huge SQLite table is then redone at most every 20 s, so counting never
 *   takes more than a tenth of one core);
 * - once there is a reading, callers never wait for a recount: an expired reading is returned while a
 *   new one is counted in the background (its failure is reported, and the next call tries again).
 * Each fresh reading is also kept as a sample, from which the overview draws throughput and failures over
 * time (since this dashboard started): no extra query.
 * @module
 */
import { coerceError } from "../errors.js";
import type { Queue } from "../queue.js";
import type { QueueStats } from "../stats.js";

/** One reading of the totals. */
export interface Sample {
  at: number;
  completed: number;
  cancelled: number;
  failed: number;
}

/** How many readings the chart keeps. */
const MAX_SAMPLES = 120;

/** A reading is reused for at least this many times as long as it took to count. */
const COST_FACTOR = 10;

export class StatsCache {
  readonly #queue: Queue;
  readonly #ttlMs: number;
  readonly #onError: (error: Error) => void;
  #value: { stats: QueueStats; at: number; tookMs: number } | undefined;
  #pending: Promise<QueueStats> | undefined;
  readonly samples: Sample[] = [];

  constructor(queue: Queue, ttlMs: number, onError: (error: Error) => void) {
    this.#queue = queue;
    this.#ttlMs = ttlMs;
    this.#onError = onError;
  }

  /** Forgets the cached stats (after an action changed them), so the next page shows the change. */
  invalidate(): void {
    this.#value = undefined;
  }

  /** The latest stats (see the module comment for how fresh). */
  get(): Promise<QueueStats> {
    const value = this.#value;
    if (value && Date.now() - value.at < Math.max(this.#ttlMs, COST_FACTOR * value.tookMs)) return Promise.resolve(value.stats);
    const fresh = this.#refresh();
    if (!value || this.#ttlMs === 0) return fresh;
    fresh.catch((error: unknown) => this.#onError(coerceError(error)));
    return Promise.resolve(value.stats);
  }

  #refresh(): Promise<QueueStats> {
    const started = Date.now();
    this.#pending ??= this.#queue.stats().then((stats) => {
      this.#value = { stats, at: Date.now(), tookMs: Date.now() - started };
      this.samples.push({ at: stats.at.getTime(), completed: stats.totals.completed, cancelled: stats.totals.cancelled, failed: stats.totals.failed });
      if (this.samples.length > MAX_SAMPLES) this.samples.shift();
      return stats;
    }).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }
}
