/**
 * What `hewn/testing` reaches inside a queue: the parts it needs to run workers on demand (`drain`) and to
 * stage a crash. Kept in a WeakMap filled by the queue's constructor rather than as members, so none of it
 * shows in the public API or its types. Internal.
 * @module
 */
import type { QueueEvents, TypedEmitter } from "./events.js";
import type { ErrorReporter } from "./report.js";
import type { Store } from "./store/store.js";
import type { Task } from "./task.js";

export interface QueueInternals {
  readonly store: Store;
  readonly tasks: ReadonlyMap<string, Task>;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  readonly maxPayloadBytes: number;
}

/** Every open queue's internals, by queue. */
export const queueInternals = new WeakMap<object, QueueInternals>();
