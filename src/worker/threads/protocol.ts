/**
 * The messages between the process and a handler's worker thread: one attempt at a time per thread.
 * Everything crosses by structured clone (a job's Dates included); errors cross as plain records and
 * are rebuilt on the other side, `JobError`s as `JobError`s so their retry semantics hold.
 * @module
 */
import { JobError } from "../../errors.js";
import type { RunningJob } from "../../task.js";

/** What the thread is started with. */
export interface ThreadData {
  /** The handler's module, as a URL (`file:` or anything `import()` accepts). */
  readonly module: string;
  /** The export of the module that is the handler. */
  readonly exportName: string;
}

/** An error as it crosses between threads. */
export interface ErrorRecord {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  /** Set for a `JobError`. */
  readonly job?: { readonly reason: string; readonly retry: boolean } | undefined;
}

/** Process → thread. */
export type ToThread =
  | { readonly type: "run"; readonly job: RunningJob<unknown> }
  | { readonly type: "abort"; readonly reason: ErrorRecord }
  | { readonly type: "reply"; readonly call: number; readonly error?: ErrorRecord | undefined };

/** Thread → process. */
export type FromThread =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly result: unknown }
  | { readonly type: "failed"; readonly error: ErrorRecord }
  | { readonly type: "call"; readonly call: number; readonly method: "progress" | "extend"; readonly value: number };

export function toRecord(error: unknown): ErrorRecord {
  if (error instanceof JobError) return { name: error.name, message: error.message, stack: error.stack, job: { reason: error.reason, retry: error.retry } };
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: "Error", message: String(error) };
}

export function fromRecord(record: ErrorRecord): Error {
  const error = record.job ? new JobError(record.job.reason, { retry: record.job.retry }) : new Error(record.message);
  if (!record.job) error.name = record.name;
  if (record.stack !== undefined) error.stack = record.stack;
  return error;
}
