/**
 * Test helpers: signals to wait on instead of sleeps, a per-test queue on a fresh location, and job
 * fixtures to insert straight through a store.
 */
import type { TestContext } from "node:test";
import type Database from "better-sqlite3";
import type pg from "pg";
import { Queue, SqlTransaction, type QueueOptions, type QueueEvents, type ErrorContext, type TransactionHandle } from "../src/index.js";
import type { NewJob, Store, StoredJob } from "../src/store/store.js";
import type { StoreHarness, TestLocation } from "./harness/harness.js";

/** Longest any single wait in a test may take before it fails with a clear message. */
export const WAIT_MS = 20_000;

/** A promise you can resolve from outside: a signal between a test and a handler. */
export class Signal<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  fired = false;

  constructor() {
    this.promise = new Promise<T>((resolve) => {
      this.resolve = (value) => {
        this.fired = true;
        resolve(value);
      };
    });
  }
}

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
export async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next `event` whose payload satisfies `predicate`. Subscribe before causing it. */
export function nextEvent<K extends keyof QueueEvents>(
  queue: Queue,
  event: K,
  predicate: (payload: QueueEvents[K]) => boolean = () => true,
): Promise<QueueEvents[K]> {
  return within(
    new Promise<QueueEvents[K]>((resolve) => {
      const listener = (payload: QueueEvents[K]) => {
        if (!predicate(payload)) return;
        queue.off(event, listener);
        resolve(payload);
      };
      queue.on(event, listener);
    }),
    `event ${event}`,
  );
}

/** Resolves once `condition()` is true, checking on every event loop turn after `interval` ms. For state that has no event. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, interval = 5): Promise<void> {
  await within(
    (async () => {
      while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, interval));
    })(),
    what,
  );
}

/** Errors passed to `onError`, with a way to wait for one. */
export class ErrorLog {
  readonly entries: Array<{ error: Error; context: ErrorContext }> = [];
  readonly #waiters: Array<{ predicate: (error: Error, context: ErrorContext) => boolean; signal: Signal<Error> }> = [];

  readonly onError = (error: Error, context: ErrorContext): void => {
    this.entries.push({ error, context });
    for (const waiter of this.#waiters) if (!waiter.signal.fired && waiter.predicate(error, context)) waiter.signal.resolve(error);
  };

  /** The first reported error (past or future) matching `predicate`. */
  waitFor(predicate: (error: Error, context: ErrorContext) => boolean, what = "a reported error"): Promise<Error> {
    const past = this.entries.find((entry) => predicate(entry.error, entry.context));
    if (past) return Promise.resolve(past.error);
    const signal = new Signal<Error>();
    this.#waiters.push({ predicate, signal });
    return within(signal.promise, what);
  }

  sources(): string[] {
    return this.entries.map((entry) => entry.context.source);
  }
}

/** Everything one test needs: a fresh location, a queue on it, its error log. All closed after the test. */
export interface Setup {
  loc: TestLocation;
  queue: Queue;
  errors: ErrorLog;
  /** Opens another queue on the same location (another "process"), closed after the test. */
  another(options?: QueueOptions): Promise<Queue>;
}

export async function setup(t: TestContext, harness: StoreHarness, options: QueueOptions = {}): Promise<Setup> {
  const loc = await harness.fresh();
  const errors = new ErrorLog();
  const queues: Queue[] = [];
  t.after(async () => {
    await Promise.all(queues.map((queue) => queue.close({ grace: 0 })));
    await loc.drop();
  });
  const another = async (extra: QueueOptions = {}) => {
    const queue = await Queue.open(loc.url, { ...loc.queueOptions, onError: errors.onError, ...options, ...extra });
    queues.push(queue);
    return queue;
  };
  const queue = await another();
  return { loc, queue, errors, another };
}

/**
 * The driver's transaction `tx` (of `loc.transaction`) seen only through `SqlTransaction`, as an ORM's
 * transaction is: hewn then sends its JSON statements through `query` instead of using the driver.
 */
export function asSqlTransaction(kind: StoreHarness["kind"], tx: TransactionHandle): SqlTransaction {
  return new SqlTransaction(kind === "postgres"
    ? { query: async (text, values) => (await (tx as pg.Client).query(text, [...values])).rows }
    : {
      query: async (text, values) => {
        const statement = (tx as Database.Database).prepare(text);
        return statement.reader ? statement.all(...values) as Array<Record<string, unknown>> : (statement.run(...values), []);
      },
    }, "a test's SqlTransaction");
}

/** A job to insert through `Store.jobInsertMany`: available now, priority 0, no label or group, data `{}` (JSON text) unless given. */
export function newJob(name: string, extra: Partial<NewJob> = {}): NewJob {
  return { name, data: "{}", delayMs: 0, priority: 0, label: null, ...extra };
}

/** Inserts one job straight through the store and returns it as stored. */
export async function insertOne(store: Store, job: NewJob): Promise<StoredJob> {
  const [stored] = await store.jobInsertMany({ jobs: [job] });
  if (!stored) throw new Error(`jobInsertMany returned nothing for ${job.name}`);
  return stored;
}

/** A unique-enough task name per test, so nothing leaks between tests by accident. */
export function taskName(prefix = "task"): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Resolves when `signal` aborts: how a test handler waits to be told to stop. */
export function abortOf(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
