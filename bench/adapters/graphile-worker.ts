/**
 * graphile-worker 0.18. Defaults: `run()` with `concurrentJobs: N`, LISTEN/NOTIFY, pool of 10.
 * Tuned as its performance page (worker.graphile.org/docs/performance) configures its own benchmark:
 * `localQueue: { size: 500 }`, `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`, and a pool of
 * max(10, N + 2) as the `maxPoolSize` doc comment recommends. Completed jobs are deleted (its design).
 * @module
 */
import { Logger, makeWorkerUtils, run, type Runner } from "graphile-worker";
import type { Adapter, BenchPayload, Place, System } from "../adapter.js";

const TASK = "bench";

type WorkerPreset = NonNullable<NonNullable<GraphileConfig.Preset["worker"]>>;

/** Collects warnings and errors instead of printing a line per job. */
function quietLogger(errors: string[]): Logger {
  return new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") errors.push(`${level}: ${message}`);
  });
}

async function open(place: Place, tuning: (concurrency: number) => Partial<WorkerPreset>): Promise<Adapter> {
  const errors: string[] = [];
  const logger = quietLogger(errors);
  const connection = { connectionString: place.url, schema: place.name };
  const utils = await makeWorkerUtils({ ...connection, logger });
  await utils.migrate();
  let runner: Runner | undefined;
  return {
    errors,
    async enqueueOne(index) {
      await utils.addJob(TASK, { i: index });
    },
    async enqueueMany(indexes, { delayMs } = {}) {
      const runAt = delayMs ? new Date(Date.now() + delayMs) : undefined;
      await utils.addJobs(indexes.map((i) => ({ identifier: TASK, payload: { i }, ...(runAt && { runAt }) })));
    },
    async startWorkers(concurrency, handler) {
      runner = await run({
        logger,
        noHandleSignals: true,
        taskList: { [TASK]: async (payload) => handler((payload as BenchPayload).i) },
        preset: { worker: { ...connection, concurrentJobs: concurrency, ...tuning(concurrency) } },
      });
    },
    async stopWorkers() {
      await runner?.stop();
      runner = undefined;
    },
    async close() {
      await runner?.stop();
      runner = undefined;
      await utils.release();
    },
  };
}

const common = { family: "graphile-worker", hewn: false, store: "postgres", packages: ["graphile-worker"] } as const;

export const graphileWorker: System = {
  ...common,
  id: "graphile-worker",
  variant: "default",
  config: "run({ concurrentJobs: N }); defaults otherwise",
  // ~1,000 jobs/s here; the tuned worker drains the same jobs ten times faster for the untimed check.
  verifier: "graphile-worker-tuned",
  open: (place) => open(place, () => ({})),
};

export const graphileWorkerTuned: System = {
  ...common,
  id: "graphile-worker-tuned",
  variant: "tuned",
  config: "localQueue { size: 500 }, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize max(10, N + 2)",
  open: (place) => open(place, (concurrency) => ({
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
    maxPoolSize: Math.max(10, concurrency + 2),
  })),
};

/** What this file contributes to the registry (adapters/index.ts; worker-process.ts loads just this file). */
export const systems: readonly System[] = [graphileWorker, graphileWorkerTuned];
