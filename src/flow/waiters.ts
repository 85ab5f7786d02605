/**
 * `queue.waitFor(id)`: every waiter of a queue shares one watch, however many there are.
 *
 * - Arming: new waiters are gathered for one turn of the event loop and their jobs read in one batched
 *   statement, which also marks them as awaited (`Store.jobGetMany({ awaited })`). A job already finished
 *   settles its waiters at once; an id with no job rejects at once (`JobNotFoundError`).
 * - Wake-ups: where the store reaches other processes (PostgreSQL), the write that finishes an awaited
 *   job sends its id on one channel, heard by one listener per queue (opened at the first wait, before
 *   anything is armed, so no finish slips between). This process's own finishes arrive as events
 *   (`check`). Either way only the ids concerned are read again, batched.
 * - Polling, as the fallback (a lost notification, a job deleted while waited for) and as the only way
 *   on SQLite, whose other processes cannot signal: one timer re-reads every waited id in batches of
 *   MAX_BATCH. On SQLite it starts fast and backs off while nothing finishes; with wake-ups it only
 *   runs every FALLBACK_POLL_MS.
 *
 * A read that fails is reported (`wait`) and retried at the next poll; waiters keep waiting (their own
 * `timeout` bounds them). Nothing here ever changes a job.
 * @module
 */
import { JobCancelledError, JobNotFoundError, QueueClosedError, WaitTimeoutError, coerceError } from "../errors.js";
import type { Job } from "../job.js";
import type { ErrorReporter } from "../report.js";
import { MAX_BATCH, type Store, type StoredJob } from "../store/store.js";
import { toPublicJob } from "../store/row.js";

/** Options of {@link Waiters.wait} (`queue.waitFor`). */
export interface WaitOptions {
  /** Give up after this many ms with a `WaitTimeoutError` (the job is unaffected). Default: no limit. */
  timeout?: number;
  /** Give up when this signal aborts, rejecting with its reason (the job is unaffected). */
  signal?: AbortSignal;
}

/** Polling where finishes are also announced: only a safety net. */
const FALLBACK_POLL_MS = 1_000;
/** Polling where they are not (SQLite): the first re-read comes soon, then the gaps grow while nothing finishes. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 500;

interface Waiter {
  resolve(job: Job): void;
  reject(error: Error): void;
}

export interface WaitersDeps {
  readonly store: Store;
  readonly report: ErrorReporter;
}

export class Waiters {
  readonly #deps: WaitersDeps;
  readonly #byId = new Map<string, Set<Waiter>>();
  /** Ids of new waiters, to read (and mark as awaited) in the next batch. */
  #toArm = new Set<string>();
  /** Ids some finish may concern, to read again in the next batch. */
  #toCheck = new Set<string>();
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  #listening: Promise<void> | undefined;
  #stopListening: (() => Promise<void>) | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #pollDelay = FIRST_POLL_MS;
  #closed = false;

  constructor(deps: WaitersDeps) {
    this.#deps = deps;
  }

  /** Resolves with the job once completed; rejects once cancelled, unknown, timed out or aborted. */
  wait(id: string, options: { timeout: number | undefined; signal: AbortSignal | undefined }): Promise<Job> {
    if (this.#closed) return Promise.reject(new QueueClosedError("waitFor"));
    const { timeout, signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Job>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(() => reject(abortReason(signal as AbortSignal)));
      const settle = (finish: () => void) => {
        if (!this.#remove(id, waiter)) return;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        finish();
      };
      const waiter: Waiter = {
        resolve: (job) => settle(() => resolve(job)),
        reject: (error) => settle(() => reject(error)),
      };
      let set = this.#byId.get(id);
      if (!set) this.#byId.set(id, (set = new Set()));
      set.add(waiter);
      if (timeout !== undefined) timer = setTimeout(() => waiter.reject(new WaitTimeoutError(id, timeout)), timeout);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#toArm.add(id);
      this.#pollDelay = FIRST_POLL_MS;
      this.#scheduleFlush();
    });
  }

  /** A job may have finished (an event of this process, or a notification): read it again if waited for. */
  check(id: string): void {
    if (!this.#byId.has(id)) return;
    this.#toCheck.add(id);
    this.#pollDelay = FIRST_POLL_MS;
    this.#scheduleFlush();
  }

  /** Rejects every waiter with `QueueClosedError` and stops listening and polling. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clearPoll();
    const error = new QueueClosedError("waitFor");
    for (const set of [...this.#byId.values()]) for (const waiter of [...set]) waiter.reject(error);
    await this.#listening;
    await this.#flushing;
    await this.#stopListening?.().catch((thrown: unknown) => this.#deps.report(coerceError(thrown), { source: "listen" }));
    this.#stopListening = undefined;
  }

  #remove(id: string, waiter: Waiter): boolean {
    const set = this.#byId.get(id);
    if (!set?.delete(waiter)) return false;
    if (set.size === 0) this.#byId.delete(id);
    if (this.#byId.size === 0) this.#clearPoll();
    return true;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#closed) return;
    this.#flushScheduled = true;
    // One turn of the event loop: waiters created together are armed by one read.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flushing ??= this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#toArm.size > 0 || this.#toCheck.size > 0) this.#scheduleFlush();
        else this.#schedulePoll();
      });
    });
  }

  async #flush(): Promise<void> {
    const { store } = this.#deps;
    if (store.capabilities.crossProcessWakeups) await this.#listen();
    const arm = [...this.#toArm].filter((id) => this.#byId.has(id));
    const check = [...this.#toCheck].filter((id) => this.#byId.has(id) && !this.#toArm.has(id));
    this.#toArm = new Set();
    this.#toCheck = new Set();
    try {
      for (let i = 0; i < arm.length; i += MAX_BATCH) {
        const ids = arm.slice(i, i + MAX_BATCH);
        this.#settle(ids, await store.jobGetMany({ ids, awaited: true }), "no job has this id");
      }
      for (let i = 0; i < check.length; i += MAX_BATCH) {
        const ids = check.slice(i, i + MAX_BATCH);
        this.#settle(ids, await store.jobGetMany({ ids }), "the job was deleted while waited for");
      }
    } catch (error) {
      // Read again at the next poll; the waiters keep waiting.
      for (const id of arm) this.#toArm.add(id);
      for (const id of check) this.#toCheck.add(id);
      this.#deps.report(coerceError(error), { source: "wait" });
    }
  }

  /** Settles the waiters of `ids` from what a read found (`missing`: why an id with no row rejects). */
  #settle(ids: string[], rows: StoredJob[], missing: string): void {
    const found = new Map(rows.map((row) => [row.id, row]));
    for (const id of ids) {
      const waiters = this.#byId.get(id);
      if (!waiters) continue;
      const row = found.get(id);
      if (!row) {
        for (const waiter of [...waiters]) waiter.reject(new JobNotFoundError(id, missing));
        continue;
      }
      const job = toPublicJob(row);
      if (job.status === "completed") for (const waiter of [...waiters]) waiter.resolve(job);
      else if (job.status === "cancelled") {
        for (const waiter of [...waiters]) waiter.reject(new JobCancelledError(id, job.reason ?? "cancelled", job));
      }
    }
  }

  /** Opens the one listener of finishes (once; a failure is reported and retried by the next flush). */
  #listen(): Promise<void> {
    this.#listening ??= this.#deps.store.listenFinished({
      onFinished: (id) => this.check(id),
      onError: (error) => this.#deps.report(error, { source: "listen" }),
    }).then(
      async (stop) => {
        if (this.#closed) await stop();
        else this.#stopListening = stop;
      },
      (error: unknown) => {
        this.#listening = undefined;
        this.#deps.report(coerceError(error), { source: "listen" });
      },
    );
    return this.#listening;
  }

  #schedulePoll(): void {
    if (this.#pollTimer || this.#closed || this.#byId.size === 0) return;
    const wakeups = this.#deps.store.capabilities.crossProcessWakeups;
    const delay = wakeups ? FALLBACK_POLL_MS : this.#pollDelay;
    this.#pollDelay = Math.min(this.#pollDelay * 2, MAX_POLL_MS);
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      for (const id of this.#byId.keys()) this.#toCheck.add(id);
      this.#scheduleFlush();
    }, delay);
  }

  #clearPoll(): void {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException("waitFor was aborted", "AbortError");
}
