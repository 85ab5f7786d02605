/**
 * The dashboard's view of `queue.stats()`: cached for a few seconds and shared by every viewer and
 * scrape, so however many browsers watch, the database counts at most once per interval. Each fresh
 * reading is also kept as a sample, from which the overview draws throughput and failures over time
 * (since this dashboard started): no extra query, and nothing read from history tables that do not exist.
 * @module
 */
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

export class StatsCache {
  readonly #queue: Queue;
  readonly #ttlMs: number;
  #value: { stats: QueueStats; at: number } | undefined;
  #pending: Promise<QueueStats> | undefined;
  readonly samples: Sample[] = [];

  constructor(queue: Queue, ttlMs: number) {
    this.#queue = queue;
    this.#ttlMs = ttlMs;
  }

  /** Forgets the cached stats (after an action changed them), so the next page shows the change. */
  invalidate(): void {
    this.#value = undefined;
  }

  /** The latest stats, at most `ttlMs` old; concurrent callers share one query. */
  get(): Promise<QueueStats> {
    const now = Date.now();
    if (this.#value && now - this.#value.at < this.#ttlMs) return Promise.resolve(this.#value.stats);
    this.#pending ??= this.#queue.stats().then((stats) => {
      this.#value = { stats, at: Date.now() };
      this.samples.push({ at: stats.at.getTime(), completed: stats.totals.completed, cancelled: stats.totals.cancelled, failed: stats.totals.failed });
      if (this.samples.length > MAX_SAMPLES) this.samples.shift();
      return stats;
    }).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }
}
