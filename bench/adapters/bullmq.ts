/**
 * What bullmq-redis and bullmq-pg share: BullMQ's `Queue`/`Worker` API is the same on both backends;
 * only the connection (and the backend factory) differ.
 * @module
 */
import type { Job, KeepJobs } from "bullmq";
import type { Adapter, BenchPayload, RunHandler } from "../adapter.js";

const QUEUE = "bench";

export interface BullTuning {
  removeOnComplete?: KeepJobs;
  removeOnFail?: KeepJobs;
}

/** What the adapter uses of a `Queue`, whatever its backend type parameters. */
interface BullQueue {
  add(name: string, data: BenchPayload): Promise<unknown>;
  addBulk(jobs: Array<{ name: string; data: BenchPayload; opts?: { delay: number } }>): Promise<unknown>;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** What the adapter uses of a `Worker`. */
interface BullWorker {
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "failed", listener: (job: unknown, error: Error) => void): unknown;
}

/** Builds the Queue/Worker pair; `make*` hide the connection and backend arguments. */
export interface BullBackend {
  makeQueue(name: string): BullQueue;
  makeWorker(name: string, processor: (job: Job<BenchPayload>) => Promise<void>, options: { concurrency: number } & BullTuning): BullWorker;
}

export async function openBull(backend: BullBackend, tuning: BullTuning): Promise<Adapter> {
  const errors: string[] = [];
  const queue = backend.makeQueue(QUEUE);
  queue.on("error", (error: Error) => errors.push(`queue: ${error.message}`));
  await queue.waitUntilReady();
  let worker: BullWorker | undefined;
  let closed = false;
  return {
    errors,
    async enqueueOne(index) {
      await queue.add(QUEUE, { i: index });
    },
    async enqueueMany(indexes, { delayMs } = {}) {
      await queue.addBulk(indexes.map((i) => ({ name: QUEUE, data: { i }, ...(delayMs && { opts: { delay: delayMs } }) })));
    },
    async startWorkers(concurrency, handler: RunHandler) {
      worker = backend.makeWorker(QUEUE, async (job) => handler(job.data.i), { concurrency, ...tuning });
      worker.on("error", (error: Error) => errors.push(`worker: ${error.message}`));
      worker.on("failed", (_job, error: Error) => errors.push(`job failed: ${error.message}`));
      await worker.waitUntilReady();
    },
    async stopWorkers() {
      await worker?.close();
      worker = undefined;
    },
    async close() {
      if (closed) return;
      closed = true;
      await worker?.close();
      await queue.close();
    },
  };
}

/** "Auto-removal of jobs" (docs.bullmq.io/guide/workers/auto-removal-of-jobs): the count it suggests. */
export const BULL_TUNED: BullTuning = { removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } };
