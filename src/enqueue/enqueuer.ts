/**
 * Enqueueing: checks what the caller gave, then stores it by one of three paths.
 *
 * - Inside the caller's transaction (`tx`): one insert on their connection, now; this process's workers
 *   look for the jobs once the transaction has ended (`Store.afterTransaction`).
 * - With an idle local worker for the task: stored already claimed and handed to it (see direct-claim.ts).
 * - Otherwise: coalesced with concurrent calls into one multi-row insert (see coalescer.ts).
 *
 * Data flows one way: the enqueuer reports what it stored (`onStored`) and when it can be claimed
 * (`onCommitted`); the queue emits events and wakes its workers from there.
 * @module
 */
import { ValidationError } from "../errors.js";
import type { StoredJob, NewJob, Store } from "../store/store.js";
import {
  MAX_DELAY_MS, checkDuration, checkInteger, checkKnownKeys, checkName, checkOptionsObject, describe, serializeJson,
} from "../validate.js";
import { checkGroup } from "../flow/limits.js";
import { checkUniqueOptions } from "../unique/options.js";
import { checkAfter, checkNoCycle } from "../flow/after.js";
import { Coalescer } from "./coalescer.js";
import type { DirectClaim, DirectClaimSource } from "./direct-claim.js";

/** One job as the caller describes it (see `EnqueueItem` in queue.ts). */
export interface JobInput {
  name?: unknown;
  data?: unknown;
  delay?: unknown;
  priority?: unknown;
  label?: unknown;
  isolation?: unknown;
  onDuplicate?: unknown;
  group?: unknown;
  after?: unknown;
}

export interface EnqueuerDeps {
  readonly store: Store;
  readonly maxPayloadBytes: number;
  /** Called with the jobs of every insert (inside a caller's transaction: before it commits or rolls back). */
  readonly onStored: (jobs: StoredJob[]) => void;
  /** Called once stored jobs are committed and up for claiming: wake the workers. */
  readonly onCommitted: () => void;
}

export const ITEM_KEYS = ["name", "data", "delay", "priority", "label", "isolation", "onDuplicate", "group", "after"] as const;

export class Enqueuer {
  readonly #deps: EnqueuerDeps;
  readonly #plain: Coalescer<NewJob, StoredJob>;
  readonly #claimed: Coalescer<{ job: NewJob; leaseMs: number }, StoredJob>;
  #direct: DirectClaimSource | undefined;

  constructor(deps: EnqueuerDeps) {
    this.#deps = deps;
    this.#plain = new Coalescer((jobs) => deps.store.jobInsertMany({ jobs }));
    this.#claimed = new Coalescer((items) => deps.store.jobInsertClaimed({ items }));
  }

  /** Lets this process's workers take new jobs directly (once they run). */
  set directClaims(source: DirectClaimSource | undefined) {
    this.#direct = source;
  }

  /**
   * Checks one job's input. `prefix` names it in errors (`items[3].`); `batch` is its place in an
   * `enqueueMany` call, where `after` may name other items by index. Throws `ValidationError`.
   */
  check(item: JobInput, prefix = "", batch?: { size: number; self: number }): NewJob {
    const name = checkName(item.name, `${prefix}name`);
    const data = serializeJson(item.data === undefined ? {} : item.data, `${prefix}data`, this.#deps.maxPayloadBytes);
    // A delay in the past means now: `delay: at - Date.now()` computed a moment late must not fail.
    const delayMs = item.delay === undefined ? 0 : Math.max(0, checkDuration(item.delay, `${prefix}delay`, { min: -MAX_DELAY_MS }));
    const priority = item.priority === undefined ? 0 : checkInteger(item.priority, `${prefix}priority`, -1_000_000, 1_000_000);
    const { label, isolationMs, replace } = checkUniqueOptions(item, prefix);
    const group = item.group === undefined ? null : checkGroup(item.group, `${prefix}group`);
    const after = item.after === undefined ? undefined : checkAfter(item.after, `${prefix}after`, batch);
    return { name, data, delayMs, priority, label, group, ...(label !== null && { isolationMs, replace }), ...(after && { after }) };
  }

  /** Checks a list of items (each a plain object with known keys). */
  checkMany(items: unknown): NewJob[] {
    if (!Array.isArray(items)) throw new ValidationError("items", `must be an array, got ${describe(items)}`);
    const jobs = items.map((item: unknown, index) => {
      const field = `items[${index}]`;
      const checked = checkOptionsObject(item as JobInput | undefined, field);
      checkKnownKeys(checked, ITEM_KEYS, field);
      return this.check(checked, `${field}.`, { size: items.length, self: index });
    });
    checkNoCycle(jobs);
    return jobs;
  }

  /**
   * Stores one checked job: directly claimed by an idle local worker if there is one, else coalesced. A
   * labelled job is always coalesced: it may turn out to be a duplicate, which must not be claimed.
   */
  async one(job: NewJob): Promise<StoredJob> {
    const direct: DirectClaim | undefined = job.delayMs === 0 && job.label === null ? this.#direct?.reserveDirect(job.name) : undefined;
    if (!direct) {
      const stored = await this.#plain.add(job);
      this.#stored([stored]);
      this.#deps.onCommitted();
      return stored;
    }
    let stored: StoredJob;
    try {
      stored = await this.#claimed.add({ job, leaseMs: direct.leaseMs });
    } catch (error) {
      direct.cancel();
      throw error;
    }
    this.#stored([stored]);
    direct.adopt(stored);
    return stored;
  }

  /**
   * Stores checked jobs inside the caller's transaction `tx` before returning, for a synchronous
   * transaction function (better-sqlite3's `db.transaction(fn)`), which cannot await. A throw here
   * (bad input, wrong handle) propagates out of `fn`, so the caller's transaction rolls back.
   */
  manySync(jobs: NewJob[], tx: unknown): StoredJob[] {
    const { store, onCommitted } = this.#deps;
    if (!store.capabilities.synchronousInsert) {
      throw new ValidationError("options.tx", "this store cannot store a job synchronously; use enqueue() and await it");
    }
    if (tx === undefined) throw new ValidationError("options.tx", "is required: the transaction to store the job in");
    if (jobs.length === 0) return [];
    const stored = store.jobInsertManySync({ jobs, tx });
    this.#stored(stored);
    store.afterTransaction(tx, onCommitted);
    return stored;
  }

  /** Stores checked jobs in one statement, inside the caller's transaction `tx` if given. */
  async many(jobs: NewJob[], tx: unknown): Promise<StoredJob[]> {
    const { store, onCommitted } = this.#deps;
    if (jobs.length === 0) return [];
    const stored = await store.jobInsertMany({ jobs, ...(tx !== undefined && { tx }) });
    this.#stored(stored);
    if (tx === undefined) onCommitted();
    else store.afterTransaction(tx, onCommitted);
    return stored;
  }

  /**
   * Reports the jobs an insert stored, leaving out the duplicates (standing jobs it only found), and
   * marks every job with whether it is one (`duplicate` is always a boolean in what callers get).
   */
  #stored(jobs: StoredJob[]): void {
    for (const job of jobs) job.duplicate ??= false;
    const fresh = jobs.filter((job) => !job.duplicate);
    if (fresh.length > 0) this.#deps.onStored(fresh);
  }
}
