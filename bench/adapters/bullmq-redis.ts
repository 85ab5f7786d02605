/**
 * BullMQ 6 on Redis (isolated by a key `prefix`). Defaults: `Worker({ concurrency: N })`. Tuned: the
 * auto-removal its docs recommend for production (keep the last 1 000 completed / 5 000 failed jobs).
 * @module
 */
import { Queue, Worker } from "bullmq";
import type { Place, System } from "../adapter.js";
import { BULL_TUNED, openBull, type BullBackend, type BullTuning } from "./bullmq.js";

function backend(place: Place): BullBackend {
  const url = new URL(place.url);
  const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
  return {
    makeQueue: (name) => new Queue(name, { connection, prefix: place.name }),
    makeWorker: (name, processor, options) => new Worker(name, processor, { connection, prefix: place.name, ...options }),
  };
}

const open = (tuning: BullTuning) => (place: Place) => openBull(backend(place), tuning);
const common = { family: "bullmq-redis", hewn: false, store: "redis", packages: ["bullmq", "ioredis"] } as const;

export const bullmqRedis: System = {
  ...common,
  id: "bullmq-redis",
  variant: "default",
  config: "new Worker(name, fn, { concurrency: N }); defaults otherwise",
  open: open({}),
};

export const bullmqRedisTuned: System = {
  ...common,
  id: "bullmq-redis-tuned",
  variant: "tuned",
  config: "Worker { concurrency: N, removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } }",
  open: open(BULL_TUNED),
};

/** What this file contributes to the registry (adapters/index.ts; worker-process.ts loads just this file). */
export const systems: readonly System[] = [bullmqRedis, bullmqRedisTuned];
