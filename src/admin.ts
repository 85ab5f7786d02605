/**
 * Reading and operating on stored jobs: what an operator (or the CLI and dashboard) does with a queue,
 * as opposed to producing and running jobs. Works without defining any task; every input is checked
 * here, at the boundary.
 * @module
 */
import type { QueueEvents, TypedEmitter } from "./events.js";
import { JOB_STATUSES, type Job, type JobStatus, type Json } from "./job.js";
import type { Store } from "./store/store.js";
import { ValidationError } from "./errors.js";
import { checkInteger, checkKnownKeys, checkName, checkOptionsObject, describe } from "./validate.js";

/** Options of {@link Admin.list}. */
export interface ListOptions {
  name?: string;
  /** Only jobs with this label (unique jobs, a schedule's slots). */
  label?: string;
  status?: JobStatus;
  /** At most this many jobs (1..10 000). Default 100. */
  limit?: number;
  /** Only jobs after this id, for paging: pass the last id of the previous page. */
  afterId?: string;
}

export interface AdminDeps {
  readonly store: Store;
  readonly events: TypedEmitter<QueueEvents>;
  /** Tells this process's workers that a job was cancelled (its handler, if running here, stops). */
  readonly onCancelled: (id: string, reason: string) => void;
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
    checkKnownKeys(given, ["name", "label", "status", "limit", "afterId"], "options");
    if (given.name !== undefined) checkName(given.name, "options.name");
    if (given.label !== undefined) checkName(given.label, "options.label");
    if (given.status !== undefined && !JOB_STATUSES.includes(given.status)) {
      throw new ValidationError("options.status", `must be one of ${JOB_STATUSES.join(", ")}`);
    }
    const query = {
      limit: checkInteger(given.limit ?? 100, "options.limit", 1, 10_000),
      ...(given.name !== undefined && { name: given.name }),
      ...(given.label !== undefined && { label: given.label }),
      ...(given.status !== undefined && { status: given.status }),
      ...(given.afterId !== undefined && { afterId: checkId(given.afterId, "options.afterId") }),
    };
    return (await this.#deps.store.jobList(query)) as Job<Data, Result>[];
  }

  async count(name?: string): Promise<Record<JobStatus, number>> {
    if (name !== undefined) checkName(name);
    return this.#deps.store.jobCountByStatus(name === undefined ? {} : { name });
  }

  async cancel(id: string, reason: string): Promise<boolean> {
    const checkedId = checkId(id);
    if (typeof reason !== "string" || reason.length === 0) throw new ValidationError("reason", "must be a non-empty string");
    const row = await this.#deps.store.jobCancel({ id: checkedId, attempt: null, reason, errors: null });
    if (!row) return false;
    this.#deps.onCancelled(checkedId, reason);
    this.#deps.events.emit("job:cancel", { job: row, reason });
    return true;
  }
}

/** An id as a caller gives it: a non-empty string (a safe integer is accepted too); its shape is the store's business. */
export function checkId(id: unknown, field = "id"): string {
  const text = typeof id === "number" && Number.isSafeInteger(id) ? String(id) : id;
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_ID_LENGTH) {
    throw new ValidationError(field, `must be a job id (a non-empty string), got ${describe(id)}`);
  }
  return text;
}
