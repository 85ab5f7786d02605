/**
 * BullMQ 6 on its own PostgreSQL backend (`createPostgresBackend`, docs.bullmq.io/guide/postgresql),
 * one schema per place (`migrate: true` creates it). Defaults: pg's pool of 10. Tuned per the guide's
 * tips: a pool of at least the worker's concurrency (+2) and auto-removal of finished jobs
 * (`synchronous_commit = off`, also suggested there, is excluded: the bench keeps durability on).
 * @module
 */
import { Queue, Worker, createPostgresBackend } from "bullmq";
import type { Place, System } from "../adapter.js";
import { BULL_TUNED, openBull, type BullBackend, type BullTuning } from "./bullmq.js";

function backend(place: Place, poolFor: (concurrency: number) => number | undefined): BullBackend {
  const connection = (max: number | undefined) => ({
    connectionString: place.url, schema: place.name, migrate: true, ...(max !== undefined && { max }),
  });
  return {
    makeQueue: (name) => new Queue(name, { connection: connection(poolFor(0)) }, createPostgresBackend),
    makeWorker: (name, processor, options) =>
      new Worker(name, processor, { connection: connection(poolFor(options.concurrency)), ...options }, createPostgresBackend),
  };
}

const open = (tuning: BullTuning, poolFor: (concurrency: number) => number | undefined) =>
  (place: Place) => openBull(backend(place, poolFor), tuning);
const common = { family: "bullmq-pg", hewn: false, store: "postgres", packages: ["bullmq", "pg"] } as const;

export const bullmqPg: System = {
  ...common,
  id: "bullmq-pg",
  variant: "default",
  config: "createPostgresBackend, { connectionString, schema, migrate: true }; Worker { concurrency: N }",
  open: open({}, () => undefined),
};

export const bullmqPgTuned: System = {
  ...common,
  id: "bullmq-pg-tuned",
  variant: "tuned",
  config: "as default + pool max = max(10, N + 2), removeOnComplete { count: 1000 }, removeOnFail { count: 5000 }",
  // With removeOnComplete, concurrent completions deadlock and retry (reported as errors): its drains
  // crawl, so the untimed exactly-once check of S1/S2 uses the default configuration's workers.
  verifier: "bullmq-pg",
  open: open(BULL_TUNED, (concurrency) => Math.max(10, concurrency + 2)),
};

/** What this file contributes to the registry (adapters/index.ts; worker-process.ts loads just this file). */
export const systems: readonly System[] = [bullmqPg, bullmqPgTuned];
