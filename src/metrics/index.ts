/**
 * `hewn/metrics`: hewn's Prometheus collectors in your application's own `prom-client` registry.
 * `prom-client` is an optional peer dependency: install it to use this entry point; `hewn` itself never
 * loads it.
 *
 * - Gauges, read from `queue.stats()` (cached for `statsTtl`, so a scrape is cheap on a large table):
 *   `hewn_jobs{task,status}`, `hewn_oldest_ready_seconds{task}`, `hewn_running_jobs`, `hewn_task_paused{task}`.
 * - Counters and histograms of what this process did, from the queue's events:
 *   `hewn_jobs_enqueued_total`, `hewn_jobs_started_total`, `hewn_jobs_completed_total`,
 *   `hewn_jobs_failed_total`, `hewn_jobs_cancelled_total`, `hewn_lease_losses_total`, `hewn_crashes_total`
 *   (each `{task}`), `hewn_job_run_seconds{task,outcome}` and `hewn_job_wait_seconds{task}`.
 * @packageDocumentation
 */
import client, { type Registry } from "prom-client";
import { StatsCache } from "../dashboard/stats-cache.js";
import { ValidationError } from "../errors.js";
import { CRASH_MESSAGE, type Job } from "../job.js";
import type { Queue } from "../queue.js";
import type { QueueEvents } from "../events.js";
import { gaugeFamilies } from "./gauges.js";

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** The registry to add hewn's collectors to. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name. Default `"hewn_"`. */
  prefix?: string;
  /** How long one `queue.stats()` serves scrapes, in ms (as the dashboard's `statsTtl`). Default 5 000. */
  statsTtl?: number;
  /** Receives errors of background recounts. Default: printed to stderr. */
  onError?: (error: Error) => void;
}

/** What {@link registerMetrics} returns. */
export interface HewnMetrics {
  /** Removes hewn's collectors from the registry and stops listening to the queue. */
  unregister(): void;
}

/** Run-time buckets: 5 ms to 10 min. */
const RUN_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 60, 300, 600];

/**
 * Adds hewn's collectors to a `prom-client` registry. Call once per queue and registry.
 * @throws ValidationError for bad options.
 */
export function registerMetrics(queue: Queue, options: MetricsOptions = {}): HewnMetrics {
  const registry = options.registry ?? client.register;
  const prefix = options.prefix ?? "hewn_";
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new ValidationError("options.prefix", "must be a valid metric name prefix");
  const cache = new StatsCache(queue, options.statsTtl ?? 5_000, options.onError ?? ((error) => console.error("hewn metrics:", error)));
  const names: string[] = [];
  const registers = [registry];

  // Gauges: one prom-client Gauge per family, refilled from the cached stats at each scrape.
  const families = gaugeFamilies({ at: new Date(0), tasks: [], totals: { enqueued: 0, dequeued: 0, completed: 0, failed: 0, cancelled: 0 }, running: 0, oldestReadyAgeMs: null, paused: [] });
  for (const family of families) {
    const labelNames = family.name === "jobs" ? ["task", "status"] : family.name === "running_jobs" ? [] : ["task"];
    names.push(`${prefix}${family.name}`);
    new client.Gauge({
      name: `${prefix}${family.name}`, help: family.help, labelNames, registers,
      async collect() {
        const current = gaugeFamilies(await cache.get()).find((f) => f.name === family.name);
        this.reset();
        for (const sample of current?.samples ?? []) this.set(sample.labels, sample.value);
      },
    });
  }

  const counter = (name: string, help: string) => {
    names.push(`${prefix}${name}`);
    return new client.Counter({ name: `${prefix}${name}`, help, labelNames: ["task"], registers });
  };
  const enqueued = counter("jobs_enqueued_total", "Jobs this process enqueued.");
  const started = counter("jobs_started_total", "Attempts this process started.");
  const completed = counter("jobs_completed_total", "Attempts this process completed.");
  const failed = counter("jobs_failed_total", "Attempts this process failed (to be retried).");
  const cancelled = counter("jobs_cancelled_total", "Jobs this process cancelled (given up, refused, or by an operator).");
  const leaseLosses = counter("lease_losses_total", "Jobs whose lease this process lost while running them.");
  const crashes = counter("crashes_total", "Claims by this process of a job whose previous attempt crashed (its lease expired with no outcome).");
  names.push(`${prefix}job_run_seconds`, `${prefix}job_wait_seconds`);
  const runTime = new client.Histogram({
    name: `${prefix}job_run_seconds`, help: "How long attempts ran in this process, by outcome.", labelNames: ["task", "outcome"], buckets: RUN_BUCKETS, registers,
  });
  const waitTime = new client.Histogram({
    name: `${prefix}job_wait_seconds`, help: "From enqueue to the start of the first attempt (any delay included), for jobs this process started.",
    labelNames: ["task"], buckets: RUN_BUCKETS, registers,
  });

  const listeners: { [K in keyof QueueEvents]?: (payload: QueueEvents[K]) => void } = {
    "job:enqueue": ({ jobs }) => {
      for (const job of jobs) enqueued.inc({ task: job.name });
    },
    "job:start": ({ job }) => {
      started.inc({ task: job.name });
      if (crashedBefore(job)) crashes.inc({ task: job.name });
      if (job.attempts === 1 && job.startedAt) waitTime.observe({ task: job.name }, Math.max(0, job.startedAt.getTime() - job.createdAt.getTime()) / 1000);
    },
    "job:complete": ({ job, durationMs }) => {
      completed.inc({ task: job.name });
      runTime.observe({ task: job.name, outcome: "completed" }, durationMs / 1000);
    },
    "job:fail": ({ job, durationMs }) => {
      failed.inc({ task: job.name });
      runTime.observe({ task: job.name, outcome: "failed" }, durationMs / 1000);
    },
    "job:cancel": ({ job }) => cancelled.inc({ task: job.name }),
    "job:lease-lost": ({ job }) => leaseLosses.inc({ task: job.name }),
  };
  for (const [event, listener] of Object.entries(listeners)) queue.on(event as keyof QueueEvents, listener as (payload: unknown) => void);

  return {
    unregister() {
      for (const [event, listener] of Object.entries(listeners)) queue.off(event as keyof QueueEvents, listener as (payload: unknown) => void);
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

/** The claim that started this attempt found the previous one crashed (it recorded that in `errors`). */
function crashedBefore(job: Job): boolean {
  const last = job.errors.at(-1);
  return last !== undefined && last.message === CRASH_MESSAGE && last.attempt === job.attempts - 1;
}
