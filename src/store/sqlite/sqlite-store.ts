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
import { CRASH_MESSAGE, JOB_STATUSES, MAX_KEPT_ERRORS, WAITING_FOR_PARENTS_AT, type JobStatus } from "../../job.js";
import { foldByLabel, unfold } from "../../unique/batch.js";
import { checkParents, parentEdges } from "../../flow/after.js";
import { insertedRow, toStoredJob, type JobRow } from "../row.js";
import { SqlTransaction, onlyValue } from "../../tx/sql-transaction.js";
import type {
  AttemptRef,
  CancelParams,
  ClaimRequest,
  ClaimResult,
  CompleteItem,
  ExtendItem,
  FailParams,
  HeldBack,
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
import { planLimitedClaim, recordStart } from "./flow-claim.js";
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
type SqliteJobRow = JobRow & { id: number; available_before_claim?: number | null };

/** A row id as text: what a completion names (an id of any other shape matches no row). */
const ROW_ID = /^[1-9][0-9]{0,14}$/;
/** A parent's status by the id `after` names it by (undefined: no such job). */
type ParentStatus = (id: string) => JobStatus | undefined;
/** A parent's id as `after` may name it: digits, which SQLite compares with the integer id ("007" is job 7). */
const PARENT_ID = /^[0-9]{1,15}$/;

/** The order SELECT_CLAIMABLE chose, for rows just claimed: priority, where each stood in line, id. */
function inClaimOrder(a: SqliteJobRow, b: SqliteJobRow): number {
  return Number(b.priority) - Number(a.priority) || (a.available_before_claim ?? 0) - (b.available_before_claim ?? 0) || a.id - b.id;
}

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

/** A row an insert stored, or the standing job a duplicate found. */
type Inserted = { row: SqliteJobRow; duplicate: boolean };

/** What the store keeps per connection, its own or a user's `tx` handle. */
interface HandleCache {
  statements: Map<string, Statement>;
  /**
   * Folds the batch's labelled items per key (see unique/batch.ts), inserts, gives each input item its
   * job, and records parents. On a handle already inside a transaction, better-sqlite3 makes this a
   * SAVEPOINT: a failing batch leaves nothing behind.
   */
  insert: Database.Transaction<(jobs: NewJob[]) => StoredJob[]>;
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
  private readonly claimTx: Database.Transaction<(completions: CompleteItem[], requests: ClaimRequest[]) => { completed: Set<string>; rows: SqliteJobRow[]; heldBack: HeldBack[] }>;
  /** Applies one fenced statement per item; returns the ids it changed. */
  private readonly fencedTx: Database.Transaction<(sqlText: string, params: Array<Record<string, unknown>>) => Set<string>>;
  private readonly insertClaimedTx: Database.Transaction<(items: NewClaimedJob[]) => SqliteJobRow[]>;
  /** The compare-and-set of a slot and its job's insert, in one write transaction. */
  private readonly claimSlotTx: Database.Transaction<(claim: SlotClaim) => SqliteJobRow | undefined>;
  /** Completions with their children counted down (see `completed`). */
  private readonly completeTx: Database.Transaction<(items: CompleteItem[]) => Set<string>>;
  /** A cancel with its waiting descendants. */
  private readonly cancelTx: Database.Transaction<(params: CancelParams) => StoredJob | null>;
  private readonly retryTx: Database.Transaction<(ids: string[]) => StoredJob[]>;
  private readonly deleteTx: Database.Transaction<(ids: string[]) => Set<string>>;
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
      const completed = this.completeAll(completions, now);
      const claim = this.statement(this.db, sql.CLAIM_JOB);
      const claimMany = this.statement(this.db, sql.CLAIM_JOBS);
      const paused = this.statement(this.db, sql.IS_PAUSED);
      const rows: SqliteJobRow[] = [];
      const heldBack: HeldBack[] = [];
      for (const request of requests) {
        const { name, limit, leaseMs } = request;
        // LIMIT -1 means "no limit" to SQLite.
        if (!(limit > 0)) continue;
        if (request.flow) {
          const plan = planLimitedClaim((text) => this.statement(this.db, text), request, now);
          if (plan.hold) heldBack.push({ name, ...plan.hold });
          for (const id of plan.ids) {
            const row = claim.get({ id, now, leaseMs, crashMessage: CRASH_MESSAGE, maxErrors: MAX_KEPT_ERRORS }) as SqliteJobRow;
            recordStart((text) => this.statement(this.db, text), request, row.group_key ?? null, now);
            rows.push(row);
          }
          continue;
        }
        if (paused.get(name) !== undefined) {
          heldBack.push({ name, paused: true, retryInMs: null });
          continue;
        }
        const claimed = claimMany.all({ name, now, limit, leaseMs, crashMessage: CRASH_MESSAGE, maxErrors: MAX_KEPT_ERRORS }) as SqliteJobRow[];
        rows.push(...claimed.sort(inClaimOrder));
      }
      return { completed, rows, heldBack };
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
      const paused = this.statement(this.db, sql.IS_PAUSED);
      // A job of a paused task is stored plainly enqueued (the caller sees it was not claimed).
      const plain = this.statement(this.db, sql.INSERT_JOB);
      return items.map(({ job: { name, data, priority, label, group = null, traceContext = null }, leaseMs }) =>
        (paused.get(name) === undefined
          ? statement.get({ name, data, priority, label, group, traceContext, leaseMs, now })
          : plain.get({ name, data, priority, label, group, traceContext, delayMs: 0, now })) as SqliteJobRow);
    });

    this.completeTx = this.db.transaction((items: CompleteItem[]) => this.completeAll(items, this.clock()));

    this.cancelTx = this.db.transaction(({ id, attempt, reason, errors }: CancelParams) => {
      const now = this.clock();
      const row = attempt === null
        ? this.one(sql.CANCEL_JOB_ANY, { id, reason, errors, now })
        : this.one(sql.CANCEL_JOB_FENCED, { id, attempt, reason, errors, now });
      if (row) this.statement(this.db, sql.CANCEL_DESCENDANTS).run({ id, now });
      return row;
    });

    this.retryTx = this.db.transaction((ids: string[]) => {
      const now = this.clock();
      const retry = this.statement(this.db, sql.RETRY_JOB);
      const freeKey = this.statement(this.db, sql.FREE_UNIQUE_KEY_FOR_RETRY);
      const rows: StoredJob[] = [];
      for (const id of ids) {
        freeKey.run({ id, now });
        const row = retry.get({ id, now, waitingAt: WAITING_FOR_PARENTS_AT }) as SqliteJobRow | undefined;
        if (row) rows.push(toStoredJob(row));
      }
      return rows;
    });

    this.deleteTx = this.db.transaction((ids: string[]) => {
      const remove = this.statement(this.db, sql.DELETE_FINISHED_JOB);
      return new Set(ids.filter((id) => remove.run({ id }).changes > 0));
    });

    this.cancelManyTx = this.db.transaction((ids: string[], reason: string) => {
      const now = this.clock();
      const cancel = this.statement(this.db, sql.CANCEL_JOB_ANY);
      const descendants = this.statement(this.db, sql.CANCEL_DESCENDANTS);
      return ids.flatMap((id) => {
        const row = cancel.get({ id, reason, errors: null, now }) as SqliteJobRow | undefined;
        if (!row) return [];
        descendants.run({ id, now });
        return [row];
      });
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
      if (tx == null) return jobs.length === 0 ? [] : this.cache(this.db).insert.immediate(jobs);
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
      const { completed, rows, heldBack } = this.claimTx.immediate(completions, requests);
      return { completed, claimed: rows.map(toStoredJob), heldBack };
    });
  }

  jobCompleteMany({ items }: { items: CompleteItem[] }): Promise<Set<string>> {
    return this.settle("jobCompleteMany", () => (items.length === 0 ? new Set<string>() : this.completeTx.immediate(items)));
  }

  jobFail({ id, attempt, reason, delayMs, errors }: FailParams): Promise<StoredJob | null> {
    return this.settle("jobFail", () => this.one(sql.FAIL_JOB, { id, attempt, reason, delayMs, errors, now: this.clock() }));
  }

  jobCancel(params: CancelParams): Promise<StoredJob | null> {
    return this.settle("jobCancel", () => this.cancelTx.immediate(params));
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
      const { name, status, statuses, label, group, createdFrom, createdBefore, afterId, beforeId, limit } = params;
      const descending = scanDescending(params);
      const text = sql.listJobsSql({
        name: name !== undefined, status: status !== undefined, statuses: statuses === undefined ? null : statuses.length,
        label: label !== undefined, group: group !== undefined, createdFrom: createdFrom !== undefined, createdBefore: createdBefore !== undefined,
        afterId: afterId !== undefined, beforeId: beforeId !== undefined, descending,
      });
      const values: Record<string, unknown> = { limit: Math.max(0, limit) };
      if (name !== undefined) values.name = name;
      if (status !== undefined) values.status = status;
      statuses?.forEach((one, i) => (values[`s${i}`] = one));
      if (label !== undefined) values.label = label;
      if (group !== undefined) values.group = group;
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

  taskSetPaused({ name, paused }: { name: string; paused: boolean }): Promise<boolean> {
    return this.settle("taskSetPaused", () =>
      this.statement(this.db, paused ? sql.PAUSE_TASK : sql.RESUME_TASK).run({ name, now: this.clock() }).changes > 0);
  }

  taskListPaused(): Promise<string[]> {
    return this.settle("taskListPaused", () => this.statement(this.db, sql.LIST_PAUSED).pluck().all() as string[]);
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

  jobGetMany({ ids }: { ids: string[]; awaited?: boolean }): Promise<StoredJob[]> {
    return this.settle("jobGetMany", () =>
      (this.statement(this.db, sql.GET_JOBS).all({ ids: JSON.stringify(ids) }) as SqliteJobRow[]).map(toStoredJob));
  }

  /** Never called: other processes cannot reach this one (see `capabilities`); waiters poll. */
  listenFinished(_params: { onFinished: (id: string) => void; onError: (error: Error) => void }): Promise<() => Promise<void>> {
    return Promise.resolve(() => Promise.resolve());
  }

  jobRetry({ ids }: { ids: string[] }): Promise<StoredJob[]> {
    return this.settle("jobRetry", () => (ids.length === 0 ? [] : this.retryTx.immediate(ids)));
  }

  jobDelete({ ids }: { ids: string[] }): Promise<Set<string>> {
    return this.settle("jobDelete", () => (ids.length === 0 ? new Set<string>() : this.deleteTx.immediate(ids)));
  }

  jobParents({ id }: { id: string }): Promise<StoredJob[]> {
    return this.settle("jobParents", () => (this.statement(this.db, sql.GET_PARENTS).all(id) as SqliteJobRow[]).map(toStoredJob));
  }

  jobChildren({ id }: { id: string }): Promise<StoredJob[]> {
    return this.settle("jobChildren", () => (this.statement(this.db, sql.GET_CHILDREN).all(id) as SqliteJobRow[]).map(toStoredJob));
  }

  jobSetCheckpoint({ id, attempt, checkpoint }: AttemptRef & { checkpoint: string }): Promise<boolean> {
    return this.settle("jobSetCheckpoint", () => this.statement(this.db, sql.SET_CHECKPOINT).run({ id, attempt, checkpoint }).changes > 0);
  }

  /**
   * The whole transaction runs synchronously, in one turn of the event loop: no other work of this
   * process can reach the connection while the user's transaction is open. better-sqlite3 rolls back on
   * any throw; a promise returned by `fn` is refused, since the work it stands for would run after the
   * commit, outside the transaction.
   */
  jobTransaction<T>({ ref, fn, result }: { ref: AttemptRef; fn: (tx: unknown) => T | Promise<T>; result: (value: T) => string }): Promise<{ value: T; job: StoredJob | null }> {
    const lost = Symbol("lease lost");
    let value: T | undefined;
    let began = false;
    try {
      const row = this.db.transaction(() => {
        began = true;
        const returned = fn(this.db);
        if (isThenable(returned)) {
          // Its eventual rejection is no one's to handle: the handler hears about it through the error below.
          Promise.resolve(returned).catch(() => undefined);
          throw new ValidationError("fn", "must be synchronous on SQLite (better-sqlite3 is): it returned a promise, "
            + "whose work would run outside the transaction; nothing was committed");
        }
        value = returned as T;
        const now = this.clock();
        const text = result(value);
        if (this.statement(this.db, sql.COMPLETE_JOB).run({ id: ref.id, attempt: ref.attempt, result: text, now }).changes === 0) throw lost;
        this.completed(ref.id, now);
        return this.statement(this.db, sql.GET_JOB).get(ref.id) as SqliteJobRow;
      }).immediate();
      return Promise.resolve({ value: value as T, job: toStoredJob(row) });
    } catch (error) {
      if (error === lost) return Promise.resolve({ value: value as T, job: null });
      // What `fn` throws (its own SQL errors included) passes through as it is; BEGIN failing is the store's.
      if (!began) {
        return Promise.reject(new StoreError(`sqlite jobTransaction: ${coerceError(error).message}`, { cause: error }));
      }
      return Promise.reject(error);
    }
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

  /**
   * Inside the insert's transaction: unlabelled jobs without parents, in one statement (sql.INSERT_JOBS).
   * Each row is built from what the insert wrote (row.ts `insertedRow`).
   */
  private insertPlain(db: Handle, jobs: NewJob[], now: number): StoredJob[] {
    const batch = jobs.map(({ name, data, delayMs, priority, group = null, traceContext = null }) => [name, data, delayMs, priority, group, traceContext]);
    const ids = (this.statement(db, sql.INSERT_JOBS).pluck().all({ jobs: JSON.stringify(batch), now }) as number[]).sort((a, b) => a - b);
    if (ids.length !== jobs.length) throw new StoreError(`sqlite jobInsertMany: ${jobs.length} jobs inserted, ${ids.length} ids back`);
    return jobs.map((job, index) => {
      const stored = toStoredJob(insertedRow(job, ids[index]!, now, now + job.delayMs));
      stored.duplicate = false;
      return stored;
    });
  }

  /** Inside the transaction that completed job `id`: its waiting children count down. */
  private completed(id: string, now: number): void {
    this.statement(this.db, sql.RELEASE_CHILDREN).run({ id, now });
  }

  /**
   * Inside a transaction: completes the attempts `items` (fenced, in one statement) and releases their
   * waiting children; returns the ids written. The children are looked for only if any job has parents
   * at all: that one lookup per batch saves a statement per job for the many queues that never use `after`.
   */
  private completeAll(items: readonly CompleteItem[], now: number): Set<string> {
    // An id that is not a row id cannot be completed: left out rather than coerced into one.
    const batch = items.filter((item) => ROW_ID.test(item.id)).map(({ id, attempt, result }) => [Number(id), attempt, result]);
    if (batch.length === 0) return new Set();
    const written = this.statement(this.db, sql.COMPLETE_JOBS).pluck().all({ items: JSON.stringify(batch), now }) as number[];
    if (written.length > 0 && this.statement(this.db, sql.ANY_PARENT_LINK).get() !== undefined) {
      for (const id of written) this.completed(String(id), now);
    }
    return new Set(written.map(String));
  }

  /**
   * Inside the insert's transaction: records the parents of the new jobs (`stored`: each input item's
   * job, so `after` indexes name input items, as on PostgreSQL) and makes those with parents still to
   * complete wait. An unknown or cancelled parent throws, so the whole insert rolls back.
   */
  private linkParents(db: Handle, jobs: NewJob[], stored: StoredJob[]): StoredJob[] {
    const status = this.statement(db, sql.PARENT_STATUS).pluck();
    const statusOf = (id: string) => (PARENT_ID.test(id) ? (status.get(id) as JobStatus | undefined) : undefined);
    checkParents(new Set(jobs.flatMap((job) => job.after?.ids ?? [])), statusOf);
    const { children, parents, waiting } = parentEdges(jobs, stored, statusOf);
    const link = this.statement(db, sql.INSERT_PARENT_LINK);
    children.forEach((child, i) => link.run(Number(child), Number(parents[i])));
    const wait = this.statement(db, sql.MAKE_WAITING);
    return stored.map((job) => {
      const count = waiting.get(job.id);
      if (count === undefined) return job;
      return { ...toStoredJob(wait.get({ id: Number(job.id), waiting: count, waitingAt: WAITING_FOR_PARENTS_AT }) as SqliteJobRow), duplicate: false };
    });
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
      const insert = db.transaction((jobs: NewJob[]): StoredJob[] => {
        const now = this.clock();
        if (jobs.every((job) => job.label === null && !job.after)) {
          return this.insertPlain(db, jobs, now);
        }
        const statement = this.statement(db, sql.INSERT_JOB);
        const batch = foldByLabel(jobs);
        const folded = batch.items.map((job): Inserted => {
          const { name, data, delayMs, priority, label, group = null, traceContext = null } = job;
          if (label !== null) return this.insertUnique(db, job, now);
          return { row: statement.get({ name, data, now, delayMs, priority, label, group, traceContext }) as SqliteJobRow, duplicate: false };
        });
        const stored = unfold(batch, folded.map(toStoredItem));
        return jobs.some((job) => job.after) ? this.linkParents(db, jobs, stored) : stored;
      });
      cache = { statements: new Map(), insert, file: canonicalPath(db.name) };
      this.handles.set(db, cache);
    }
    return cache;
  }

  /**
   * Inside a transaction reached only through an ORM: checked to be on this store's file (else the job
   * would land in another database), then the same insert as on a better-sqlite3 handle, labels and
   * parents included, through statements of one JSON parameter each (see `sql.INSERT_JOBS_JSON`).
   *
   * The parents are read first, by a write (`LOCK_PARENTS_JSON`): the store's own insert checks them
   * after inserting, inside a SAVEPOINT that a bad parent rolls back, but a savepoint cannot be relied on
   * through every library, so a bad parent must fail the call before anything is stored.
   */
  private async insertThrough(tx: SqlTransaction, jobs: NewJob[]): Promise<StoredJob[]> {
    if (!this.db.open) throw new StoreError("sqlite jobInsertMany: the store is closed");
    let stored: StoredJob[];
    try {
      const theirs = String(onlyValue((await tx.query(sql.DATABASE_FILE, []))[0]) ?? "");
      const own = this.cache(this.db).file;
      if (this.db.memory || theirs === "" || canonicalPath(theirs) !== own) {
        throw new ValidationError("options.tx", `${tx.source}: must be a transaction on the queue's database file ${own}, got ${theirs || "an in-memory database"}`);
      }
      if (jobs.length === 0) return [];
      const run = async (text: string, input: unknown): Promise<JobRow[]> =>
        (await tx.query(text, [JSON.stringify(input)])).map((row) => JSON.parse(String(onlyValue(row))) as JobRow);
      const withParents = jobs.some((job) => job.after);
      const statusOf: ParentStatus = withParents ? await this.parentsThrough(jobs, run) : () => undefined;
      const now = this.clock();
      const batch = foldByLabel(jobs);
      const folded = batch.items.some((job) => job.label !== null)
        ? await this.insertUniqueThrough(batch.items, now, run)
        // RETURNING order is unspecified in SQLite: id order is item order (AUTOINCREMENT follows insert order).
        : (await run(sql.INSERT_JOBS_JSON, { now, jobs: batch.items.map(jsonInput) })).sort(byId).map((row) => ({ row, duplicate: false }));
      stored = unfold(batch, folded.map(toStoredItem));
      if (withParents) stored = await this.linkParentsThrough(jobs, stored, statusOf, run);
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      throw new StoreError(`sqlite jobInsertMany: ${coerceError(error).message}`, { cause: error });
    }
    const last = stored.reduce<string | undefined>((max, job) => (max === undefined || Number(job.id) > Number(max) ? job.id : max), undefined);
    if (last !== undefined) this.lastInserted.set(tx, last);
    return stored;
  }

  /**
   * The status of every parent the batch names by id, read by a write (see `insertThrough`); an unknown or
   * cancelled one throws. Looked up by number, as SQLite compares ids ("007" names job 7).
   */
  private async parentsThrough(jobs: NewJob[], run: (text: string, input: unknown) => Promise<unknown[]>): Promise<ParentStatus> {
    const named = [...new Set(jobs.flatMap((job) => job.after?.ids ?? []))];
    const valid = named.filter((id) => PARENT_ID.test(id)).map(Number);
    const rows = valid.length === 0 ? [] : await run(sql.LOCK_PARENTS_JSON, valid) as Array<{ id: number; status: JobStatus }>;
    const found = new Map(rows.map((row) => [Number(row.id), row.status]));
    const statusOf = (id: string) => (PARENT_ID.test(id) ? found.get(Number(id)) : undefined);
    checkParents(named, statusOf);
    return statusOf;
  }

  /**
   * A folded batch with labelled items through an ORM's transaction: what `insertUnique` does per item,
   * for the whole batch at once (see `sql.FREE_UNIQUE_KEYS_JSON`). Each item gets its row, in item order.
   */
  private async insertUniqueThrough(items: NewJob[], now: number, run: (text: string, input: unknown) => Promise<JobRow[]>): Promise<Inserted[]> {
    const input = items.map((job) => ({ ...jsonInput(job), isolationMs: job.isolationMs ?? 0 }));
    const labelled = input.filter((job) => job.label !== null);
    await run(sql.FREE_UNIQUE_KEYS_JSON, { now, jobs: labelled });
    const key = (name: string, label: string | null) => `${name}\u0000${label}`;
    const inserted = (await run(sql.INSERT_UNIQUE_JOBS_JSON, { now, jobs: input })).sort(byId);
    const byKey = new Map<string, Inserted>();
    const unlabelled: Inserted[] = [];
    for (const row of inserted) {
      if (row.label === null) unlabelled.push({ row: row as SqliteJobRow, duplicate: false });
      else byKey.set(key(row.name, row.label), { row: row as SqliteJobRow, duplicate: false });
    }
    const standing = items.filter((job) => job.label !== null && !byKey.has(key(job.name, job.label)));
    if (standing.length > 0) {
      const replacing = standing.filter((job) => job.replace === true);
      if (replacing.length > 0) await run(sql.REPLACE_STANDING_JSON, { now, jobs: replacing.map(jsonInput) });
      for (const row of await run(sql.GET_STANDING_JSON, { jobs: standing.map(jsonInput) })) {
        byKey.set(key(row.name, row.label), { row: row as SqliteJobRow, duplicate: true });
      }
    }
    // Unlabelled rows come back sorted by id, which is item order (AUTOINCREMENT follows insert order).
    let next = 0;
    return items.map((job) => {
      const found = job.label === null ? unlabelled[next++] : byKey.get(key(job.name, job.label));
      if (found === undefined) throw new StoreError("sqlite jobInsertMany: a job of the batch came back missing");
      return found;
    });
  }

  /** `linkParents` through an ORM's transaction, over the input items' jobs (`stored`), in two statements. */
  private async linkParentsThrough(jobs: NewJob[], stored: StoredJob[], statusOf: ParentStatus,
    run: (text: string, input: unknown) => Promise<JobRow[]>): Promise<StoredJob[]> {
    const { children, parents, waiting } = parentEdges(jobs, stored, statusOf);
    if (children.length > 0) await run(sql.INSERT_PARENT_LINKS_JSON, children.map((child, i) => [Number(child), Number(parents[i])]));
    if (waiting.size === 0) return stored;
    const rows = await run(sql.MAKE_WAITING_JSON, { waitingAt: WAITING_FOR_PARENTS_AT, jobs: [...waiting].map(([id, count]) => [Number(id), count]) });
    const updated = new Map(rows.map((row) => [String(row.id), toStoredJob(row)]));
    return stored.map((job) => {
      const fresh = updated.get(job.id);
      return fresh === undefined ? job : { ...fresh, duplicate: job.duplicate === true };
    });
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
    return this.cache(handle).insert(jobs);
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
    const inserted = this.statement(db, sql.INSERT_UNIQUE_JOB).get({ ...params, isolationMs, group: job.group ?? null, traceContext: job.traceContext ?? null }) as SqliteJobRow | undefined;
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

/** An inserted item's job, marked with whether it was a duplicate. */
function toStoredItem({ row, duplicate }: { row: JobRow; duplicate: boolean }): StoredJob {
  const job = toStoredJob(row);
  job.duplicate = duplicate;
  return job;
}

/** Rows in id order, which is insert order (AUTOINCREMENT). */
function byId(a: JobRow, b: JobRow): number {
  return Number(a.id) - Number(b.id);
}

/** An ORM path's input item of a job (see `sql.INSERT_JOBS_JSON`). */
function jsonInput({ name, data, delayMs, priority, label, group = null, traceContext = null }: NewJob) {
  return { name, data, delayMs, priority, label, group, traceContext };
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

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null
    && typeof (value as { then?: unknown }).then === "function";
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
