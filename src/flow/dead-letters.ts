/**
 * Dead letters re-run: `queue.retry` and `queue.delete`, by id or by filter.
 *
 * The dead-letter set is every `cancelled` job (given up after `maxAttempts`, quarantined, cancelled by
 * its handler, an operator or a cancelled parent); `list({ status: "cancelled" })` shows it with reasons and
 * error history. Both calls are single fenced statements per batch: `retry` changes a job only while it
 * is `cancelled`, `delete` only while it is finished, so a job a worker holds (always `dequeued`) is never
 * touched, and two operators racing change each job once.
 * @module
 */
import { JobNotFoundError, JobStateError, ValidationError } from "../errors.js";
import type { Job, JobStatus, Json } from "../job.js";
import { MAX_BATCH, type Store } from "../store/store.js";
import { checkInteger, checkKnownKeys, checkName, checkOptionsObject, describe } from "../validate.js";
import { toPublicJob } from "../store/row.js";

/** Which jobs `queue.retry(filter)` sends back: cancelled ones, optionally of one task. */
export interface RetryFilter {
  /** Only jobs of this task. */
  name?: string;
  /** At most this many (1..1 000 000). Default: all that match. */
  limit?: number;
}

/** Which jobs `queue.delete(filter)` removes: finished ones (cancelled by default), optionally of one task. */
export interface DeleteFilter {
  name?: string;
  /** `"cancelled"` (the dead letters, the default) or `"completed"`. */
  status?: "cancelled" | "completed";
  /** At most this many (1..1 000 000). Default: all that match. */
  limit?: number;
}

export interface DeadLettersDeps {
  readonly store: Store;
  /** Workers of this process may have jobs to claim now. */
  readonly onRetried: () => void;
}

const FINISHED: readonly JobStatus[] = ["completed", "cancelled"];
const MAX_LIMIT = 1_000_000;

export class DeadLetters {
  readonly #deps: DeadLettersDeps;

  constructor(deps: DeadLettersDeps) {
    this.#deps = deps;
  }

  /** Sends one cancelled job back. Throws `JobNotFoundError` or `JobStateError` (not cancelled). */
  async retryOne<Data = Json, Result = Json>(id: string): Promise<Job<Data, Result>> {
    const [row] = await this.#deps.store.jobRetry({ ids: [id] });
    if (!row) throw await this.#refusal(id, "cancelled", "only cancelled jobs (dead letters) can be retried, and only while no live job of the same task holds their label");
    this.#deps.onRetried();
    return toPublicJob<Data, Result>(row);
  }

  /** Sends back every cancelled job matching `filter`; returns how many. */
  async retryMany(filter: RetryFilter): Promise<number> {
    const { name, limit } = checkFilter(filter, ["name", "limit"]);
    const count = await this.#eachBatch(name, "cancelled", limit, async (ids) => (await this.#deps.store.jobRetry({ ids })).length);
    if (count > 0) this.#deps.onRetried();
    return count;
  }

  /** Deletes one finished job. Throws `JobNotFoundError`, or `JobStateError` if it has not finished. */
  async deleteOne(id: string): Promise<void> {
    const deleted = await this.#deps.store.jobDelete({ ids: [id] });
    if (!deleted.has(id)) throw await this.#refusal(id, FINISHED, "only finished jobs can be deleted; cancel it first");
  }

  /** Deletes every finished job matching `filter` (cancelled ones by default); returns how many. */
  async deleteMany(filter: DeleteFilter): Promise<number> {
    const given = checkFilter(filter, ["name", "status", "limit"]);
    const status = (filter as DeleteFilter).status ?? "cancelled";
    if (!FINISHED.includes(status)) throw new ValidationError("filter.status", `must be "cancelled" or "completed", got ${describe(status)}`);
    return this.#eachBatch(given.name, status, given.limit, async (ids) => (await this.#deps.store.jobDelete({ ids })).size);
  }

  /** The error for a job the fenced write left alone: it does not exist, or is not in `allowed`. */
  async #refusal(id: string, allowed: JobStatus | readonly JobStatus[], detail: string): Promise<Error> {
    const job = await this.#deps.store.jobGet({ id });
    if (!job) return new JobNotFoundError(id);
    const statuses: readonly JobStatus[] = typeof allowed === "string" ? [allowed] : allowed;
    // It changed between the write and this read (another operator was first): still refused, as it was.
    return new JobStateError(id, job.status, statuses.includes(job.status) ? `${detail} (it changed meanwhile)` : detail);
  }

  /**
   * Pages through jobs of `status` (and `name`) in id order and applies `apply` to each page of ids,
   * until `limit` jobs were changed or none are left. Returns how many were changed.
   */
  async #eachBatch(name: string | undefined, status: JobStatus, limit: number, apply: (ids: string[]) => Promise<number>): Promise<number> {
    let changed = 0;
    let afterId: string | undefined;
    while (changed < limit) {
      const page = await this.#deps.store.jobList({
        status, limit: Math.min(MAX_BATCH, limit - changed), ...(name !== undefined && { name }), ...(afterId !== undefined && { afterId }),
      });
      if (page.length === 0) break;
      changed += await apply(page.map((job) => job.id));
      afterId = page[page.length - 1]?.id;
    }
    return changed;
  }
}

function checkFilter(filter: object, known: readonly string[]): { name: string | undefined; limit: number } {
  const given = checkOptionsObject(filter as { name?: unknown; limit?: unknown }, "filter");
  checkKnownKeys(given, known, "filter");
  const name = given.name === undefined ? undefined : checkName(given.name, "filter.name");
  const limit = given.limit === undefined ? MAX_LIMIT : checkInteger(given.limit, "filter.limit", 1, MAX_LIMIT);
  return { name, limit };
}
