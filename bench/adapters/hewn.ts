/**
 * What hewn-pg and hewn-sqlite share: hewn's API is the same on both stores, only the target differs.
 * One `Queue` per process, as the README uses it: enqueue, define, start, close.
 * @module
 */
import { Queue, type QueueOptions } from "../../src/index.js";
import type { Adapter, BenchPayload, RunHandler } from "../adapter.js";

const TASK = "bench";

export async function openHewn(target: string, options: QueueOptions): Promise<Adapter> {
  const errors: string[] = [];
  const queue = await Queue.open(target, {
    ...options,
    onError: (error, context) => errors.push(`${context.source}: ${error.message}`),
  });
  return {
    errors,
    async enqueueOne(index) {
      await queue.enqueue<BenchPayload>(TASK, { i: index });
    },
    async enqueueMany(indexes, { delayMs } = {}) {
      await queue.enqueueMany<BenchPayload>(indexes.map((i) => ({ name: TASK, data: { i }, ...(delayMs && { delay: delayMs }) })));
    },
    async startWorkers(concurrency, handler: RunHandler) {
      queue.define<BenchPayload>(TASK, (ctx) => {
        handler(ctx.job.data.i);
        return null;
      }, { workers: concurrency });
      await queue.start();
    },
    // close() is hewn's only way to stop workers; it also closes the store (idempotent).
    stopWorkers: () => queue.close(),
    close: () => queue.close(),
  };
}
