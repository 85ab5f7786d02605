/**
 * The seam between hewn's core and a tracer. The core never imports `@opentelemetry/api`: it only holds
 * a {@link TracingSlot} per queue, empty until `hewn/tracing`'s `instrument(queue)` fills it. With the
 * slot empty, enqueue and each attempt pay one property read and nothing else (no context lookup).
 * Internal.
 * @module
 */
import type { StoredJob } from "../store/store.js";

/** How an attempt ended, as the attempt span's `hewn.outcome` attribute. */
export type AttemptOutcome = "completed" | "failed" | "cancelled" | "lease-lost" | "released";

/** The span of one enqueue call (producer). */
export interface EnqueueSpan {
  /** The W3C trace context of this span, as JSON text, to store with each job. */
  readonly traceContext: string;
  /** Ends the span: with the stored jobs, or with the error that stored nothing. */
  end(result: { jobs: readonly StoredJob[] } | { error: unknown }): void;
}

/** The span of one attempt (consumer). */
export interface AttemptSpan {
  /** Runs `fn` with this span as the active one, so the handler's own spans are its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with the attempt's outcome and, for a failure, its error. */
  end(outcome: AttemptOutcome, error?: Error): void;
}

/** What a tracer provides; see `hewn/tracing`. */
export interface TracingHooks {
  /** Starts the span of one enqueue of `names` (one per job of the call). */
  enqueue(names: readonly string[]): EnqueueSpan;
  /** Starts the span of one attempt of `job` (its `attempts` is this attempt's number). */
  attempt(job: StoredJob): AttemptSpan;
}

/** A queue's tracer, if one was installed. Shared by reference between the queue and its workers. */
export interface TracingSlot {
  hooks: TracingHooks | undefined;
}

/**
 * Stores `jobs` through `insert` inside an enqueue span when a tracer is installed: each job takes the
 * span's trace context, and the span ends with the outcome. Without a tracer: `insert()` and nothing else.
 */
export function tracedInsert<T>(slot: TracingSlot, jobs: Array<{ name: string; traceContext?: string | null }>, insert: () => T): T {
  const hooks = slot.hooks;
  if (hooks === undefined) return insert();
  const span = hooks.enqueue(jobs.map((job) => job.name));
  for (const job of jobs) job.traceContext = span.traceContext;
  let result: T;
  try {
    result = insert();
  } catch (error) {
    span.end({ error });
    throw error;
  }
  if (result instanceof Promise) {
    return result.then((stored: StoredJob | StoredJob[]) => {
      span.end({ jobs: Array.isArray(stored) ? stored : [stored] });
      return stored;
    }, (error: unknown) => {
      span.end({ error });
      throw error;
    }) as T;
  }
  span.end({ jobs: Array.isArray(result) ? (result as StoredJob[]) : [result as StoredJob] });
  return result;
}
