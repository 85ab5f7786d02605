/**
 * The SQLite store: one database file, shared by any number of processes.
 *
 * better-sqlite3 is synchronous, so every method does its work before it returns; the promises only
 * fit the `Store` seam. Each read-modify-write runs in BEGIN IMMEDIATE, which takes the file's write lock
 * up front (waiting up to the busy timeout), so two processes can never claim the same job.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { StoreError, ValidationError, coerceError } from "../../errors.js";
import { CRASH_MESSAGE, JOB_STATUSES, MAX_KEPT_ERRORS, type JobStatus } from "../../job.js";
import { foldByLabel, rejectLabelledThroughOrm, unfold } from "../../unique/batch.js";
import { toStoredJob, type JobRow } from "../row.js";
import { SqlTransaction, onlyValue } from "../../tx/sql-transaction.js";
import type {
  AttemptRef,
  CancelParams,
  ClaimRequest,
  ClaimResult,
  CompleteItem,
  ExtendItem,
  FailParams,
  ListParams,
  ListenParams,
  NewClaimedJob,
  NewJob,
  NewSchedule,
  ReleaseParams,
  RescheduleParams,
  SlotClaim,
  Store,
  StoreCapabilities,
  StoredJob,
  StoredSchedule,
  StoreStats,
} from "../store.js";
import { scanDescending } from "../list-order.js";
import { applyMigrations, pendingMigrations } from "./migrations.js";
import * as sql from "./sql.js";

export interface SqliteStoreOptions {
  /** The database file (created if missing unless `readonly`), or `":memory:"` for a private in-memory database. */
  filename: string;
  /** Open the file read-only: reads work, every write fails with a `StoreError`. */
  readonly?: boolean;
  /** Epoch ms. Every time the store writes or compares comes from it. Default `Date.now`. */
  clock?: () => number;
  /** How long to wait for another connection's write lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** "fast" trades durability across power loss for speed (see `FAST_SYNCHRONOUS`). Default "full". */
  durability?: "full" | "fast";
  /** Receives what `afterTransaction` callbacks throw: they run from a timer, with no caller to reject. */
  onError?: (error: Error) => void;
}

type Handle = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

/** A `hewn_jobs` row as this driver returns it: ids and times are plain numbers. */
type SqliteJobRow = JobRow & { id: number };

/** A `hewn_schedules` row. */
interface ScheduleRow {
  key: string;
  name: string;
  spec: string;
  data: string;
  priority: number;
  catch_up: string;
  last_slot: number;
}

function toStoredSchedule(row: ScheduleRow): StoredSchedule {
  return { key: row.key, name: row.name, spec: row.spec, data: row.data, priority: row.priority, catchUp: row.catch_up, lastSlot: row.last_slot };
}

/** What the store keeps per connection, its own or a user's `tx` handle. */
interface HandleCache {
  statements: Map<string, Statement>;
  /** On a handle already inside a transaction, better-sqlite3 makes this a SAVEPOINT: a failing batch leaves nothing behind. */
  insert: Database.Transaction<(jobs: NewJob[]) => Array<{ row: SqliteJobRow; duplicate: boolean }>>;
  /** Canonical path of the handle's file, for the same-file check of `tx`. */
  file: string;
}

/** How often `afterTransaction` looks whether the user's transaction has ended. */
const TX_POLL_MS = 2;
/**
 * After an ORM's transaction (`SqlTransaction`), which can say neither when it commits nor whether it is
 * open, the wake-up waits until the last job it stored is visible here: polled from 2 ms, slowing to
 * 250 ms, for at most a minute (a rolled-back job never shows up; polling finds later commits anyway).
 */
const VISIBLE_POLL_MAX_MS = 250;
const VISIBLE_WAIT_MS = 60_000;

export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = {
    crossProcessWakeups: false, defaultPollInterval: 200, maxConcurrentRounds: 1, synchronousInsert: true,
  };

  private readonly db: Handle;
  private readonly clock: () => number;
  private readonly onError: (error: Error) => void;
  private readonly handles = new WeakMap<Handle, HandleCache>();
  private readonly pollers = new Set<NodeJS.Timeout>();
  /** The last job each ORM transaction stored, for its wake-up (see VISIBLE_WAIT_MS). */
  private readonly lastInserted = new WeakMap<SqlTransaction, string>();

  /** Completions first, then claims: one write transaction, one commit (one fsync) for a worker's round. */
  private readonly claimTx: Database.Transaction<(completions: CompleteItem[], requests: ClaimRequest[]) => { completed: Set<string>; rows: SqliteJobRow[] }>;
  /** Applies one fenced statement per item; returns the ids it changed. */
  private readonly fencedTx: Database.Transaction<(sqlText: string, params: Array<Record<string, unknown>>) => Set<string>>;
  private readonly insertClaimedTx: Database.Transaction<(items: NewClaimedJob[]) => SqliteJobRow[]>;
  /** The compare-and-set of a slot and its job's insert, in one write transaction. */
  private readonly claimSlotTx: Database.Transaction<(claim: SlotClaim) => SqliteJobRow | undefined>;
  private readonly cancelManyTx: Database.Transaction<(ids: string[], reason: string) => SqliteJobRow[]>;

  constructor(options: SqliteStoreOptions) {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 0x7fffffff) {
      throw new ValidationError("options.sqlite.busyTimeout", `must be a non-negative integer, got ${busyTimeoutMs}`);
    }
    this.clock = options.clock ?? Date.now;
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
    this.db = guard("open", () => {
      const readonly = options.readonly === true;
      const db = new Database(options.filename, { timeout: busyTimeoutMs, readonly, fileMustExist: readonly });
      try {
        // A read-only connection cannot switch the journal mode; the writers that created the file did.
        for (const pragma of sql.PRAGMAS) if (!readonly || pragma !== sql.WAL) db.pragma(pragma);
        if (options.durability === "fast") db.pragma(sql.FAST_SYNCHRONOUS);
      } catch (error) {
        db.close();
        throw error;
      }
      return db;
    });

    this.claimTx = this.db.transaction((completions: CompleteItem[], requests: ClaimRequest[]) => {
      // Inside the lock: time spent waiting for it must not shorten the leases.
      const now = this.clock();
      const complete = this.statement(this.db, sql.COMPLETE_JOB);
      const completed = new Set<string>();
      for (const { id, attempt, result } of completions) {
        if (complete.run({ id, attempt, result, now }).changes > 0) completed.add(id);
      }
      const select = this.statement(this.db, sql.SELECT_CLAIMABLE).pluck();
      const claim = this.statement(this.db, sql.CLAIM_JOB);
      const rows: SqliteJobRow[] = [];
      for (const { name, limit, leaseMs } of requests) {
        // LIMIT -1 means "no limit" to SQLite.
        if (!(limit > 0)) continue;
        for (const id of select.all({ name, now, limit }) as number[]) {
          rows.push(claim.get({ id, now, leaseMs, crashMessage: CRASH_MESSAGE, maxErrors: MAX_KEPT_ERRORS }) as SqliteJobRow);
        }
      }
      return { completed, rows };
    });

    this.fencedTx = this.db.transaction((sqlText: string, params: Array<Record<string, unknown>>) => {
      const now = this.clock();
      const statement = this.statement(this.db, sqlText);
      const applied = new Set<string>();
      for (const p of params) {
        if (statement.run({ ...p, now }).changes > 0) applied.add(String(p.id));
      }
      return applied;
    });

    this.claimSlotTx = this.db.transaction(({ key, spec, slot, label }: SlotClaim) => {
      const schedule = this.statement(this.db, sql.ADVANCE_SCHEDULE).get({ key, spec, slot }) as
        { name: string; data: string; priority: number } | undefined;
      if (schedule === undefined) return undefined;
      return this.statement(this.db, sql.INSERT_SLOT_JOB).get({ ...schedule, slot, label, now: this.clock() }) as SqliteJobRow | undefined;
    });

    this.insertClaimedTx = this.db.transaction((items: NewClaimedJob[]) => {
      const now = this.clock();
      const statement = this.statement(this.db, sql.INSERT_CLAIMED_JOB);
      return items.map(({ job: { name, data, priority, label }, leaseMs }) =>
        statement.get({ name, data, priority, label, leaseMs, now }) as SqliteJobRow);
    });

    this.cancelManyTx = this.db.transaction((ids: string[], reason: string) => {
      const now = this.clock();
      const cancel = this.statement(this.db, sql.CANCEL_JOB_ANY);
      return ids.flatMap((id) => (cancel.get({ id, reason, errors: null, now }) as SqliteJobRow | undefined) ?? []);
    });
  }

  migrate(): Promise<void> {
    return this.settle("migrate", () => {
      applyMigrations(this.db, this.clock);
    });
  }

  jobInsertMany({ jobs, tx }: { jobs: NewJob[]; tx?: unknown }): Promise<StoredJob[]> {
    if (tx instanceof SqlTransaction) return this.insertThrough(tx, jobs);
    return this.settle("jobInsertMany", () => {
      if (tx == null) return jobs.length === 0 ? [] : this.insertFolded(jobs, (items) => this.cache(this.db).insert.immediate(items));
      return this.insertInto(tx, jobs);
    });
  }

  jobInsertManySync({ jobs, tx }: { jobs: NewJob[]; tx: unknown }): StoredJob[] {
    if (tx instanceof SqlTransaction) {
      throw new ValidationError("options.tx", `${tx.source}: runs its queries asynchronously; use enqueue() and await it`);
    }
    return guard("jobInsertManySync", () => this.insertInto(tx, jobs));
  }

  jobInsertClaimed({ items }: { items: NewClaimedJob[] }): Promise<StoredJob[]> {
    return this.settle("jobInsertClaimed", () => (items.length === 0 ? [] : this.insertClaimedTx.immediate(items).map(toStoredJob)));
  }

  /**
   * better-sqlite3 has no commit hook, so this polls `tx.inTransaction` on an unref'd timer (at once if
   * it is not in a transaction now). `close()` drops pending calls: a wake-up for a closed store has no
   * one to reach.
   */
  afterTransaction(tx: unknown, callback: () => void): void {
    const call = (): void => {
      try {
        callback();
      } catch (error) {
        this.onError(coerceError(error));
      }
    };
    if (tx instanceof SqlTransaction) return this.whenVisible(this.lastInserted.get(tx), call);
    if (!isHandle(tx) || !tx.inTransaction) return call();
    const poller = setInterval(() => {
      if (tx.inTransaction) return;
      clearInterval(poller);
      this.pollers.delete(poller);
      call();
    }, TX_POLL_MS);
    poller.unref();
    this.pollers.add(poller);
  }

  jobClaim({ requests, completions = [] }: { requests: ClaimRequest[]; completions?: CompleteItem[] }): Promise<ClaimResult> {
    return this.settle("jobClaim", () => {
      if (completions.length === 0 && requests.length === 0) return { completed: new Set<string>(), claimed: [] };
      const { completed, rows } = this.claimTx.immediate(completions, requests);
      return { completed, claimed: rows.map(toStoredJob) };
    });
  }

  jobCompleteMany({ items }: { items: CompleteItem[] }): Promise<Set<string>> {
    return this.fenced("jobCompleteMany", sql.COMPLETE_JOB, items.map(({ id, attempt, result }) => ({ id, attempt, result })));
  }

  jobFail({ id, attempt, reason, delayMs, errors }: FailParams): Promise<StoredJob | null> {
    return this.settle("jobFail", () => this.one(sql.FAIL_JOB, { id, attempt, reason, delayMs, errors, now: this.clock() }));
  }

  jobCancel({ id, attempt, reason, errors }: CancelParams): Promise<StoredJob | null> {
    return this.settle("jobCancel", () => {
      const now = this.clock();
      return attempt === null
        ? this.one(sql.CANCEL_JOB_ANY, { id, reason, errors, now })
        : this.one(sql.CANCEL_JOB_FENCED, { id, attempt, reason, errors, now });
    });
  }

  jobExtendLeases({ items }: { items: ExtendItem[] }): Promise<Set<string>> {
    return this.fenced("jobExtendLeases", sql.EXTEND_LEASE, items.map(({ id, attempt, leaseMs }) => ({ id, attempt, leaseMs })));
  }

  jobRelease({ items, reason, unstarted }: ReleaseParams): Promise<Set<string>> {
    const undo = unstarted ? 1 : 0;
    return this.fenced("jobRelease", sql.RELEASE_JOB, items.map(({ id, attempt }) => ({ id, attempt, reason, undo })));
  }

  jobSetProgress({ id, attempt, progress }: AttemptRef & { progress: number }): Promise<boolean> {
    return this.settle("jobSetProgress", () => this.statement(this.db, sql.SET_PROGRESS).run({ id, attempt, progress }).changes > 0);
  }

  jobGet({ id }: { id: string }): Promise<StoredJob | null> {
    return this.settle("jobGet", () => {
      const row = this.statement(this.db, sql.GET_JOB).get(id) as SqliteJobRow | undefined;
      return row === undefined ? null : toStoredJob(row);
    });
  }

  jobList(params: ListParams): Promise<StoredJob[]> {
    return this.settle("jobList", () => {
      const { name, status, statuses, label, createdFrom, createdBefore, afterId, beforeId, limit } = params;
      const descending = scanDescending(params);
      const text = sql.listJobsSql({
        name: name !== undefined, status: status !== undefined, statuses: statuses === undefined ? null : statuses.length,
        label: label !== undefined, createdFrom: createdFrom !== undefined, createdBefore: createdBefore !== undefined,
        afterId: afterId !== undefined, beforeId: beforeId !== undefined, descending,
      });
      const values: Record<string, unknown> = { limit: Math.max(0, limit) };
      if (name !== undefined) values.name = name;
      if (status !== undefined) values.status = status;
      statuses?.forEach((one, i) => (values[`s${i}`] = one));
      if (label !== undefined) values.label = label;
      if (createdFrom !== undefined) values.createdFrom = createdFrom.getTime();
      if (createdBefore !== undefined) values.createdBefore = createdBefore.getTime();
      if (afterId !== undefined) values.afterId = afterId;
      if (beforeId !== undefined) values.beforeId = beforeId;
      const jobs = (this.statement(this.db, text).all(values) as SqliteJobRow[]).map(toStoredJob);
      return descending === (params.order === "desc") ? jobs : jobs.reverse();
    });
  }

  jobCountByStatus({ name }: { name?: string }): Promise<Record<JobStatus, number>> {
    return this.settle("jobCountByStatus", () => {
      const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
      const rows = (
        name === undefined
          ? this.statement(this.db, sql.COUNT_JOBS).all()
          : this.statement(this.db, sql.COUNT_JOBS_NAMED).all({ name })
      ) as Array<{ status: JobStatus; n: number }>;
      for (const { status, n } of rows) counts[status] = n;
      return counts;
    });
  }

  jobDeleteFinished({ olderThanMs, limit }: { olderThanMs: number; limit: number }): Promise<number> {
    return this.settle("jobDeleteFinished", () => {
      if (!(limit > 0)) return 0;
      const now = this.clock();
      return this.statement(this.db, sql.DELETE_FINISHED).run({ cutoff: now - olderThanMs, now, limit }).changes;
    });
  }

  jobNextAvailableIn({ names }: { names: string[] }): Promise<number | null> {
    return this.settle("jobNextAvailableIn", () => {
      const next = this.statement(this.db, sql.NEXT_AVAILABLE_AT).pluck();
      let earliest: number | null = null;
      for (const name of new Set(names)) {
        const at = next.get({ name }) as number | null;
        if (at !== null && (earliest === null || at < earliest)) earliest = at;
      }
      return earliest === null ? null : Math.max(0, earliest - this.clock());
    });
  }

  jobStats(): Promise<StoreStats> {
    return this.settle("jobStats", () => {
      const now = this.clock();
      const rows = this.statement(this.db, sql.COUNT_JOBS_BY_NAME).all() as Array<{ name: string; status: JobStatus; n: number }>;
      const next = this.statement(this.db, sql.NEXT_AVAILABLE_AT).pluck();
      const oldestReady: StoreStats["oldestReady"] = [];
      const runnable = new Set(rows.filter((row) => row.status !== "completed" && row.status !== "cancelled").map((row) => row.name));
      for (const name of runnable) {
        const at = next.get({ name }) as number | null;
        if (at !== null && at <= now) oldestReady.push({ name, ageMs: now - at });
      }
      return { now: new Date(now), counts: rows.map(({ name, status, n }) => ({ name, status, count: n })), oldestReady };
    });
  }

  jobReschedule({ id, delayMs, at }: RescheduleParams): Promise<StoredJob | null> {
    return this.settle("jobReschedule", () => this.one(sql.RESCHEDULE_JOB, { id, at: at?.getTime() ?? this.clock() + (delayMs ?? 0) }));
  }

  jobCancelMany({ ids, reason }: { ids: string[]; reason: string }): Promise<StoredJob[]> {
    return this.settle("jobCancelMany", () => (ids.length === 0 ? [] : this.cancelManyTx.immediate(ids, reason).map(toStoredJob)));
  }

  pendingMigrations(): Promise<number[]> {
    return this.settle("pendingMigrations", () => pendingMigrations(this.db));
  }

  /** Other processes cannot reach this one: workers poll (see `capabilities`). */
  listen(_params: ListenParams): Promise<() => Promise<void>> {
    return Promise.resolve(() => Promise.resolve());
  }

  scheduleUpsert({ schedule }: { schedule: NewSchedule }): Promise<void> {
    return this.settle("scheduleUpsert", () => {
      this.statement(this.db, sql.UPSERT_SCHEDULE).run({ ...schedule, now: this.clock() });
    });
  }

  scheduleDelete({ key }: { key: string }): Promise<boolean> {
    return this.settle("scheduleDelete", () => this.statement(this.db, sql.DELETE_SCHEDULE).run(key).changes > 0);
  }

  scheduleList({ keys }: { keys?: string[] }): Promise<{ now: number; schedules: StoredSchedule[] }> {
    return this.settle("scheduleList", () => {
      const rows = (keys === undefined
        ? this.statement(this.db, sql.LIST_SCHEDULES).all()
        : [...new Set(keys)].sort().flatMap((key) => this.statement(this.db, sql.GET_SCHEDULE).all(key))) as ScheduleRow[];
      return { now: this.clock(), schedules: rows.map(toStoredSchedule) };
    });
  }

  scheduleClaimSlot({ key, spec, slot, label }: SlotClaim): Promise<StoredJob | null> {
    return this.settle("scheduleClaimSlot", () => {
      const row = this.claimSlotTx.immediate({ key, spec, slot, label });
      return row === undefined ? null : toStoredJob(row);
    });
  }

  close(): Promise<void> {
    for (const poller of this.pollers) clearInterval(poller);
    this.pollers.clear();
    return this.settle("close", () => {
      if (this.db.open) this.db.close();
    });
  }

  /** Runs `work` now (synchronously) and settles the returned promise with its outcome. */
  private settle<T>(operation: string, work: () => T): Promise<T> {
    try {
      return Promise.resolve(guard(operation, work));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private fenced(operation: string, sqlText: string, params: Array<Record<string, unknown>>): Promise<Set<string>> {
    return this.settle(operation, () => (params.length === 0 ? new Set<string>() : this.fencedTx.immediate(sqlText, params)));
  }

  /** A single-statement write returning the changed row: atomic on its own, no transaction needed. */
  private one(sqlText: string, params: Record<string, unknown>): StoredJob | null {
    const row = this.statement(this.db, sqlText).get(params) as SqliteJobRow | undefined;
    return row === undefined ? null : toStoredJob(row);
  }

  /** Prepared once per handle and SQL text, then reused. */
  private statement(db: Handle, sqlText: string): Statement {
    const statements = this.cache(db).statements;
    let statement = statements.get(sqlText);
    if (statement === undefined) {
      // A user's handle may default to BigInt integers; rows must look the same whoever's handle read them.
      statement = db.prepare(sqlText).safeIntegers(false);
      statements.set(sqlText, statement);
    }
    return statement;
  }

  private cache(db: Handle): HandleCache {
    let cache = this.handles.get(db);
    if (cache === undefined) {
      const insert = db.transaction((jobs: NewJob[]) => {
        const now = this.clock();
        const statement = this.statement(db, sql.INSERT_JOB);
        return jobs.map((job) => {
          const { name, data, delayMs, priority, label } = job;
          if (label !== null) return this.insertUnique(db, job, now);
          return { row: statement.get({ name, data, now, delayMs, priority, label }) as SqliteJobRow, duplicate: false };
        });
      });
      cache = { statements: new Map(), insert, file: canonicalPath(db.name) };
      this.handles.set(db, cache);
    }
    return cache;
  }

  /**
   * Inside a transaction reached only through an ORM: checked to be on this store's file (else the job
   * would land in another database), then one statement (see `sql.INSERT_JOBS_JSON`).
   */
  private async insertThrough(tx: SqlTransaction, jobs: NewJob[]): Promise<StoredJob[]> {
    if (!this.db.open) throw new StoreError("sqlite jobInsertMany: the store is closed");
    let rows: ReadonlyArray<Record<string, unknown>>;
    try {
      const theirs = String(onlyValue((await tx.query(sql.DATABASE_FILE, []))[0]) ?? "");
      const own = this.cache(this.db).file;
      if (this.db.memory || theirs === "" || canonicalPath(theirs) !== own) {
        throw new ValidationError("options.tx", `${tx.source}: must be a transaction on the queue's database file ${own}, got ${theirs || "an in-memory database"}`);
      }
      if (jobs.length === 0) return [];
      rejectLabelledThroughOrm(tx, jobs);
      const input = { now: this.clock(), jobs: jobs.map(({ name, data, delayMs, priority, label }) => ({ name, data, delayMs, priority, label })) };
      rows = await tx.query(sql.INSERT_JOBS_JSON, [JSON.stringify(input)]);
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      throw new StoreError(`sqlite jobInsertMany: ${coerceError(error).message}`, { cause: error });
    }
    const stored = rows.map((row) => toStoredJob(JSON.parse(String(onlyValue(row))) as JobRow)).sort((a, b) => Number(a.id) - Number(b.id));
    const last = stored.at(-1);
    if (last) this.lastInserted.set(tx, last.id);
    return stored;
  }

  /** Calls `call` once job `id` is visible to this store's connection (see VISIBLE_WAIT_MS). */
  private whenVisible(id: string | undefined, call: () => void): void {
    if (id === undefined) return;
    const started = this.clock();
    let wait = TX_POLL_MS;
    const look = (): void => {
      this.pollers.delete(poller);
      let visible: boolean;
      try {
        visible = this.statement(this.db, sql.JOB_EXISTS).get(Number(id)) !== undefined;
      } catch (error) {
        this.onError(new StoreError(`sqlite wake-up after a transaction: ${coerceError(error).message}`, { cause: error }));
        return;
      }
      if (visible) return call();
      if (this.clock() - started >= VISIBLE_WAIT_MS) return;
      wait = Math.min(wait * 2, VISIBLE_POLL_MAX_MS);
      poller = setTimeout(look, wait);
      poller.unref();
      this.pollers.add(poller);
    };
    let poller = setTimeout(look, 0);
    poller.unref();
    this.pollers.add(poller);
  }

  /** Inside the user's transaction: a SAVEPOINT, so a failing batch leaves nothing behind in it. */
  private insertInto(tx: unknown, jobs: NewJob[]): StoredJob[] {
    const handle = this.checkTx(tx);
    return this.insertFolded(jobs, (items) => this.cache(handle).insert(items));
  }

  /** Folds a batch's labelled items per key (see unique/batch.ts), inserts, and gives each input item its job. */
  private insertFolded(jobs: NewJob[], insert: (items: NewJob[]) => Array<{ row: SqliteJobRow; duplicate: boolean }>): StoredJob[] {
    const batch = foldByLabel(jobs);
    const stored = insert(batch.items).map(({ row, duplicate }) => ({ ...toStoredJob(row), duplicate }));
    return unfold(batch, stored);
  }

  /**
   * One labelled job, inside the insert's transaction: the write lock is held from the first statement
   * (FREE_UNIQUE_KEY writes), and the unique index decides; see the statements in sql.ts.
   */
  private insertUnique(db: Handle, job: NewJob, now: number): { row: SqliteJobRow; duplicate: boolean } {
    const key = { name: job.name, label: job.label };
    const isolationMs = job.isolationMs ?? 0;
    this.statement(db, sql.FREE_UNIQUE_KEY).run({ ...key, now, isolationMs });
    const params = { ...key, data: job.data, now, delayMs: job.delayMs, priority: job.priority };
    const inserted = this.statement(db, sql.INSERT_UNIQUE_JOB).get({ ...params, isolationMs }) as SqliteJobRow | undefined;
    if (inserted !== undefined) return { row: inserted, duplicate: false };
    const replaced = job.replace === true ? this.statement(db, sql.REPLACE_STANDING).get(params) as SqliteJobRow | undefined : undefined;
    return { row: replaced ?? (this.statement(db, sql.GET_STANDING).get(key) as SqliteJobRow), duplicate: true };
  }

  /** A `tx` must be a better-sqlite3 handle on this store's file, inside a transaction the caller opened. */
  private checkTx(tx: unknown): Handle {
    if (!isHandle(tx)) throw new ValidationError("options.tx", "must be a better-sqlite3 Database handle");
    if (!tx.inTransaction) {
      throw new ValidationError("options.tx", "must be inside an open transaction (BEGIN, or within db.transaction(fn))");
    }
    const own = this.cache(this.db).file;
    const theirs = this.cache(tx).file;
    if (this.db.memory || tx.memory || theirs !== own) {
      throw new ValidationError("options.tx", `must be a handle on the queue's database file ${own}, got ${theirs}`);
    }
    return tx;
  }
}

/** The one place driver errors become `StoreError`s. */
function guard<T>(operation: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new StoreError(`sqlite ${operation}: ${coerceError(error).message}`, { cause: error });
  }
}

function isHandle(value: unknown): value is Handle {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<Record<"prepare" | "inTransaction" | "name", unknown>>;
  return typeof candidate.prepare === "function" && typeof candidate.inTransaction === "boolean" && typeof candidate.name === "string";
}

/** Resolves symlinks too (e.g. macOS's /tmp), so two spellings of one file compare equal. */
function canonicalPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}
