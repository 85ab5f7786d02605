/**
 * The one mapping from a stored row to a job, shared by every store. Columns are snake_case in SQL and
 * camelCase above the seam; this is the only place one becomes the other.
 *
 * One decode rule for every JSON column: a value that cannot be decoded never fails the read (one bad
 * row must not hide every other job of a listing or a claim). A payload that cannot be decoded becomes
 * `data: null` with `dataError` set, and the worker cancels such a job instead of running it; a result
 * that cannot be decoded reads as `null`, and an error history as `[]`.
 * @module
 */
import { coerceError } from "../errors.js";
import type { Job, JobAttemptError, JobStatus, Json } from "../job.js";
import type { NewJob, StoredJob } from "./store.js";

/** A time as a driver returns it: a `Date` (PostgreSQL timestamptz) or epoch ms (SQLite INTEGER). */
type StoredTime = Date | number;

/** A jobs row as a driver returns it. Integers may come as strings (PostgreSQL int8) or numbers. */
export interface JobRow {
  id: string | number;
  name: string;
  data: string;
  status: JobStatus;
  created_at: StoredTime;
  available_at: StoredTime;
  started_at: StoredTime | null;
  ended_at: StoredTime | null;
  finished_at: StoredTime | null;
  attempts: number | string;
  crashes: number | string;
  result: string | null;
  reason: string | null;
  label: string | null;
  /** Absent from statements that do not read it: the job then reads as having no group. */
  group_key?: string | null;
  priority: number | string;
  progress: number | null;
  errors: string;
  checkpoint?: string | null;
  /** Absent from statements that do not read it (migration 10). */
  trace_context?: string | null;
}

/**
 * The row an insert of `job` wrote, without reading it back: the job's own values, the id and times the
 * store assigned, and every other column at its default. For the batch inserts of unlabelled jobs, where
 * reading twenty columns back cost about as much as the insert (the stores' tests compare this with the
 * rows read back).
 */
export function insertedRow<Id extends string | number>(job: NewJob, id: Id, createdAt: StoredTime, availableAt: StoredTime): JobRow & { id: Id } {
  return {
    id, name: job.name, data: job.data, status: "enqueued", created_at: createdAt, available_at: availableAt,
    started_at: null, ended_at: null, finished_at: null, attempts: 0, crashes: 0, result: null, reason: null, label: null,
    group_key: job.group ?? null, priority: job.priority, progress: null, errors: "[]", checkpoint: null,
    trace_context: job.traceContext ?? null,
  };
}

/** The job a row holds. Never throws (see the module comment). */
export function toStoredJob(row: JobRow): StoredJob {
  const job: StoredJob = {
    id: String(row.id),
    name: row.name,
    data: null,
    status: row.status,
    createdAt: toDate(row.created_at),
    availableAt: toDate(row.available_at),
    startedAt: toDateOrNull(row.started_at),
    endedAt: toDateOrNull(row.ended_at),
    finishedAt: toDateOrNull(row.finished_at),
    attempts: Number(row.attempts),
    crashes: Number(row.crashes),
    result: row.result === null ? null : decodedOrNull(row.result),
    reason: row.reason,
    label: row.label,
    group: row.group_key ?? null,
    priority: Number(row.priority),
    progress: row.progress === null ? null : Number(row.progress),
    errors: decodeErrors(row.errors),
    checkpoint: row.checkpoint == null ? null : decodedOrNull(row.checkpoint),
  };
  const data = decode(row.data);
  // Only when there is one, so untraced jobs keep the shape they always had.
  if (row.trace_context != null) job.traceContext = row.trace_context;
  if ("error" in data) job.dataError = `stored payload is not valid JSON: ${data.error}`;
  else job.data = data.value;
  return job;
}

function toDate(value: StoredTime): Date {
  return value instanceof Date ? value : new Date(value);
}

function toDateOrNull(value: StoredTime | null): Date | null {
  return value === null ? null : toDate(value);
}

function decode(text: string): { value: Json } | { error: string } {
  try {
    return { value: JSON.parse(text) as Json };
  } catch (error) {
    return { error: coerceError(error).message };
  }
}

function decodedOrNull(text: string): Json {
  const decoded = decode(text);
  return "value" in decoded ? decoded.value : null;
}

function decodeErrors(text: string): JobAttemptError[] {
  const decoded = decode(text);
  return "value" in decoded && Array.isArray(decoded.value) ? (decoded.value as unknown as JobAttemptError[]) : [];
}

/** A stored job as the public API shows it: without the store-only `dataError` and `traceContext`. */
export function toPublicJob<Data = Json, Result = Json>(row: StoredJob): Job<Data, Result> {
  const { dataError: _unused, traceContext: _trace, ...job } = row;
  return job as Job<Data, Result>;
}
