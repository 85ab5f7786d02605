/**
 * The overview of a queue: jobs per task and status, what runs, and how long ready jobs have waited.
 * @module
 */
import { JOB_STATUSES, type JobStatus } from "./job.js";
import type { StoreStats } from "./store/store.js";

/** One task in {@link QueueStats}. */
export interface TaskStats {
  name: string;
  /** Jobs of this task in each status (every status present). */
  counts: Record<JobStatus, number>;
  /** All its jobs. */
  total: number;
  /**
   * How long its oldest ready job (due, and not running) has waited since it became available, in ms;
   * null when none is waiting. A growing value means workers do not keep up (or none runs the task).
   */
  oldestReadyAgeMs: number | null;
  /** Paused (`queue.pause(name)`): no job of it starts until it is resumed. */
  paused: boolean;
}

/** What `queue.stats()` returns. */
export interface QueueStats {
  /** When the figures were taken, by the database's clock. */
  at: Date;
  /** Every task that has jobs, by name. */
  tasks: TaskStats[];
  /** Jobs in each status, all tasks together. */
  totals: Record<JobStatus, number>;
  /** Jobs running now (`dequeued`, all tasks). */
  running: number;
  /** The largest `oldestReadyAgeMs` of any task, or null. */
  oldestReadyAgeMs: number | null;
  /** The paused tasks, sorted (including paused ones that have no jobs). */
  paused: string[];
}

/** Zero in every status. */
export function zeroCounts(): Record<JobStatus, number> {
  return Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
}

/** The store's raw figures, arranged per task. */
export function toQueueStats(raw: StoreStats, paused: readonly string[]): QueueStats {
  const tasks = new Map<string, TaskStats>();
  const totals = zeroCounts();
  for (const { name, status, count } of raw.counts) {
    let task = tasks.get(name);
    if (!task) tasks.set(name, (task = { name, counts: zeroCounts(), total: 0, oldestReadyAgeMs: null, paused: paused.includes(name) }));
    task.counts[status] += count;
    task.total += count;
    totals[status] += count;
  }
  let oldest: number | null = null;
  for (const { name, ageMs } of raw.oldestReady) {
    const task = tasks.get(name);
    if (task) task.oldestReadyAgeMs = Math.round(ageMs);
    if (oldest === null || ageMs > oldest) oldest = Math.round(ageMs);
  }
  return {
    at: raw.now,
    tasks: [...tasks.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    totals,
    running: totals.dequeued,
    oldestReadyAgeMs: oldest,
    paused: [...paused].sort(),
  };
}
