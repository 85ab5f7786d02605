/**
 * The test queue of `hewn/testing`: a real queue on an in-memory SQLite database (the same store, SQL and
 * semantics as a file), whose clock stands still until the test moves it, and whose jobs run only when
 * the test calls `drain()`. Nothing runs in the background, so a test sees exactly the jobs it enqueued,
 * in the states it put them in.
 * @module
 */
import { AssertionError } from "node:assert";
import { ValidationError } from "../errors.js";
import { queueInternals, type QueueInternals } from "../internals.js";
import { enqueueDueSlots } from "../maintenance/periodic-enqueuer.js";
import type { Job, Json, JobStatus } from "../job.js";
import { Queue, type QueueOptions } from "../queue.js";
import type { ErrorContext } from "../report.js";
import { Worker } from "../worker/worker.js";
import { TestClock } from "./clock.js";
import { runAndDie, type CrashedAttempt } from "./crash.js";
import { matches, type DeepPartial } from "./match.js";

/** Options of {@link createTestQueue}. */
export interface TestQueueOptions {
  /** The clock's first reading (epoch ms or a Date). Default: the real time now. */
  start?: number | Date;
  /**
   * Receives errors met while jobs run (a handler's plain throw, …). Default: kept in
   * {@link TestQueue.errors} and not printed, since a test of failures expects them.
   */
  onError?: (error: Error, context: ErrorContext) => void;
  /** Largest payload accepted, in bytes of JSON. Default 1 MiB, as in production. */
  maxPayloadBytes?: number;
}

/** Options of {@link TestQueue.advance}. */
export interface AdvanceOptions {
  /**
   * The clock moves while no process runs, as across a deployment or an outage: schedule slots that come
   * due on the way are *missed*, and each schedule's `catchUp` decides which of them the next drain
   * enqueues (see docs/unique-and-periodic.md). Default false: the test queue is a process that was running
   * all along, so every slot since a schedule was declared is *live* and enqueued.
   */
  offline?: boolean;
}

/** Options of {@link TestQueue.drain}. */
export interface DrainOptions {
  /**
   * Also run jobs that are not due yet (delayed, or failed and waiting out their backoff), moving the
   * clock forward to each in turn, until no job of a defined task is left to run. Schedule slots that
   * come before such a job are stopped at on the way (each slot's job runs at its slot's time), but a
   * slot never moves the clock on its own: a schedule always has a next slot, so the drain would never
   * end. To run schedules forward, give `until`. Default false: only what is due now runs, and the clock
   * stays where it is.
   */
  advance?: boolean;
  /**
   * Implies `advance`, bounded: the clock moves to each job and each schedule slot due at or before
   * `until` (epoch ms or a Date, not before the clock's reading) in turn, running what is due at each,
   * and ends at `until`. Jobs due later are left waiting.
   */
  until?: number | Date;
  /** Attempts one drain may start before it gives up with an error (a job that re-enqueues itself forever). Default 10 000. */
  maxAttempts?: number;
}

/** What a {@link TestQueue.drain} did. */
export interface DrainResult {
  /** Attempts started (each run of a handler, retries included). */
  attempts: number;
}

/** What {@link TestQueue.crash} found: the attempt that died, and the job after it was run again. */
export interface CrashResult<Data = Json, Result = Json> {
  /** The attempt whose worker died after the handler returned (or threw): what the handler did. */
  crashed: CrashedAttempt;
  /** The job once the rerun's outcome was written (e.g. `completed`, with `crashes: 1`). */
  job: Job<Data, Result>;
}

const RUNNABLE: JobStatus[] = ["enqueued", "failed", "dequeued"];
const DEFAULT_MAX_ATTEMPTS = 10_000;
/** How often a drain looks whether anything is left, while jobs run. */
const DRAIN_POLL_MS = 1;
/** How long due jobs may go unclaimed, with none running, before a drain leaves them (see `drain`). */
const STALL_MS = 250;

/**
 * A queue for your tests: {@link TestQueue.queue} is a real `Queue` (pass it to the code under test), on
 * an in-memory database, with a {@link TestClock}. Jobs run only inside {@link TestQueue.drain} and
 * {@link TestQueue.crash}; do not call `queue.start()` on it.
 */
export class TestQueue {
  /** The queue to hand to the code under test. */
  readonly queue: Queue;
  /** The clock every stored time comes from; moves only with `advance` / `clock.set`. */
  readonly clock: TestClock;
  /** Every job enqueued so far, in order (including jobs enqueued by handlers). */
  readonly enqueued: Job[] = [];
  /** Errors reported while jobs ran, when no `onError` was given. */
  readonly errors: Array<{ error: Error; context: ErrorContext }>;
  readonly #internals: QueueInternals;
  /** Jobs whose worker "died" (see `crash`): not running anywhere, whatever their lease says. */
  readonly #dead = new Set<string>();
  /**
   * When this "process" began taking part in the schedules, on the test clock (the periodic enqueuer's
   * `liveSince`): when the queue opened, or the end of the last offline advance.
   */
  #liveSince: number;

  private constructor(queue: Queue, clock: TestClock, errors: Array<{ error: Error; context: ErrorContext }>) {
    this.queue = queue;
    this.clock = clock;
    this.errors = errors;
    const internals = queueInternals.get(queue);
    if (internals === undefined) throw new Error("hewn/testing: the queue has no internals");
    this.#internals = internals;
    this.#liveSince = clock.now();
    queue.on("job:enqueue", ({ jobs }) => this.enqueued.push(...jobs));
  }

  /** Opens a test queue. Close it after the test (`await tq.close()`). */
  static async open(options: TestQueueOptions = {}): Promise<TestQueue> {
    const clock = new TestClock(options.start);
    const errors: Array<{ error: Error; context: ErrorContext }> = [];
    const queueOptions: QueueOptions = {
      sqlite: { clock: () => clock.now() },
      onError: options.onError ?? ((error, context) => errors.push({ error, context })),
      ...(options.maxPayloadBytes !== undefined && { maxPayloadBytes: options.maxPayloadBytes }),
    };
    return new TestQueue(await Queue.open("sqlite::memory:", queueOptions), clock, errors);
  }

  /**
   * Moves the clock `ms` forward: delays, retry backoffs, leases and schedule slots that end by then are
   * due (the next `drain` enqueues the slots' jobs and runs them). With `{ offline: true }` no process ran
   * meanwhile: the slots on the way were missed, and each schedule's `catchUp` decides.
   */
  advance(ms: number, options: AdvanceOptions = {}): void {
    this.clock.advance(ms);
    if (options.offline === true) this.#liveSince = this.clock.now();
  }

  /**
   * Runs every due job of the tasks defined on this queue (and jobs they enqueue, and retries that are
   * due at once) with the real worker, and resolves when none is left due or running. First, and each
   * time the clock moves, it runs one round of periodic enqueueing on the test clock, as a started
   * queue's periodic enqueuer would: each schedule slot due by now is enqueued, once. Jobs the store
   * does not hand out now are left for a later drain: those of a paused task, and those held back by a
   * limit (a rate limit's window moves with the test clock) once nothing runs and nothing starts.
   * @throws Error if more than `maxAttempts` attempts started (a job that re-enqueues itself forever).
   * @throws ValidationError if `until` is not a time at or after the clock's reading.
   */
  async drain(options: DrainOptions = {}): Promise<DrainResult> {
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const until = options.until === undefined ? undefined : this.#checkUntil(options.until);
    const advance = options.advance === true || until !== undefined;
    const { events } = this.#internals;
    const worker = new Worker(this.#internals);
    let attempts = 0;
    const counted = () => attempts++;
    events.on("job:start", counted);
    try {
      await worker.start();
      await this.#enqueueSlots();
      let progressAt = performance.now();
      let seen = -1;
      for (;;) {
        const { due, running, next } = await this.#pending();
        if (attempts > maxAttempts) throw new Error(`hewn/testing: drain started more than ${maxAttempts} attempts; is a job re-enqueueing itself forever?`);
        if (attempts !== seen || running > 0) {
          seen = attempts;
          progressAt = performance.now();
        }
        // Due jobs that the store will not hand out now (a rate limit whose window has not passed on the
        // test clock, a group at its limit with nothing running here) are left for a later drain.
        const stalled = running === 0 && performance.now() - progressAt > STALL_MS;
        if ((due === 0 || stalled) && running === 0) {
          if (!advance || stalled) break;
          // A handler may have declared or removed a schedule: look again before choosing where to stop.
          const slots = await this.#enqueueSlots();
          if (slots.enqueued > 0) continue;
          const stop = nextStop(this.clock.now(), next, slots.next, until);
          if (stop === undefined) break;
          this.clock.set(stop);
          await this.#enqueueSlots();
          continue;
        }
        if (due > 0) worker.wake();
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
    } finally {
      events.off("job:start", counted);
      await worker.close(0);
    }
    return { attempts };
  }

  /**
   * Proves a handler idempotent: claims the next due job of task `name` and runs its handler, then
   * "kills" the worker after the handler's side effects and before its outcome is written; moves the
   * clock past the lease, as the real world would wait for it; and drains, so the job runs again (its
   * `crashes` counted) and its outcome is written. Assert on your side effects afterwards: they happened
   * twice, and must add up to once.
   */
  async crash<Data = Json, Result = Json>(name: string): Promise<CrashResult<Data, Result>> {
    const crashed = await runAndDie(this.#internals, name);
    const { id } = crashed.job;
    this.#dead.add(id);
    try {
      const held = await this.#internals.store.jobGet({ id });
      if (held?.status === "dequeued") this.clock.set(Math.max(this.clock.now(), held.availableAt.getTime() + 1));
    } finally {
      this.#dead.delete(id);
    }
    await this.drain();
    const job = await this.queue.get<Data, Result>(id);
    if (job === null) throw new Error(`hewn/testing: job ${id} disappeared after the crash`);
    return { crashed, job };
  }

  /**
   * Asserts that a job of task `name` was enqueued (at any time, whatever became of it) whose data
   * matches `match`: a partial object (keys not given are not compared), or a predicate on the job.
   * @returns the first matching job.
   * @throws AssertionError listing what was enqueued for `name` when nothing matches.
   */
  expectEnqueued<Data = Json>(name: string, match?: DeepPartial<Data> | ((job: Job<Data>) => boolean)): Job<Data> {
    const candidates = this.enqueued.filter((job) => job.name === name) as unknown as Array<Job<Data>>;
    const found = candidates.find((job) =>
      match === undefined ? true : typeof match === "function" ? (match as (job: Job<Data>) => boolean)(job) : matches(job.data, match));
    if (found) return found;
    const seen = candidates.length === 0 ? "none was" : candidates.map((job) => `  ${JSON.stringify(job.data)}`).join("\n");
    throw new AssertionError({
      message: `expected a job "${name}"${match === undefined || typeof match === "function" ? "" : ` with data matching ${JSON.stringify(match)}`} to be enqueued; ${candidates.length === 0 ? seen : `enqueued:\n${seen}`}`,
      actual: candidates.map((job) => job.data),
      expected: typeof match === "function" ? undefined : match,
      operator: "expectEnqueued",
    });
  }

  /** Asserts that no job of task `name` was enqueued. */
  expectNotEnqueued(name: string): void {
    const found = this.enqueued.filter((job) => job.name === name);
    if (found.length === 0) return;
    throw new AssertionError({
      message: `expected no job "${name}" to be enqueued; found ${found.length}: ${found.map((job) => JSON.stringify(job.data)).join(", ")}`,
      actual: found.map((job) => job.data),
      expected: [],
      operator: "expectNotEnqueued",
    });
  }

  /** Closes the queue (and its in-memory database). */
  close(): Promise<void> {
    return this.queue.close({ grace: 0 });
  }

  /**
   * Periodic enqueueing on the test clock (the round a started queue's enqueuer runs), repeated while a
   * schedule has more due slots than one round hands out. Resolves to how many slot jobs it stored and
   * the next slot after now.
   */
  async #enqueueSlots(): Promise<{ enqueued: number; next: number | undefined }> {
    let enqueued = 0;
    const count = ({ jobs }: { jobs: readonly unknown[] }) => void (enqueued += jobs.length);
    this.#internals.events.on("job:enqueue", count);
    try {
      for (;;) {
        const round = await enqueueDueSlots(this.#internals, { liveSince: () => this.#liveSince });
        if (!round.more) return { enqueued, next: round.next };
      }
    } finally {
      this.#internals.events.off("job:enqueue", count);
    }
  }

  #checkUntil(until: number | Date): number {
    const ms = until instanceof Date ? until.getTime() : until;
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < this.clock.now()) {
      throw new ValidationError("options.until", `must be a time (epoch ms or a Date) at or after the clock's reading ${new Date(this.clock.now()).toISOString()}`);
    }
    return ms;
  }

  /** Jobs of defined tasks that are due now or running, and when the next one not yet due will be. */
  async #pending(): Promise<{ due: number; running: number; next: number | undefined }> {
    const { store, tasks } = this.#internals;
    const paused = new Set(await this.queue.paused());
    const now = this.clock.now();
    let due = 0;
    let running = 0;
    let next: number | undefined;
    let afterId: string | undefined;
    for (;;) {
      const page = await store.jobList({ statuses: RUNNABLE, limit: 1000, ...(afterId !== undefined && { afterId }) });
      for (const job of page) {
        if (!tasks.has(job.name) || paused.has(job.name)) continue;
        const at = job.availableAt.getTime();
        if (at <= now) due++;
        else if (job.status === "dequeued" && !this.#dead.has(job.id)) running++;
        else next = next === undefined ? at : Math.min(next, at);
      }
      if (page.length < 1000) break;
      afterId = page.at(-1)?.id;
    }
    return { due, running, next };
  }
}

/**
 * Where `drain({ advance })` moves the clock next, from `now`: the next job not yet due (`job`; only up to
 * `until` when given), or a schedule slot (`slot`) before that job or `until`, whichever comes first;
 * failing both, `until` itself if the clock has not reached it. Undefined: the drain is over. A slot alone
 * never moves the clock without `until`, since a schedule always has a next slot.
 */
function nextStop(now: number, job: number | undefined, slot: number | undefined, until: number | undefined): number | undefined {
  const jobStop = job !== undefined && (until === undefined || job <= until) ? job : undefined;
  const horizon = until ?? job;
  const slotStop = slot !== undefined && horizon !== undefined && slot <= horizon ? slot : undefined;
  const stops = [jobStop, slotStop].filter((time): time is number => time !== undefined);
  if (stops.length > 0) return Math.max(now, Math.min(...stops));
  return until !== undefined && until > now ? until : undefined;
}

/** Opens a {@link TestQueue}: a real queue on an in-memory database, with a clock the test moves. */
export function createTestQueue(options?: TestQueueOptions): Promise<TestQueue> {
  return TestQueue.open(options);
}

