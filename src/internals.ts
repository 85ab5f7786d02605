/**
 * What `hewn/testing` reaches inside a queue: what a worker is built from (store, tasks, events, error
 * reporter, payload limit), so it can run workers on demand (`drain`) and stage a crash. Kept in a
 * WeakMap filled by the queue's constructor rather than as members, so none of it shows in the public
 * API or its types. Internal.
 * @module
 */
import type { WorkerDeps } from "./worker/worker.js";

export type QueueInternals = WorkerDeps;

/** Every open queue's internals, by queue. */
export const queueInternals = new WeakMap<object, QueueInternals>();
