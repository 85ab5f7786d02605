/**
 * Reading and operating on stored jobs: what an operator (or the CLI and dashboard) does with a queue,
 * as opposed to producing and running jobs. Works without defining any task; every input is checked
 * here, at the boundary.
 * @module
 */
import type { QueueEvents, TypedEmitter } from "./events.js";
import type { Job, JobStatus, Json } from "./job.js";
import type { Store } from "./store/store.js";
import { ValidationError } from "./errors.js";
import { FILTER_KEYS, checkFilter, isEmptyFilter, type JobFilter } from "./filter.js";
import { toQueueStats, type QueueStats } from "./stats.js";
import { MAX_DELAY_MS, checkDuration, checkInteger, checkKnownKeys, checkName, checkOptionsObject, describe } from "./validate.js";

/**
 * Options of {@link Admin.list}: a {@link JobFilter}, and keyset paging in both directions. A page holds
 * the `limit` jobs nearest its cursor, in `order`:
 * - newest first: `{ order: "desc" }`, then the next (older) page `{ order: "desc", beforeId: last.id }`,
 *   and back to the previous (newer) one `{ order: "desc", afterId: first.id }`;
 * - oldest first (the default): `{ afterId: last.id }` pages forward, `{ beforeId: first.id }` back.
 */
export interface ListOptions extends JobFilter {
  /** At most this many jobs (1..10 000). Default 100. */
  limit?: number;
  /** Only jobs after this id (in id order, which is creation order). */
  afterId?: string;
  /** Only jobs before this id. */
  beforeId?: string;
  /** `"asc"` (default): oldest first; `"desc"`: newest first. */
  order?: "asc" | "desc";
}

/** Options of {@link Admin.reschedule}: exactly one of `delay` and `at`. */
export type RescheduleOptions = { delay: number; at?: never } | { at: Date; delay?: never };

/** Options of bulk operations such as `cancel(filter, reason, options)`. */
export interface BulkOptions {
  /** Called after each batch with how many jobs were changed so far (for a progress line). */
  onProgress?: (done: number) => void;
}

/** Bulk operations change jobs in batches of this many: each batch is atomic, the whole is not. */
const BULK_BATCH = 500;

export interface AdminDeps {
  readonly store: Store;
  readonly events: TypedEmitter<QueueEvents>;
  /** Tells this process's workers that a job was cancelled (its handler, if running here, stops). */
  readonly onCancelled: (id: string, reason: string) => void;
  /** Tells this process's workers that jobs may have become available. */
  readonly wake?: () => void;
}

/** Ids are opaque strings (the store decides their shape); anything longer is no id of ours. */
const MAX_ID_LENGTH = 255;

export class Admin {
  readonly #deps: AdminDeps;

  constructor(deps: AdminDeps) {
    this.#deps = deps;
  }

  async get<Data = Json, Result = Json>(id: string): Promise<Job<Data, Result> | null> {
    return (await this.#deps.store.jobGet({ id: checkId(id) })) as Job<Data, Result> | null;
  }

  async list<Data = Json, Result = Json>(options?: ListOptions): Promise<Job<Data, Result>[]> {
    const given = checkOptionsObject(options, "options");
    checkKnownKeys(given, [...FILTER_KEYS, "limit", "afterId", "beforeId", "order"], "options");
    if (given.order !== undefined && given.order !== "asc" && given.order !== "desc") {
      throw new ValidationError("options.order", `must be "asc" or "desc", got ${describe(given.order)}`);
    }
    const query = {
      ...checkFilter(given, "options"),
      limit: checkInteger(given.limit ?? 100, "options.limit", 1, 10_000),
      ...(given.afterId !== undefined && { afterId: checkId(given.afterId, "options.afterId") }),
      ...(given.beforeId !== undefined && { beforeId: checkId(given.beforeId, "options.beforeId") }),
      ...(given.order !== undefined && { order: given.order }),
    };
    return (await this.#deps.store.jobList(query)) as Job<Data, Result>[];
  }

  async stats(): Promise<QueueStats> {
    const [raw, paused] = await Promise.all([this.#deps.store.jobStats(), this.#deps.store.taskListPaused()]);
    return toQueueStats(raw, paused);
  }

  async reschedule(id: string, options: RescheduleOptions): Promise<boolean> {
    const checkedId = checkId(id);
    const given = checkOptionsObject(options as Partial<RescheduleOptions>, "options");
    checkKnownKeys(given, ["delay", "at"], "options");
    if ((given.delay === undefined) === (given.at === undefined)) throw new ValidationError("options", "must have exactly one of delay and at");
    let moved;
    if (given.at !== undefined) {
      if (!(given.at instanceof Date) || Number.isNaN(given.at.getTime())) throw new ValidationError("options.at", `must be a valid Date, got ${describe(given.at)}`);
      moved = await this.#deps.store.jobReschedule({ id: checkedId, at: given.at });
    } else {
      // As at enqueue: a delay in the past means now.
      const delayMs = Math.max(0, checkDuration(given.delay, "options.delay", { min: -MAX_DELAY_MS }));
      moved = await this.#deps.store.jobReschedule({ id: checkedId, delayMs });
    }
    if (moved) this.#deps.wake?.();
    return moved !== null;
  }

  async count(name?: string): Promise<Record<JobStatus, number>> {
    if (name !== undefined) checkName(name);
    return this.#deps.store.jobCountByStatus(name === undefined ? {} : { name });
  }

  async cancel(id: string, reason: string): Promise<boolean> {
    const checkedId = checkId(id);
    checkReason(reason);
    const row = await this.#deps.store.jobCancel({ id: checkedId, attempt: null, reason, errors: null });
    if (!row) return false;
    this.#deps.onCancelled(checkedId, reason);
    this.#deps.events.emit("job:cancel", { job: row, reason });
    return true;
  }

  /** Cancels every unfinished job matching `filter`, in batches; returns how many it cancelled. */
  async cancelMatching(filter: JobFilter, reason: string, options?: BulkOptions): Promise<number> {
    const given = checkOptionsObject(filter, "filter");
    checkKnownKeys(given, FILTER_KEYS, "filter");
    const params = checkFilter(given, "filter");
    if (isEmptyFilter(params)) throw new ValidationError("filter", "must name at least one criterion (an empty filter would mean every job)");
    checkReason(reason);
    const onProgress = checkOptionsObject(options, "options").onProgress;
    if (onProgress !== undefined && typeof onProgress !== "function") throw new ValidationError("options.onProgress", "must be a function");
    const unfinished = (["enqueued", "dequeued", "failed"] as const).filter((status) =>
      (params.status === undefined || params.status === status) && (params.statuses === undefined || params.statuses.includes(status)));
    let done = 0;
    let afterId: string | undefined;
    for (;;) {
      const page = await this.#deps.store.jobList({ ...params, status: undefined, statuses: unfinished, limit: BULK_BATCH, ...(afterId !== undefined && { afterId }) });
      const last = page.at(-1);
      if (!last) return done;
      afterId = last.id;
      const cancelled = await this.#deps.store.jobCancelMany({ ids: page.map((job) => job.id), reason });
      for (const job of cancelled) {
        this.#deps.onCancelled(job.id, reason);
        this.#deps.events.emit("job:cancel", { job, reason });
      }
      done += cancelled.length;
      onProgress?.(done);
    }
  }
}

function checkReason(reason: unknown): void {
  if (typeof reason !== "string" || reason.length === 0) throw new ValidationError("reason", "must be a non-empty string");
}

/** An id as a caller gives it: a non-empty string (a safe integer is accepted too); its shape is the store's business. */
export function checkId(id: unknown, field = "id"): string {
  const text = typeof id === "number" && Number.isSafeInteger(id) ? String(id) : id;
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_ID_LENGTH) {
    throw new ValidationError(field, `must be a job id (a non-empty string), got ${describe(id)}`);
  }
  return text;
}
