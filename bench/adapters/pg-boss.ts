/**
 * pg-boss 12. Defaults: `work()` with `localConcurrency: N` (N polling workers, one job per fetch, 2 s
 * poll). Tuned per its docs (docs/api/workers.md, types.d.ts): one worker fetching `batchSize: N` jobs,
 * `burstWhenBatchFull` (re-fetch at once while batches come back full), the shortest poll (0.5 s), and
 * LISTEN/NOTIFY wake-ups (`useListenNotify` on the instance + `notify: true` on the queue).
 * @module
 */
import { PgBoss, type ConstructorOptions, type Job, type Queue, type WorkOptions } from "pg-boss";
import type { Adapter, BenchPayload, Place, System } from "../adapter.js";

const QUEUE = "bench";

interface Tuning {
  instance: Partial<ConstructorOptions>;
  queue: Omit<Queue, "name">;
  work(concurrency: number): WorkOptions;
}

const DEFAULTS: Tuning = {
  instance: {},
  queue: {},
  work: (concurrency) => ({ localConcurrency: concurrency }),
};

const TUNED: Tuning = {
  instance: { useListenNotify: true },
  queue: { notify: true },
  work: (concurrency) => ({ batchSize: concurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }),
};

async function open(place: Place, tuning: Tuning): Promise<Adapter> {
  const errors: string[] = [];
  const boss = new PgBoss({ connectionString: place.url, schema: place.name, ...tuning.instance });
  boss.on("error", (error: Error) => errors.push(error.message));
  await boss.start();
  await boss.createQueue(QUEUE, tuning.queue);
  let stopped = false;
  return {
    errors,
    async enqueueOne(index) {
      await boss.send(QUEUE, { i: index });
    },
    async enqueueMany(indexes, { delayMs } = {}) {
      const startAfter = delayMs ? new Date(Date.now() + delayMs) : undefined;
      await boss.insert(QUEUE, indexes.map((i) => ({ data: { i }, ...(startAfter && { startAfter }) })));
    },
    async startWorkers(concurrency, handler) {
      await boss.work<BenchPayload>(QUEUE, tuning.work(concurrency), async (jobs: Job<BenchPayload>[]) => {
        for (const job of jobs) handler(job.data.i);
      });
    },
    async stopWorkers() {
      await boss.offWork(QUEUE, { wait: true });
    },
    async close() {
      if (stopped) return;
      stopped = true;
      await boss.stop({ graceful: true, timeout: 10_000 });
    },
  };
}

const common = { family: "pg-boss", hewn: false, store: "postgres", packages: ["pg-boss"] } as const;

export const pgBoss: System = {
  ...common,
  id: "pg-boss",
  variant: "default",
  config: "work(name, { localConcurrency: N }); polls every 2 s, 1 job per fetch",
  // At its defaults each worker waits out the 2 s poll after every job: ~5 jobs/s at concurrency 10.
  verifier: "pg-boss-tuned",
  open: (place) => open(place, DEFAULTS),
};

export const pgBossTuned: System = {
  ...common,
  id: "pg-boss-tuned",
  variant: "tuned",
  config: "useListenNotify + queue notify; work(name, { batchSize: N, burstWhenBatchFull, pollingIntervalSeconds: 0.5 })",
  open: (place) => open(place, TUNED),
};

/** What this file contributes to the registry (adapters/index.ts; worker-process.ts loads just this file). */
export const systems: readonly System[] = [pgBoss, pgBossTuned];
