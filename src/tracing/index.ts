/**
 * `hewn/tracing`: OpenTelemetry spans for a queue. `@opentelemetry/api` is an optional peer dependency:
 * install it to use this entry point; `hewn` itself never loads it, and an uninstrumented queue does no
 * tracing work at all.
 *
 * - `enqueue <task>` (kind producer) around each `enqueue`, `enqueueSync` and `enqueueMany` call. Its W3C
 *   trace context (`traceparent`, `tracestate`) is stored with each job it inserts.
 * - `process <task>` (kind consumer) around each attempt, linked to the stored context (a new trace of
 *   its own, as OpenTelemetry's messaging conventions advise for work that may run much later); the
 *   handler runs with it active, so the handler's own spans are its children.
 *
 * Attributes: `hewn.job.id` (`hewn.job.ids` for a batch), `hewn.task`, `hewn.attempt`, `hewn.outcome`
 * (`completed`, `failed`, `cancelled`, `lease-lost`, `released`); a failure is recorded on its span
 * (exception event, status ERROR).
 * @packageDocumentation
 */
import {
  SpanKind, SpanStatusCode, context, createTraceState, trace, type Link, type Span, type SpanContext, type Tracer, type TracerProvider,
} from "@opentelemetry/api";
import { ValidationError, coerceError } from "../errors.js";
import { queueInternals } from "../internals.js";
import type { Queue } from "../queue.js";
import type { StoredJob } from "../store/store.js";
import type { AttemptOutcome, AttemptSpan, EnqueueSpan, TracingHooks } from "./hooks.js";

/** Options of {@link instrument}. */
export interface TracingOptions {
  /** Where spans go. Default: the global tracer provider (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** Stops tracing the queue: later enqueues and attempts make no spans. */
  uninstrument(): void;
}

/** W3C trace context as stored with a job (JSON text in the `trace_context` column). */
interface StoredContext {
  traceparent: string;
  tracestate?: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Traces `queue`'s enqueues and the attempts of its workers (those started before or after this call).
 * @throws ValidationError on `queue` when it is not an open hewn queue.
 */
export function instrument(queue: Queue, options: TracingOptions = {}): Instrumentation {
  const slot = queueInternals.get(queue)?.tracing;
  if (slot === undefined) throw new ValidationError("queue", "must be a hewn Queue");
  const provider = options.tracerProvider ?? trace.getTracerProvider();
  const hooks = tracingHooks(provider.getTracer("hewn"));
  slot.hooks = hooks;
  return {
    uninstrument() {
      if (slot.hooks === hooks) slot.hooks = undefined;
    },
  };
}

function tracingHooks(tracer: Tracer): TracingHooks {
  return {
    enqueue: (names) => enqueueSpan(tracer, names),
    attempt: (job) => attemptSpan(tracer, job),
  };
}

function enqueueSpan(tracer: Tracer, names: readonly string[]): EnqueueSpan {
  const distinct = [...new Set(names)];
  const span = tracer.startSpan(`enqueue ${distinct.length === 1 ? distinct[0] : "(batch)"}`, {
    kind: SpanKind.PRODUCER,
    attributes: { "hewn.task": distinct.length === 1 ? distinct[0] : distinct, "hewn.batch_size": names.length },
  });
  return {
    traceContext: JSON.stringify(toStored(span.spanContext())),
    end(result) {
      if ("error" in result) fail(span, coerceError(result.error));
      else if (result.jobs.length === 1 && result.jobs[0]) span.setAttribute("hewn.job.id", result.jobs[0].id);
      else span.setAttribute("hewn.job.ids", result.jobs.map((job) => job.id));
      span.end();
    },
  };
}

function attemptSpan(tracer: Tracer, job: StoredJob): AttemptSpan {
  const producer = job.traceContext === undefined ? undefined : fromStored(job.traceContext);
  const links: Link[] = producer === undefined ? [] : [{ context: producer }];
  const span = tracer.startSpan(`process ${job.name}`, {
    kind: SpanKind.CONSUMER,
    links,
    attributes: { "hewn.job.id": job.id, "hewn.task": job.name, "hewn.attempt": job.attempts },
  });
  const active = trace.setSpan(context.active(), span);
  return {
    run: (fn) => context.with(active, fn),
    end(outcome: AttemptOutcome, error?: Error) {
      span.setAttribute("hewn.outcome", outcome);
      if (error !== undefined) fail(span, error);
      span.end();
    },
  };
}

function fail(span: Span, error: Error): void {
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

function toStored(spanContext: SpanContext): StoredContext {
  const flags = spanContext.traceFlags.toString(16).padStart(2, "0");
  const stored: StoredContext = { traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}` };
  const state = spanContext.traceState?.serialize();
  if (state) stored.tracestate = state;
  return stored;
}

/** The producer's span context; undefined for text that is not a stored W3C context (no link then). */
function fromStored(text: string): SpanContext | undefined {
  let stored: Partial<StoredContext>;
  try {
    stored = JSON.parse(text) as Partial<StoredContext>;
  } catch {
    return undefined;
  }
  const match = typeof stored.traceparent === "string" ? TRACEPARENT.exec(stored.traceparent) : null;
  if (!match || !match[1] || !match[2] || !match[3]) return undefined;
  return {
    traceId: match[1],
    spanId: match[2],
    traceFlags: Number.parseInt(match[3], 16),
    isRemote: true,
    ...(typeof stored.tracestate === "string" ? { traceState: createTraceState(stored.tracestate) } : {}),
  };
}
