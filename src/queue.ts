/**
 * The queue: hewn's public entry point.
 * @module
 */
import { systemClock, type Clock } from "./clock.js";
import { QueueClosedError, StoreError, ValidationError, coerceError } from "./errors.js";
import { Admin, checkId, type BulkOptions, type ListOptions, type RescheduleOptions } from "./admin.js";
import { DeadLetters, type DeleteFilter, type RetryFilter } from "./flow/dead-letters.js";
import { Waiters, type WaitOptions } from "./flow/waiters.js";
import { jobDependencies, type JobDependencies } from "./flow/dependencies.js";
import type { JobFilter } from "./filter.js";
import type { QueueStats } from "./stats.js";
import { Enqueuer, ITEM_KEYS } from "./enqueue/enqueuer.js";
import { setPaused } from "./flow/pause.js";
import { tracedInsert, type TracingSlot } from "./tracing/hooks.js";
import { queueInternals } from "./internals.js";
import {
  parsingHandler, payloadChecked, resolveTaskRef, type AnyTaskDefinition, type DataOfDefinition, type InputOfDefinition,
  type ResultOfDefinition,
} from "./schema/task-definition.js";
import type { StandardSchemaV1 } from "./schema/standard-schema.js";
import type { QueueOf } from "./typed.js";
import { TypedEmitter, type QueueEvents } from "./events.js";
import type { EnqueuedJob, Job, JobStatus, Json, JsonCompatible } from "./job.js";
import { Retention } from "./maintenance/retention.js";
import type { Service, ServiceDeps } from "./maintenance/service.js";
import { STORE_NAMES, openStore, type StoreSettings, type TransactionHandle } from "./store/registry.js";
import type { Store } from "./store/store.js";
import { resolveTask, type Handler, type Task, type TaskOptions } from "./task.js";
import {
  DEFAULT_MAX_PAYLOAD_BYTES, MAX_DELAY_MS, checkDuration, checkInteger, checkKnownKeys, checkName,
  checkOptionsObject,
} from "./validate.js";
import type { ErrorContext, ErrorReporter } from "./report.js";
import type { OnDuplicate } from "./unique/options.js";
import { Schedules, type ScheduleInfo, type ScheduleOptions } from "./periodic/schedules.js";
import type { When } from "./periodic/when.js";
import { Worker } from "./worker/worker.js";

/**
 * Options of {@link Queue.open}. Durations in ms. Each store's own options sit under its name:
 * `{ sqlite: { clock, busyTimeout } }`, `{ postgres: { schema, poolSize, pool } }`.
 */
export interface QueueOptions extends StoreSettings {
  /**
   * Receives every error met in the background (handler errors, lost leases, store errors, …) with
   * its context. Default: printed to stderr. Errors are reported, never swallowed.
   */
  onError?: (error: Error, context: ErrorContext) => void;
  /** Delete completed and cancelled jobs this long after they finished (in processes that `start()`). Default: keep them. */
  removeAfter?: number;
  /** Largest payload (and result) accepted, in bytes of JSON. Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * `"full"` (default): a job is on disk when `enqueue` resolves and an outcome when it is reported.
   * `"fast"`, opt-in: commits do not wait for the disk (SQLite `synchronous = NORMAL` in WAL mode;
   * PostgreSQL `synchronous_commit = off` on the pool hewn creates from a URL). A crash of the process
   * loses nothing and nothing is ever corrupted, but a power loss or OS crash may lose the last
   * moment's jobs and outcomes (completed jobs may then run again).
   */
  durability?: "full" | "fast";
  /**
   * `true` (default): bring the schema up to date on open. `false`: change nothing — no schema, table or
   * file is created or altered (for a read-only operator on a production database, or a CLI pointed at
   * the wrong URL); opening fails with a `StoreError` if the schema lacks migrations this version needs.
   */
  migrate?: boolean;
}

/** Options of {@link Queue.enqueue}. */
export interface EnqueueOptions {
  /**
   * Run no earlier than this many ms from now. Default 0. A delay in the past (negative) means now, so
   * `delay: runAt - Date.now()` computed a moment too late still runs the job instead of failing.
   */
  delay?: number;
  /** Among available jobs, higher runs first. An integer; default 0. */
  priority?: number;
  /**
   * A deduplication key (unique jobs): while a job of this task with this label stands (enqueued, dequeued
   * or failed), the call stores nothing and returns that job with `duplicate: true`. 1..255 characters.
   * See docs/unique-and-periodic.md.
   */
  label?: string;
  /** With `label`: a job with it that completed less than this many ms ago stands too (debounce after success). Default 0. */
  isolation?: number;
  /**
   * With `label`: `"keep"` (default) leaves a standing job as it is; `"replace"` gives it this call's data,
   * delay and priority while it is still enqueued and has never started (the last call wins).
   */
  onDuplicate?: OnDuplicate;
  /**
   * The job's flow-control group, e.g. a tenant or user id (a non-empty string, at most 255 characters):
   * the task's `groupConcurrency` and `rateLimit.byGroup` count per group, and claims go round-robin
   * across groups. See docs/flow-control.md.
   */
  group?: string;
  /**
   * Dependencies: the job runs only once every job named here has completed (ids of existing jobs). If
   * one of them ends cancelled, this job is cancelled too, with a reason naming it. The handler reads
   * their results with `ctx.parents()`. An unknown id, or a parent already cancelled, is a
   * `ValidationError` on `after`. See docs/composition.md.
   */
  after?: ReadonlyArray<string>;
  /**
   * Join the caller's open transaction: the `pg` client that ran BEGIN (PostgreSQL; not the pool), or a
   * better-sqlite3 handle on the same file with a transaction open (SQLite). Roll back and the job never
   * existed; workers are woken only after commit. Inside better-sqlite3's synchronous
   * `db.transaction(fn)`, use {@link Queue.enqueueSync} instead.
   */
  tx?: TransactionHandle;
}

/** Options of {@link Queue.enqueueSync}: `tx` is required. */
export interface EnqueueSyncOptions extends EnqueueOptions {
  tx: TransactionHandle;
}

/** One job of {@link Queue.enqueueMany}. */
export interface EnqueueItem<Data = Json> {
  name: string;
  data?: Data;
  /** As in {@link EnqueueOptions.delay}. */
  delay?: number;
  priority?: number;
  /** As in {@link EnqueueOptions.label}: items of one call with the same name and label are one job. */
  label?: string;
  isolation?: number;
  onDuplicate?: OnDuplicate;
  /** As in {@link EnqueueOptions.group}. */
  group?: string;
  /**
   * As in {@link EnqueueOptions.after}, and a number names another item of the same call by its index,
   * so one call can declare a whole graph (`[{ name: "a" }, { name: "b", after: [0] }]`). Cycles are a
   * `ValidationError`.
   */
  after?: ReadonlyArray<string | number>;
}

/** Options of {@link Queue.close}. */
export interface CloseOptions {
  /**
   * How long running handlers may take to finish, in ms. After that their signals are aborted and
   * their jobs handed back for another worker to take at once. Default 10 000.
   */
  grace?: number;
}

const QUEUE_OPTION_KEYS = ["onError", "removeAfter", "maxPayloadBytes", "durability", "migrate", ...STORE_NAMES] as const;
const ENQUEUE_OPTION_KEYS = [...ITEM_KEYS.filter((key) => key !== "name" && key !== "data"), "tx"] as const;
const DEFAULT_GRACE_MS = 10_000;

/**
 * A durable job queue on SQLite or PostgreSQL. Define tasks, enqueue jobs, and `start()` workers in any
 * number of processes sharing the database. Delivery is at-least-once (a job whose worker died runs
 * again after its lease); completion is exactly-once (outcome writes are fenced by attempt).
 */
export class Queue {
  readonly #store: Store;
  readonly #tasks = new Map<string, Task>();
  /** The payload schemas of tasks defined here from a task definition, by name: `enqueue` by name checks them too. */
  readonly #schemas = new Map<string, StandardSchemaV1>();
  readonly #events: TypedEmitter<QueueEvents>;
  readonly #report: ErrorReporter;
  readonly #maxPayloadBytes: number;
  readonly #removeAfter: number | undefined;
  readonly #enqueuer: Enqueuer;
  /** Empty until `hewn/tracing` instruments the queue (see src/tracing/hooks.ts). */
  readonly #tracing: TracingSlot = { hooks: undefined };
  readonly #admin: Admin;
  readonly #schedules: Schedules;
  readonly #waiters: Waiters;
  readonly #deadLetters: DeadLetters;
  /** The one clock of the queue's background services. */
  readonly #clock: Clock = systemClock;
  #worker: Worker | undefined;
  /** Maintenance services, running while the workers do. */
  #services: Service[] = [];
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(store: Store, report: ErrorReporter, maxPayloadBytes: number, removeAfter: number | undefined) {
    this.#store = store;
    this.#report = report;
    this.#events = new TypedEmitter((error) => report(coerceError(error), { source: "listener" }));
    this.#maxPayloadBytes = maxPayloadBytes;
    this.#removeAfter = removeAfter;
    this.#enqueuer = new Enqueuer({
      store,
      maxPayloadBytes,
      onStored: (jobs) => this.#events.emit("job:enqueue", { jobs }),
      onCommitted: () => this.#worker?.wake(),
    });
    this.#waiters = new Waiters({ store, report });
    // This process's own finishes reach its waiters at once.
    this.#events.on("job:complete", ({ job }) => this.#waiters.check(job.id));
    this.#events.on("job:cancel", ({ job }) => this.#waiters.check(job.id));
    this.#deadLetters = new DeadLetters({ store, onRetried: () => this.#worker?.wake() });
    this.#admin = new Admin({
      store, events: this.#events, onCancelled: (id, reason) => this.#worker?.cancel(id, reason), wake: () => this.#worker?.wake(),
    });
    this.#schedules = new Schedules({ store, maxPayloadBytes });
    queueInternals.set(this, { store, tasks: this.#tasks, events: this.#events, report, maxPayloadBytes, tracing: this.#tracing });
  }

  /**
   * Opens a queue and brings the schema up to date.
   * @param url `sqlite:<file>` (the default, `sqlite:./hewn.db`), `sqlite::memory:`, or `postgres://…`.
   *   May be omitted with `{ postgres: { pool } }` (your own `pg.Pool`, which stays yours).
   * @typeParam Tasks a task map (task names → `{ data, result }`, or `TasksOf<typeof definitions>`): the
   *   queue is then typed by it (see `TypedQueue`). Omitted, the queue is untyped, as before.
   * @throws ValidationError for an unknown URL scheme or invalid options.
   */
  static async open<Tasks = never>(url?: string, options?: QueueOptions): Promise<QueueOf<Tasks>> {
    const given = checkOptionsObject(options, "options");
    checkKnownKeys(given, QUEUE_OPTION_KEYS, "options");
    if (given.onError !== undefined && typeof given.onError !== "function") throw new ValidationError("options.onError", "must be a function");
    const removeAfter = given.removeAfter === undefined ? undefined : checkDuration(given.removeAfter, "options.removeAfter", { min: 1 });
    const maxPayloadBytes = checkInteger(given.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, "options.maxPayloadBytes", 2, 1024 ** 3);
    const durability = given.durability ?? "full";
    if (durability !== "full" && durability !== "fast") throw new ValidationError("options.durability", 'must be "full" or "fast"');
    const onError = given.onError ?? defaultOnError;
    const report: ErrorReporter = (error, context) => {
      try {
        onError(error, context);
      } catch (thrown) {
        defaultOnError(coerceError(thrown), { source: "listener" });
      }
    };
    if (given.migrate !== undefined && typeof given.migrate !== "boolean") throw new ValidationError("options.migrate", "must be a boolean");
    const migrate = given.migrate ?? true;
    const { migrate: _, ...settings } = given;
    const store = await openStore(url, settings, { durability, create: migrate, onError: (error) => report(error, { source: "store" }) });
    try {
      if (migrate) {
        await store.migrate();
      } else {
        const pending = await store.pendingMigrations();
        if (pending.length > 0) {
          throw new StoreError(`the schema lacks migrations ${pending.join(", ")} (opened with migrate: false, which changes nothing); `
            + "migrate it first (`hewn migrate`, or Queue.open without migrate: false)");
        }
      }
    } catch (error) {
      await store.close();
      throw error;
    }
    return new Queue(store, report, maxPayloadBytes, removeAfter) as unknown as QueueOf<Tasks>;
  }

  /**
   * Defines a task: the handler for jobs named `name`, and how they run. Tasks may be defined before or
   * after `start()`. Only processes that define a task run its jobs.
   * With a task definition (see `task`), the handler is typed by it and receives each payload as the
   * definition's schema parses it (a stored payload the schema rejects is cancelled as `invalid payload`).
   * @throws ValidationError for a bad name or options, or a name defined twice.
   */
  define<D extends AnyTaskDefinition>(
    task: D,
    handler: Handler<DataOfDefinition<D>, ResultOfDefinition<D> & JsonCompatible<ResultOfDefinition<D>>>,
    options?: TaskOptions<DataOfDefinition<D>>,
  ): this;
  define<Data = Json, Result = unknown>(
    name: string,
    handler: Handler<Data, Result & NoInfer<JsonCompatible<Result>>>,
    options?: TaskOptions<Data>,
  ): this;
  define(task: string | AnyTaskDefinition, handler: Handler<never, unknown>, options?: TaskOptions<never>): this {
    this.#assertOpen("define");
    const { name: given, schema } = resolveTaskRef(task, new Map());
    const name = checkName(given);
    if (this.#tasks.has(name)) throw new ValidationError("name", `task "${name}" is already defined`);
    const run = schema && typeof handler === "function" ? parsingHandler(schema, handler as Handler<unknown, unknown>) : handler;
    this.#tasks.set(name, resolveTask(name, run, options as TaskOptions<unknown> | undefined));
    if (schema) this.#schemas.set(name, schema);
    this.#worker?.wake();
    return this;
  }

  /**
   * Stores a job. It runs once available, in whichever process defines its task and has started; a job
   * for a task that no process defines waits (enqueued) until one does.
   * `data` must be JSON data (plain objects, arrays, strings, finite numbers, booleans, null); object
   * properties that are `undefined` are left out, as JSON does. Default `{}`.
   * With a task definition (see `task`) — or the name of a task this queue defined from one — `data` is
   * checked against its schema first (a `ValidationError` naming the path, e.g. `data.to`) and stored as given.
   * @returns the stored job; `duplicate` tells whether it was standing already (see `label`).
   * @throws ValidationError for bad input; nothing is stored then.
   */
  enqueue<D extends AnyTaskDefinition>(task: D, data: InputOfDefinition<D>, options?: EnqueueOptions): Promise<EnqueuedJob<InputOfDefinition<D>, ResultOfDefinition<D>>>;
  enqueue<Data = Json>(name: string, data?: Data & NoInfer<JsonCompatible<Data>>, options?: EnqueueOptions): Promise<EnqueuedJob<Data>>;
  async enqueue(task: string | AnyTaskDefinition, data?: unknown, options?: EnqueueOptions): Promise<EnqueuedJob<unknown>> {
    this.#assertOpen("enqueue");
    const name = await payloadChecked(task, data, this.#schemas);
    const given = checkOptionsObject(options, "options");
    checkKnownKeys(given, ENQUEUE_OPTION_KEYS, "options");
    const job = this.#enqueuer.check({ ...given, name, data });
    // A job with parents is stored on its own (never coalesced, never claimed directly): an unknown parent fails only this call.
    if (given.tx === undefined && job.after === undefined) {
      return (await tracedInsert(this.#tracing, [job], () => this.#enqueuer.one(job))) as unknown as EnqueuedJob<unknown>;
    }
    const [stored] = await tracedInsert(this.#tracing, [job], () => this.#enqueuer.many([job], given.tx));
    return stored as unknown as EnqueuedJob<unknown>;
  }

  /**
   * Stores a job inside the caller's synchronous transaction and returns it at once: for better-sqlite3's
   * `db.transaction(fn)`, which cannot await (SQLite only). The job is part of that transaction: it
   * exists if and only if the transaction commits; bad input throws here, out of `fn`, so the
   * transaction rolls back. This process's workers look for it once the transaction has ended.
   * @throws ValidationError for bad input, a missing `tx`, or a store that cannot store synchronously.
   */
  enqueueSync<D extends AnyTaskDefinition>(task: D, data: InputOfDefinition<D>, options: EnqueueSyncOptions): EnqueuedJob<InputOfDefinition<D>, ResultOfDefinition<D>>;
  enqueueSync<Data = Json>(name: string, data: (Data & NoInfer<JsonCompatible<Data>>) | undefined, options: EnqueueSyncOptions): EnqueuedJob<Data>;
  enqueueSync(task: string | AnyTaskDefinition, data: unknown, options: EnqueueSyncOptions): EnqueuedJob<unknown> {
    this.#assertOpen("enqueueSync");
    const name = payloadChecked(task, data, this.#schemas, { sync: true });
    const given = checkOptionsObject(options, "options");
    checkKnownKeys(given, ENQUEUE_OPTION_KEYS, "options");
    const job = this.#enqueuer.check({ ...given, name, data });
    const [stored] = tracedInsert(this.#tracing, [job], () => this.#enqueuer.manySync([job], given.tx));
    return stored as unknown as EnqueuedJob<unknown>;
  }

  /**
   * Stores many jobs in one statement: all or none. A labelled item whose job stands already stores
   * nothing and gets that job (`duplicate: true`); it never fails or drops the other items.
   * @param options.tx join the caller's transaction, as in {@link Queue.enqueue}.
   * @returns one job per item, in the order given.
   * @throws ValidationError naming the first bad item; nothing is stored then.
   */
  async enqueueMany<Data = Json>(
    items: ReadonlyArray<EnqueueItem<Data & NoInfer<JsonCompatible<Data>>>>,
    options?: { tx?: TransactionHandle },
  ): Promise<EnqueuedJob<Data>[]> {
    this.#assertOpen("enqueueMany");
    const jobs = this.#enqueuer.checkMany(items);
    await Promise.all(items.map((item, index) => payloadChecked(item.name, item.data, this.#schemas, { field: `items[${index}].data` })));
    const given = checkOptionsObject(options, "options");
    checkKnownKeys(given, ["tx"], "options");
    return (await tracedInsert(this.#tracing, jobs, () => this.#enqueuer.many(jobs, given.tx))) as unknown as EnqueuedJob<Data>[];
  }

  /**
   * Starts workers in this process for every defined task (and tasks defined later). Resolves once
   * they are claiming. Idempotent.
   */
  start(): Promise<void> {
    this.#assertOpen("start");
    if (this.#starting === undefined) {
      try {
        this.#schedules.checkTasks(this.#tasks);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.#starting ??= (async () => {
      this.#worker = new Worker({
        store: this.#store, tasks: this.#tasks, events: this.#events, report: this.#report, maxPayloadBytes: this.#maxPayloadBytes,
        tracing: this.#tracing,
      });
      await this.#worker.start();
      this.#enqueuer.directClaims = this.#worker;
      this.#services = this.#maintenance({ store: this.#store, events: this.#events, clock: this.#clock, report: this.#report });
      for (const service of this.#services) service.start();
    })();
    return this.#starting;
  }

  /**
   * Shuts down gracefully: stops claiming, waits up to `grace` ms for running handlers, then aborts
   * them and releases their jobs so another worker can take them at once; then closes connections
   * hewn opened. Idempotent: later calls return the same promise.
   */
  close(options?: CloseOptions): Promise<void> {
    this.#closing ??= (async () => {
      const given = checkOptionsObject(options, "options");
      const grace = given.grace === undefined ? DEFAULT_GRACE_MS : checkDuration(given.grace, "options.grace", { min: 0, max: MAX_DELAY_MS });
      try {
        await this.#waiters.close();
        await this.#starting?.catch(() => undefined);
        await Promise.all(this.#services.map((service) => service.stop()));
        await this.#worker?.close(grace);
      } finally {
        await this.#store.close();
      }
    })();
    return this.#closing;
  }

  /**
   * The job with this id, or null if there is none (or retention deleted it). `Data` and `Result` type
   * what you know the job holds; they are not checked.
   */
  get<Data = Json, Result = Json>(id: string): Promise<Job<Data, Result> | null> {
    this.#assertOpen("get");
    return this.#admin.get<Data, Result>(id);
  }

  /**
   * The job's dependency graph (`after`): its parents (the jobs it runs after) and its children (the jobs
   * that run after it), each in id order; both empty for a job outside any graph.
   * @throws JobNotFoundError for an id with no job.
   */
  dependencies(id: string): Promise<JobDependencies> {
    this.#assertOpen("dependencies");
    return jobDependencies(this.#store, id);
  }

  /**
   * Jobs in id order (oldest first, or newest first with `order: "desc"`), filtered by task name, status,
   * label and creation time, a page at a time: see {@link ListOptions} for paging in both directions.
   */
  list<Data = Json, Result = Json>(options?: ListOptions): Promise<Job<Data, Result>[]> {
    this.#assertOpen("list");
    return this.#admin.list<Data, Result>(options);
  }

  /** How many jobs are in each status, optionally for one task. */
  count(name?: string): Promise<Record<JobStatus, number>> {
    this.#assertOpen("count");
    return this.#admin.count(name);
  }

  /**
   * Cancels a job that has not finished, with `reason`, and emits `job:cancel` once. A job running in
   * some worker is cancelled too: that worker's outcome will not be written, and its handler's signal
   * aborts — at once in this process, with a `JobCancelledError` and nothing reported; in another
   * process at its next lease renewal, as a lost lease.
   * @returns true if this call cancelled the job; false if it does not exist or had already finished.
   */
  cancel(id: string, reason: string): Promise<boolean>;
  /**
   * Cancels every unfinished job (enqueued, dequeued or failed) matching `filter`, as the single-job form
   * does, in batches of a few hundred: each batch is atomic, the whole is not (jobs enqueued meanwhile
   * may or may not be included). An empty filter is refused.
   * @returns how many jobs this call cancelled.
   */
  cancel(filter: JobFilter, reason: string, options?: BulkOptions): Promise<number>;
  cancel(target: string | JobFilter, reason: string, options?: BulkOptions): Promise<boolean | number> {
    this.#assertOpen("cancel");
    return typeof target === "object" && target !== null
      ? this.#admin.cancelMatching(target, reason, options)
      : this.#admin.cancel(target, reason);
  }

  /**
   * Counts per task and status, jobs running, and how long each task's oldest ready job has waited.
   * Counting reads every job (finished ones included): poll it at human pace, not in a hot loop.
   */
  stats(): Promise<QueueStats> {
    this.#assertOpen("stats");
    return this.#admin.stats();
  }

  /**
   * Moves a waiting job (enqueued, or failed awaiting its retry) to run `delay` ms from now or `at` a
   * given time, e.g. to run a delayed job at once: `reschedule(id, { delay: 0 })`.
   * @returns true if the job moved; false if it does not exist or is running or finished.
   */
  reschedule(id: string, options: RescheduleOptions): Promise<boolean> {
    this.#assertOpen("reschedule");
    return this.#admin.reschedule(id, options);
  }

  /**
   * Declares a periodic job: a job of task `name` for every slot of `when`, `{ every: ms }` (multiples of
   * `every` since the Unix epoch) or `{ cron, tz }`. Exactly one job per slot however many processes run,
   * with no leader: every process that declared the schedule and started takes part. Each slot's job is
   * available at the slot's time and labelled `<key>@<slot ISO time>`. Declaring a key again replaces the
   * stored schedule for every process (a changed `when` starts over from now). See docs/unique-and-periodic.md.
   * @throws ValidationError for a bad key, name, `when` or option, or (in a process that runs workers) a
   *   task this process does not define.
   */
  async schedule<Data = Json>(key: string, name: string, when: When, options?: ScheduleOptions<Data & NoInfer<JsonCompatible<Data>>>): Promise<void> {
    this.#assertOpen("schedule");
    await this.#schedules.schedule(key, name, when, options, this.#starting === undefined ? undefined : this.#tasks);
  }

  /** Removes a schedule, for every process. Its jobs already enqueued stay. @returns false if there was none. */
  unschedule(key: string): Promise<boolean> {
    this.#assertOpen("unschedule");
    return this.#schedules.unschedule(key);
  }

  /** The stored schedules, by key, each with its next slot (`nextAt`, from the store's clock). */
  schedules(): Promise<ScheduleInfo[]> {
    this.#assertOpen("schedules");
    return this.#schedules.list();
  }

  /**
   * Waits until the job finishes, in whichever process runs it, and resolves with it once `completed`
   * (its `result` included). Thousands of waiters cost one batched read and, on PostgreSQL, one listener
   * (woken by NOTIFY when an awaited job finishes; polling is only the fallback). On SQLite, waiters poll
   * the file, backing off while nothing finishes; this process's own finishes are seen at once.
   * @throws JobCancelledError (with `job`) when it ends cancelled; JobNotFoundError at once for an id with
   *   no job (or when the job is deleted meanwhile); WaitTimeoutError after `timeout`; the signal's reason
   *   when `signal` aborts; QueueClosedError if the queue closes first. None of these changes the job.
   */
  waitFor<Data = Json, Result = Json>(id: string, options?: WaitOptions): Promise<Job<Data, Result>> {
    this.#assertOpen("waitFor");
    const checked = checkId(id);
    const given = checkOptionsObject(options, "options");
    checkKnownKeys(given, ["timeout", "signal"], "options");
    const timeout = given.timeout === undefined ? undefined : checkDuration(given.timeout, "options.timeout", { min: 0 });
    if (given.signal !== undefined && !(given.signal instanceof AbortSignal)) {
      throw new ValidationError("options.signal", "must be an AbortSignal");
    }
    return this.#waiters.wait(checked, { timeout, signal: given.signal }) as Promise<Job<Data, Result>>;
  }

  /**
   * Sends a dead letter (a `cancelled` job) back to run again: status `enqueued`, available now (or waiting
   * again for parents that have not completed), its crash count reset; `attempts`, `reason` and `errors`
   * are kept as history (so `maxAttempts` still counts the earlier attempts).
   * With a filter, sends back every cancelled job matching it and returns how many.
   * @throws JobNotFoundError for an unknown id; JobStateError for a job that is not cancelled (live or completed).
   */
  retry<Data = Json, Result = Json>(id: string): Promise<Job<Data, Result>>;
  retry(filter: RetryFilter): Promise<number>;
  retry<Data = Json, Result = Json>(idOrFilter: string | RetryFilter): Promise<Job<Data, Result> | number> {
    this.#assertOpen("retry");
    if (typeof idOrFilter === "object" && idOrFilter !== null) return this.#deadLetters.retryMany(idOrFilter);
    return this.#deadLetters.retryOne<Data, Result>(checkId(idOrFilter));
  }

  /**
   * Deletes a finished job (cancelled or completed) for good. With a filter, deletes every finished job
   * matching it (cancelled ones unless `status: "completed"`) and returns how many.
   * @throws JobNotFoundError for an unknown id; JobStateError for a job that has not finished (cancel it first).
   */
  delete(id: string): Promise<void>;
  delete(filter: DeleteFilter): Promise<number>;
  delete(idOrFilter: string | DeleteFilter): Promise<void | number> {
    this.#assertOpen("delete");
    if (typeof idOrFilter === "object" && idOrFilter !== null) return this.#deadLetters.deleteMany(idOrFilter);
    return this.#deadLetters.deleteOne(checkId(idOrFilter));
  }

  /**
   * Pauses a task in every process: no job of it starts after the next claim round of each process (at
   * once where PostgreSQL NOTIFY reaches it); jobs already running finish; jobs this process holds unstarted
   * are handed back. Stored in the database, so it outlasts restarts, until {@link Queue.resume}. A name
   * no process defines yet may be paused (it may be defined elsewhere, or later).
   * @returns true if this call paused it, false if it was paused already.
   * @throws ValidationError for a name that is not a valid task name.
   */
  async pause(name: string): Promise<boolean> {
    this.#assertOpen("pause");
    const changed = await setPaused(this.#store, name, true);
    this.#worker?.wake();
    return changed;
  }

  /**
   * Resumes a paused task: every process claims its jobs again (at once where NOTIFY reaches it, else at
   * its next poll).
   * @returns true if this call resumed it, false if it was not paused.
   * @throws ValidationError for a name that is not a valid task name.
   */
  async resume(name: string): Promise<boolean> {
    this.#assertOpen("resume");
    const changed = await setPaused(this.#store, name, false);
    this.#worker?.wake();
    return changed;
  }

  /** The names of the paused tasks, sorted. */
  paused(): Promise<string[]> {
    this.#assertOpen("paused");
    return this.#store.taskListPaused();
  }

  /** Listens to a lifecycle event of this process's jobs. */
  on<K extends keyof QueueEvents>(event: K, listener: (payload: QueueEvents[K]) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Listens to the next occurrence of an event. */
  once<K extends keyof QueueEvents>(event: K, listener: (payload: QueueEvents[K]) => void): this {
    this.#events.once(event, listener);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof QueueEvents>(event: K, listener: (payload: QueueEvents[K]) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  /** The maintenance services this queue runs (each a line). */
  #maintenance(deps: ServiceDeps): Service[] {
    return [
      ...(this.#removeAfter !== undefined ? [new Retention(deps, this.#removeAfter)] : []),
      this.#schedules.service(deps),
    ];
  }

  #assertOpen(call: string): void {
    if (this.#closing) throw new QueueClosedError(call);
  }
}

function defaultOnError(error: Error, context: ErrorContext): void {
  const where = context.job ? `${context.source}, job ${context.job.id} (${context.job.name})` : context.source;
  console.error(`hewn: ${where}:`, error);
}
