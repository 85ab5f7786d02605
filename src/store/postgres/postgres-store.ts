/**
 * The PostgreSQL store: one table per configurable schema, claims with FOR UPDATE SKIP LOCKED,
 * wake-ups with LISTEN/NOTIFY, and every timestamp from the database clock.
 * @module
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { HewnError, StoreError, ValidationError } from "../../errors.js";
import { CRASH_MESSAGE, JOB_STATUSES, MAX_KEPT_ERRORS, WAITING_FOR_PARENTS_AT, type JobStatus } from "../../job.js";
import { foldByLabel, unfold } from "../../unique/batch.js";
import { checkParents, parentEdges } from "../../flow/after.js";
import { insertedRow, toStoredJob, type JobRow } from "../row.js";
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
  Store,
  StoreCapabilities,
  StoredJob,
  StoredSchedule,
  SlotClaim,
  StoreStats,
} from "../store.js";
import { claimWithLimits } from "./flow-claim.js";
import { SqlTransaction, onlyValue } from "../../tx/sql-transaction.js";
import { parseTimestamptz } from "./parse-time.js";
import { scanDescending } from "../list-order.js";
import { Listener } from "./listener.js";
import { applyMigrations, pendingMigrations } from "./migrations.js";
import * as sql from "./sql.js";

export interface PostgresStoreOptions {
  pool: pg.Pool;
  /** Whether close() ends the pool (true when hewn created it from a URL). */
  ownsPool: boolean;
  /** Lower-case identifier: `/^[a-z_][a-z0-9_]{0,62}$/`. */
  schema: string;
  /** Receives errors of idle pooled connections (e.g. a backend terminated by an operator). */
  onError?: (error: Error) => void;
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
const MAX_BIGINT = 9223372036854775807n;

/** A client the caller's transaction runs on: anything with pg's promise-style `query`. */
interface Queryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

/**
 * Per-query type parsers, immune to a user's global `pg.types.setTypeParser`: ids stay exact decimal
 * strings (int8 → text), json arrives as text so a payload that fails to parse becomes `dataError`
 * on that job instead of failing the whole query, and timestamps take a fast path (parse-time.ts).
 */
const INT8_OID = 20;
const JSON_OID = 114;
const TIMESTAMPTZ_OID = 1184;
const parseTimestamptzSlowly = pg.types.getTypeParser(TIMESTAMPTZ_OID, "text");
const readTimestamptz = (value: string) => parseTimestamptz(value, parseTimestamptzSlowly);
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: string) => {
    if (oid === INT8_OID || oid === JSON_OID) return (value: string) => value;
    if (oid === TIMESTAMPTZ_OID && format !== "binary") return readTimestamptz;
    return pg.types.getTypeParser(oid, format as "text");
  },
};

export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = {
    crossProcessWakeups: true, defaultPollInterval: 1000, maxConcurrentRounds: 3, synchronousInsert: false,
  };

  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly schema: string;
  /** The quoted schema: the only text ever spliced into SQL. */
  private readonly q: string;
  private readonly channel: string;
  /** Where finishes of awaited jobs are announced (`waitFor`). */
  private readonly finishedChannel: string;
  /** Every statement of this schema, built once. */
  private readonly statements: Statements;
  private readonly listeners = new Set<Listener>();
  private readonly onPoolError: (error: Error) => void;
  private closing: Promise<void> | null = null;

  constructor(options: PostgresStoreOptions) {
    if (typeof options.schema !== "string" || !SCHEMA_PATTERN.test(options.schema)) {
      throw new ValidationError("options.postgres.schema", `must match ${SCHEMA_PATTERN} (got ${JSON.stringify(options.schema)})`);
    }
    this.pool = options.pool;
    this.ownsPool = options.ownsPool;
    this.schema = options.schema;
    this.q = sql.quoteIdent(options.schema);
    this.channel = sql.channelName(options.schema);
    this.finishedChannel = sql.finishedChannelName(options.schema);
    this.statements = {
      ...prepareStatements(this.q),
      orm: {
        insertJobs: sql.insertJobsJson(this.q, this.channel),
        insertUniqueJobs: sql.insertUniqueJobsJson(this.q, this.channel),
        lockParents: sql.lockParentsJson(this.q),
        insertParentLinks: sql.insertParentLinksJson(this.q),
        makeWaiting: sql.makeWaitingJson(this.q),
      },
    };
    // pg.Pool emits 'error' when an idle client's connection dies; with no listener that crashes the process.
    this.onPoolError = (error) => options.onError?.(new StoreError(`idle PostgreSQL connection failed: ${error.message}`, { cause: error }));
    this.pool.on("error", this.onPoolError);
  }

  async migrate(): Promise<void> {
    this.assertOpen();
    try {
      await applyMigrations(this.pool, this.schema);
    } catch (error) {
      throw wrap(error, "migrate");
    }
  }

  async jobInsertMany({ jobs, tx }: { jobs: NewJob[]; tx?: unknown }): Promise<StoredJob[]> {
    const withParents = jobs.some((job) => job.after);
    if (tx == null) return withParents ? this.inTransaction((client) => this.insertWithParents(jobs, this.clientPath(client))) : this.insertMany(jobs, this.clientPath());
    if (tx instanceof SqlTransaction) return this.insertThrough(tx, jobs);
    const client = await transactionClient(tx);
    const path = this.clientPath(client);
    try {
      return await (withParents ? this.insertWithParents(jobs, path) : this.insertMany(jobs, path));
    } catch (error) {
      // pg learns that a transaction failed only after the failing query's promise settled: the status
      // checked above may still have said "in transaction".
      if (pgCode(error) === FAILED_TRANSACTION) throw new ValidationError("options.tx", FAILED_TRANSACTION_MESSAGE, { cause: error });
      throw error;
    }
  }

  private async insertMany(jobs: NewJob[], path: InsertPath): Promise<StoredJob[]> {
    if (jobs.length === 0) return [];
    if (jobs.some((job) => job.label !== null)) return this.insertUnique(jobs, path);
    return path.plain(jobs);
  }

  /**
   * Inside a transaction: locks the existing parents first (see migration 6), then inserts the jobs, links
   * them, and makes those with parents still to complete wait.
   */
  private async insertWithParents(jobs: NewJob[], path: InsertPath): Promise<StoredJob[]> {
    const named = [...new Set(jobs.flatMap((job) => job.after?.ids ?? []))];
    const locked = await path.lockParents(named.filter(isId));
    const statusOf = new Map(locked.map((row) => [row.id, row.status]));
    checkParents(named, (id) => statusOf.get(id));
    const inserted = await this.insertMany(jobs, path);
    const { children, parents, waiting } = parentEdges(jobs, inserted, (id) => statusOf.get(id));
    await path.link(children, parents);
    // Parents new in this insert are flagged too (no one else can see them yet, so no race to lock out).
    const fresh = [...new Set(jobs.flatMap((job) => job.after?.indexes.map((i) => inserted[i]?.id ?? "") ?? []))].filter(isId);
    if (fresh.length > 0) await path.lockParents(fresh);
    if (waiting.size === 0) return inserted;
    const rows = await path.makeWaiting([...waiting.keys()], [...waiting.values()]);
    const updated = new Map(rows.map((row) => [row.id, row]));
    return inserted.map((job) => updated.get(job.id) ?? job);
  }

  /** A batch with labelled items: folded per key, one statement (see `insertUniqueJobs`), each item given its job. */
  private async insertUnique(jobs: NewJob[], path: InsertPath): Promise<StoredJob[]> {
    const batch = foldByLabel(jobs);
    const { items } = batch;
    const rows = await path.unique(items);
    const byKey = new Map<string, StoredJob>();
    const unlabelled: StoredJob[] = [];
    for (const row of rows) {
      const job: StoredJob = { ...toStoredJob(row), duplicate: !row.inserted };
      if (row.label === null) unlabelled.push(job);
      else byKey.set(`${row.name}\u0000${row.label}`, job);
    }
    // Unlabelled rows come back in id order, which is input order (see insertJobs).
    let next = 0;
    const stored = items.map((job) => (job.label === null ? unlabelled[next++] : byKey.get(`${job.name}\u0000${job.label}`)));
    if (stored.some((job) => job === undefined)) throw new StoreError("PostgreSQL jobInsertMany failed: a job of the batch came back missing");
    return unfold(batch, stored as StoredJob[]);
  }

  /** The statements of an insert on a pg client: the caller's (inside their transaction), or the pool's. */
  private clientPath(client?: Queryable): InsertPath {
    const run = <R>(statement: Statement, values: unknown[]) => this.rows<R>("jobInsertMany", statement, values, client);
    return {
      plain: async (jobs) => {
        const [only] = jobs;
        if (jobs.length === 1 && only) {
          const values = [only.name, only.data, only.delayMs, only.priority, only.label, this.channel, only.group ?? null, only.traceContext ?? null];
          return (await run<JobRow>(this.statements.insertJob, values)).map(toStoredJob);
        }
        const rows = await run<{ id: string; created_at: Date; available_at: Date }>(this.statements.insertJobs, [
          jobs.map((job) => job.name),
          jobs.map((job) => job.data),
          jobs.map((job) => job.delayMs),
          jobs.map((job) => job.priority),
          jobs.map((job) => job.label),
          this.channel,
          jobs.map((job) => job.group ?? null),
          jobs.map((job) => job.traceContext ?? null),
        ]);
        if (rows.length !== jobs.length) throw new StoreError(`PostgreSQL jobInsertMany: ${jobs.length} jobs inserted, ${rows.length} rows back`);
        // In id order, which is the batch's order (see insertJobs).
        return rows.map((row, index) => toStoredJob(insertedRow(jobs[index]!, row.id, row.created_at, row.available_at)));
      },
      unique: (items) => run<JobRow & { inserted: boolean }>(this.statements.insertUniqueJobs, [
        items.map((job) => job.name),
        items.map((job) => job.data),
        items.map((job) => job.delayMs),
        items.map((job) => job.priority),
        items.map((job) => job.label),
        items.map((job) => job.isolationMs ?? 0),
        items.map((job) => job.replace === true),
        this.channel,
        items.map((job) => job.group ?? null),
        items.map((job) => job.traceContext ?? null),
      ]),
      lockParents: (ids) => run<{ id: string; status: JobStatus }>(this.statements.lockParents, [ids]),
      link: async (children, parents) => {
        await run(this.statements.insertParentLinks, [children, parents]);
      },
      makeWaiting: async (ids, counts) =>
        (await run<JobRow>(this.statements.makeWaiting, [ids, counts, new Date(WAITING_FOR_PARENTS_AT)])).map(toStoredJob),
    };
  }

  /**
   * The same statements through an ORM's transaction (`SqlTransaction`): each takes one JSON parameter
   * and returns each row as one JSON text (see `sql.insertJobsJson`), so nothing depends on how the
   * library binds arrays, parses int8 or timestamps, or names columns.
   */
  private ormPath(tx: SqlTransaction): InsertPath {
    const run = async <R>(text: string, input: unknown): Promise<R[]> =>
      (await tx.query(text, [JSON.stringify(input)])).map((row) => JSON.parse(String(onlyValue(row))) as R);
    const { orm } = this.statements;
    return {
      plain: async (jobs) => (await run<JobRow>(orm.insertJobs, jobs.map(jsonInput))).map(toStoredJob),
      unique: (items) => run<JobRow & { inserted: boolean }>(orm.insertUniqueJobs,
        items.map((job) => ({ ...jsonInput(job), isolationMs: job.isolationMs ?? 0, replace: job.replace === true }))),
      lockParents: (ids) => (ids.length === 0 ? Promise.resolve([]) : run<{ id: string; status: JobStatus }>(orm.lockParents, ids)),
      link: async (children, parents) => {
        if (children.length > 0) await tx.query(orm.insertParentLinks, [JSON.stringify(children.map((child, i) => [child, parents[i]]))]);
      },
      makeWaiting: async (ids, counts) => (await run<JobRow>(orm.makeWaiting, {
        at: new Date(WAITING_FOR_PARENTS_AT).toISOString(), jobs: ids.map((id, i) => [id, counts[i]]),
      })).map(toStoredJob),
    };
  }

  /**
   * Inside a transaction reached only through an ORM: checked to be one, then the same insert as on a
   * pg client (labels, parents and all) through the JSON statements of `ormPath`.
   */
  private async insertThrough(tx: SqlTransaction, jobs: NewJob[]): Promise<StoredJob[]> {
    this.assertOpen();
    try {
      const status = onlyValue((await tx.query(sql.transactionStatus, []))[0]);
      if (status !== true) throw new ValidationError("options.tx", `${tx.source}: ${NOT_IN_TRANSACTION_MESSAGE}`);
      const path = this.ormPath(tx);
      return await (jobs.some((job) => job.after) ? this.insertWithParents(jobs, path) : this.insertMany(jobs, path));
    } catch (error) {
      if (pgCode(error) === FAILED_TRANSACTION) throw new ValidationError("options.tx", FAILED_TRANSACTION_MESSAGE, { cause: error });
      throw wrap(error, "jobInsertMany");
    }
  }

  /** Not possible: pg only queries asynchronously (see `capabilities.synchronousInsert`). */
  jobInsertManySync(_params: { jobs: NewJob[]; tx: unknown }): StoredJob[] {
    throw new ValidationError("options.tx", "PostgreSQL cannot store a job synchronously; use enqueue() and await it");
  }

  async jobInsertClaimed({ items }: { items: NewClaimedJob[] }): Promise<StoredJob[]> {
    if (items.length === 0) return [];
    const rows = await this.rows<JobRow>("jobInsertClaimed", this.statements.insertClaimedJobs, [
      items.map(({ job }) => job.name),
      items.map(({ job }) => job.data),
      items.map(({ leaseMs }) => leaseMs),
      items.map(({ job }) => job.priority),
      items.map(({ job }) => job.label),
      items.map(({ job }) => job.group ?? null),
      items.map(({ job }) => job.traceContext ?? null),
    ]);
    return rows.map(toStoredJob);
  }

  /** NOTIFY is delivered at commit to every listener, this process's own included: nothing to do. */
  afterTransaction(_tx: unknown, _callback: () => void): void {}

  async jobClaim({ requests, completions = [] }: { requests: ClaimRequest[]; completions?: CompleteItem[] }): Promise<ClaimResult> {
    const limited = requests.filter((request) => request.flow !== undefined && request.limit > 0);
    const plain = await this.claimPlain(requests.filter((request) => request.flow === undefined), completions);
    if (limited.length === 0) return plain;
    // After the plain claim has committed its completions, so the limited claims count them as done.
    this.assertOpen();
    const flow = await claimWithLimits({ pool: this.pool, schema: this.schema, statements: this.statements, rows: (...args) => this.rows(...args) }, limited)
      .catch((error: unknown) => {
        throw wrap(error, "jobClaim");
      });
    return {
      completed: plain.completed,
      claimed: [...plain.claimed, ...flow.rows.map(toStoredJob)],
      heldBack: [...(plain.heldBack ?? []), ...flow.heldBack],
    };
  }

  /** Completions and claims of tasks without flow limits: one statement (completeAndClaim). */
  private async claimPlain(requests: ClaimRequest[], completions: CompleteItem[]): Promise<ClaimResult> {
    // Requests for one name would each pick the same rows (a transaction does not skip its own locks): merge them.
    const byName = new Map<string, ClaimRequest>();
    for (const request of requests) {
      if (request.limit <= 0) continue;
      const seen = byName.get(request.name);
      byName.set(request.name, seen
        ? { name: request.name, limit: seen.limit + request.limit, leaseMs: Math.max(seen.leaseMs, request.leaseMs) }
        : request);
    }
    const merged = [...byName.values()];
    const valid = completions.filter((item) => isId(item.id));
    if (merged.length === 0 && valid.length === 0) return { completed: new Set(), claimed: [] };
    const rows = await this.rows<JobRow & { completed_ids: string[] | null; paused_names: string[] | null }>("jobClaim", this.statements.completeAndClaim, [
      merged.map((r) => r.name),
      merged.map((r) => r.limit),
      merged.map((r) => r.leaseMs),
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      valid.map((item) => item.result),
      CRASH_MESSAGE,
      MAX_KEPT_ERRORS,
      this.channel,
      this.finishedChannel,
    ]);
    return {
      completed: new Set(rows[0]?.completed_ids ?? []),
      claimed: rows.filter((row) => row.id !== null).map(toStoredJob),
      heldBack: (rows[0]?.paused_names ?? []).map((name) => ({ name, paused: true, retryInMs: null })),
    };
  }

  jobCompleteMany({ items }: { items: CompleteItem[] }): Promise<Set<string>> {
    return this.fencedMany("jobCompleteMany", this.statements.completeJobs, items, (item) => item.result, [this.channel, this.finishedChannel]);
  }

  async jobFail({ id, attempt, reason, errors, delayMs }: FailParams): Promise<StoredJob | null> {
    if (!isId(id)) return null;
    const rows = await this.rows<JobRow>("jobFail", this.statements.failJob, [id, attempt, toText(reason), errors, delayMs]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async jobCancel({ id, attempt, reason, errors }: CancelParams): Promise<StoredJob | null> {
    if (!isId(id)) return null;
    const rows = await this.rows<JobRow>("jobCancel", this.statements.cancelJob, [id, attempt, toText(reason), errors, this.finishedChannel]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  jobExtendLeases({ items }: { items: ExtendItem[] }): Promise<Set<string>> {
    return this.fencedMany("jobExtendLeases", this.statements.extendLeases, items, (item) => item.leaseMs);
  }

  async jobRelease({ items, reason, unstarted }: ReleaseParams): Promise<Set<string>> {
    const valid = items.filter((item) => isId(item.id));
    if (valid.length === 0) return new Set();
    const rows = await this.rows<{ id: string }>("jobRelease", this.statements.releaseJobs, [
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      toText(reason),
      this.channel,
      unstarted ? 1 : 0,
    ]);
    return new Set(rows.map((row) => row.id));
  }

  async jobSetProgress({ id, attempt, progress }: AttemptRef & { progress: number }): Promise<boolean> {
    if (!isId(id)) return false;
    const result = await this.query("jobSetProgress", this.statements.setProgress, [id, attempt, progress]);
    return (result.rowCount ?? 0) > 0;
  }

  async jobGet({ id }: { id: string }): Promise<StoredJob | null> {
    if (!isId(id)) return null;
    const rows = await this.rows<JobRow>("jobGet", this.statements.getJob, [id]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async jobList(params: ListParams): Promise<StoredJob[]> {
    const filters: sql.ListFilterSql[] = [];
    const values: unknown[] = [];
    const add = (value: unknown, filter: sql.ListFilterSql) => {
      filters.push(filter);
      values.push(value);
    };
    for (const key of ["afterId", "beforeId"] as const) {
      const id = params[key];
      if (id !== undefined && !isId(id)) throw new ValidationError(`options.${key}`, `is not an id of this store: ${JSON.stringify(id.slice(0, 100))}`);
    }
    if (params.name !== undefined) add(params.name, { column: "name", op: "=", type: "text" });
    if (params.status !== undefined) add(params.status, { column: "status", op: "=", type: "text" });
    if (params.statuses !== undefined) add(params.statuses, { column: "status", op: "= ANY", type: "text[]" });
    if (params.label !== undefined) add(toText(params.label), { column: "label", op: "=", type: "text" });
    if (params.group !== undefined) add(toText(params.group), { column: "group_key", op: "=", type: "text" });
    if (params.createdFrom !== undefined) add(params.createdFrom, { column: "created_at", op: ">=", type: "timestamptz" });
    if (params.createdBefore !== undefined) add(params.createdBefore, { column: "created_at", op: "<", type: "timestamptz" });
    if (params.afterId !== undefined) add(params.afterId, { column: "id", op: ">", type: "bigint" });
    if (params.beforeId !== undefined) add(params.beforeId, { column: "id", op: "<", type: "bigint" });
    const descending = scanDescending(params);
    const rows = await this.rows<JobRow>("jobList", { text: sql.listJobs(this.q, filters, descending) }, [...values, params.limit]);
    const jobs = rows.map(toStoredJob);
    return descending === (params.order === "desc") ? jobs : jobs.reverse();
  }

  async jobCountByStatus({ name }: { name?: string }): Promise<Record<JobStatus, number>> {
    const rows = await this.rows<{ status: JobStatus; n: string }>("jobCountByStatus", this.statements.countJobs, [name ?? null]);
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  async jobDeleteFinished({ olderThanMs, limit }: { olderThanMs: number; limit: number }): Promise<number> {
    if (limit <= 0) return 0;
    const result = await this.query("jobDeleteFinished", this.statements.deleteFinished, [olderThanMs, limit]);
    return result.rowCount ?? 0;
  }

  async taskSetPaused({ name, paused }: { name: string; paused: boolean }): Promise<boolean> {
    const statement = paused ? this.statements.pauseTask : this.statements.resumeTask;
    return (await this.rows("taskSetPaused", statement, [toText(name), this.channel])).length > 0;
  }

  async taskListPaused(): Promise<string[]> {
    return (await this.rows<{ name: string }>("taskListPaused", this.statements.listPaused, [])).map((row) => row.name);
  }

  async jobNextAvailableIn({ names }: { names: string[] }): Promise<number | null> {
    if (names.length === 0) return null;
    const rows = await this.rows<{ ms: number }>("jobNextAvailableIn", this.statements.msUntilNextAvailable, [names]);
    return rows[0]?.ms ?? null;
  }

  async jobStats(): Promise<StoreStats> {
    const counted = await this.rows<{ name: string; status: JobStatus; n: string }>("jobStats", this.statements.countJobsByName, []);
    const runnable = [...new Set(counted.filter((row) => row.status !== "completed" && row.status !== "cancelled").map((row) => row.name))];
    const [ready, clock] = await Promise.all([
      runnable.length === 0 ? [] : this.rows<{ name: string; age_ms: number }>("jobStats", this.statements.oldestReady, [runnable]),
      this.rows<{ now: Date }>("jobStats", { text: "SELECT now() AS now" }, []),
    ]);
    return {
      now: clock[0]?.now ?? new Date(),
      counts: counted.map((row) => ({ name: row.name, status: row.status, count: Number(row.n) })),
      oldestReady: ready.map((row) => ({ name: row.name, ageMs: Math.max(0, Number(row.age_ms)) })),
    };
  }

  async jobReschedule({ id, delayMs, at }: RescheduleParams): Promise<StoredJob | null> {
    if (!isId(id)) return null;
    const rows = await this.rows<JobRow>("jobReschedule", this.statements.rescheduleJob, [id, delayMs ?? 0, at ?? null, this.channel]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async jobCancelMany({ ids, reason }: { ids: string[]; reason: string }): Promise<StoredJob[]> {
    const valid = ids.filter(isId);
    if (valid.length === 0) return [];
    const rows = await this.rows<JobRow>("jobCancelMany", this.statements.cancelJobs, [valid, toText(reason), this.finishedChannel]);
    return rows.map(toStoredJob);
  }

  async pendingMigrations(): Promise<number[]> {
    this.assertOpen();
    try {
      return await pendingMigrations(this.pool, this.schema);
    } catch (error) {
      throw wrap(error, "pendingMigrations");
    }
  }

  async listen({ names, onWake, onError }: ListenParams): Promise<() => Promise<void>> {
    return this.startListener(this.channel, names, onWake, onError);
  }

  private async startListener(channel: string, names: string[], onWake: (payload: string) => void, onError: (error: Error) => void): Promise<() => Promise<void>> {
    this.assertOpen();
    const listener = new Listener({
      // pg-pool keeps `password` non-enumerable (to stay out of logs), so a spread alone would drop it.
      connection: { ...this.pool.options, password: this.pool.options.password },
      channel,
      names,
      onWake,
      onError: (error) => onError(wrap(error, "LISTEN connection")),
    });
    this.listeners.add(listener);
    try {
      await listener.start();
    } catch (error) {
      this.listeners.delete(listener);
      await listener.stop();
      throw wrap(error, "listen");
    }
    return async () => {
      this.listeners.delete(listener);
      await listener.stop();
    };
  }

  async scheduleUpsert({ schedule }: { schedule: NewSchedule }): Promise<void> {
    const { key, name, spec, data, priority, catchUp } = schedule;
    await this.query("scheduleUpsert", this.statements.upsertSchedule, [key, name, spec, data, priority, catchUp]);
  }

  async scheduleDelete({ key }: { key: string }): Promise<boolean> {
    return ((await this.query("scheduleDelete", this.statements.deleteSchedule, [key])).rowCount ?? 0) > 0;
  }

  async scheduleList({ keys }: { keys?: string[] }): Promise<{ now: number; schedules: StoredSchedule[] }> {
    const rows = await this.rows<{ now: number; key: string | null; name: string; spec: string; data: string; priority: number; catch_up: string; last_slot: number }>(
      "scheduleList", this.statements.listSchedules, [keys ?? null]);
    return {
      now: rows[0]?.now ?? Date.now(),
      schedules: rows.filter((row) => row.key !== null).map((row) => ({
        key: row.key as string, name: row.name, spec: row.spec, data: row.data, priority: row.priority, catchUp: row.catch_up,
        lastSlot: Math.round(row.last_slot),
      })),
    };
  }

  async scheduleClaimSlot({ key, spec, slot, label }: SlotClaim): Promise<StoredJob | null> {
    const rows = await this.rows<JobRow>("scheduleClaimSlot", this.statements.claimSlot, [key, spec, slot, label, this.channel]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async jobGetMany({ ids, awaited = false }: { ids: string[]; awaited?: boolean }): Promise<StoredJob[]> {
    const valid = ids.filter(isId);
    if (valid.length === 0) return [];
    const statement = awaited ? this.statements.awaitJobs : this.statements.getJobs;
    return (await this.rows<JobRow>("jobGetMany", statement, [valid])).map(toStoredJob);
  }

  async listenFinished({ onFinished, onError }: { onFinished: (id: string) => void; onError: (error: Error) => void }): Promise<() => Promise<void>> {
    return this.startListener(this.finishedChannel, [], onFinished, onError);
  }

  async jobRetry({ ids }: { ids: string[] }): Promise<StoredJob[]> {
    const valid = ids.filter(isId);
    if (valid.length === 0) return [];
    return this.inTransaction(async (client) => {
      await this.query("jobRetry", this.statements.lockParentsOf, [valid], client);
      await this.query("jobRetry", this.statements.freeUniqueKeysForRetry, [valid], client);
      const rows = await this.rows<JobRow>("jobRetry", this.statements.retryJobs, [valid, new Date(WAITING_FOR_PARENTS_AT), this.channel], client);
      return rows.map(toStoredJob);
    });
  }

  async jobDelete({ ids }: { ids: string[] }): Promise<Set<string>> {
    const valid = ids.filter(isId);
    if (valid.length === 0) return new Set();
    return new Set((await this.rows<{ id: string }>("jobDelete", this.statements.deleteJobs, [valid])).map((row) => row.id));
  }

  async jobParents({ id }: { id: string }): Promise<StoredJob[]> {
    if (!isId(id)) return [];
    return (await this.rows<JobRow>("jobParents", this.statements.parentsOf, [id])).map(toStoredJob);
  }

  async jobChildren({ id }: { id: string }): Promise<StoredJob[]> {
    if (!isId(id)) return [];
    return (await this.rows<JobRow>("jobChildren", this.statements.childrenOf, [id])).map(toStoredJob);
  }

  async jobSetCheckpoint({ id, attempt, checkpoint }: AttemptRef & { checkpoint: string }): Promise<boolean> {
    if (!isId(id)) return false;
    const result = await this.query("jobSetCheckpoint", this.statements.setCheckpoint, [id, attempt, checkpoint]);
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * A pooled client in BEGIN for `fn`; then the fenced completion (children released, waiters told, as
   * any completion) and the job read back, on the same client, and COMMIT. The client is the user's until
   * `fn` settles; they must not COMMIT or ROLLBACK it themselves.
   */
  async jobTransaction<T>({ ref, fn, result }: { ref: AttemptRef; fn: (tx: unknown) => T | Promise<T>; result: (value: T) => string }): Promise<{ value: T; job: StoredJob | null }> {
    const lost = Symbol("lease lost");
    let value: T | undefined;
    try {
      const job = await this.inTransaction(async (client) => {
        value = await fn(client);
        const text = result(value);
        const done = await this.fencedMany("jobTransaction", this.statements.completeJobs, [{ ...ref, result: text }], (item) => item.result,
          [this.channel, this.finishedChannel], client);
        if (!done.has(ref.id)) throw lost;
        const [row] = await this.rows<JobRow>("jobTransaction", this.statements.getJob, [ref.id], client);
        return row ? toStoredJob(row) : null;
      }, { passThrough: true });
      return { value: value as T, job };
    } catch (error) {
      if (error === lost) return { value: value as T, job: null };
      throw error;
    }
  }

  /**
   * Runs `work` in a transaction on a pooled client: BEGIN, work, COMMIT; ROLLBACK on any throw. A client
   * that cannot roll back is destroyed rather than pooled. With `passThrough`, what `work` throws is
   * rethrown unchanged (it may be the user's); otherwise it is wrapped as a store error.
   */
  private async inTransaction<R>(work: (client: Queryable) => Promise<R>, options: { passThrough?: boolean } = {}): Promise<R> {
    this.assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw wrap(error, "connect");
    }
    let broken: Error | undefined;
    try {
      await client.query("BEGIN").catch((error: unknown) => {
        throw wrap(error, "BEGIN");
      });
      try {
        const out = await work(client);
        await client.query("COMMIT");
        return out;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
        throw options.passThrough || error instanceof HewnError || typeof error === "symbol" ? error : wrap(error, "transaction");
      }
    } finally {
      client.release(broken);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const listeners = [...this.listeners];
      this.listeners.clear();
      await Promise.all(listeners.map((listener) => listener.stop()));
      if (this.ownsPool) {
        await this.pool.end().catch(() => undefined);
      } else {
        this.pool.removeListener("error", this.onPoolError);
      }
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new StoreError("the PostgreSQL store is closed");
  }

  /**
   * A batched fenced write whose statement takes ids ($1), attempts ($2) and one value per item ($3) (then
   * `extra`), and returns the ids it changed. Ids this store could never have issued match nothing, so they are left out.
   */
  private async fencedMany<T extends AttemptRef>(
    operation: string, statement: Statement, items: T[], value: (item: T) => unknown, extra: unknown[] = [], client?: Queryable,
  ): Promise<Set<string>> {
    const valid = items.filter((item) => isId(item.id));
    if (valid.length === 0) return new Set();
    const rows = await this.rows<{ id: string }>(operation, statement, [
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      valid.map(value),
      ...extra,
    ], client);
    return new Set(rows.map((row) => row.id));
  }

  /** The one place statements run: closed-store check, type parsers, and error wrapping. */
  private async query(operation: string, statement: Statement, values: unknown[], client?: Queryable): Promise<pg.QueryResult> {
    this.assertOpen();
    try {
      return await (client ?? this.pool).query({ ...statement, values, types: TYPES });
    } catch (error) {
      throw wrap(error, operation);
    }
  }

  private async rows<R>(operation: string, statement: Statement, values: unknown[], client?: Queryable): Promise<R[]> {
    return (await this.query(operation, statement, values, client)).rows as R[];
  }
}

/** A statement, with the name it is prepared under (absent: planned afresh each time). */
interface Statement {
  readonly text: string;
  readonly name?: string;
}

type Statements = Record<(typeof PREPARED)[number] | (typeof UNPREPARED)[number], Statement> & {
  /** The statements sent through an ORM's transaction (see `ormPath`): texts only, never prepared by name. */
  orm: Record<"insertJobs" | "insertUniqueJobs" | "lockParents" | "insertParentLinks" | "makeWaiting", string>;
};

/**
 * The statements of one insert, run on a pg client or through an ORM's transaction: `insertMany`,
 * `insertUnique` and `insertWithParents` decide the same way whichever runs them.
 */
interface InsertPath {
  /** Unlabelled jobs, in input order. */
  plain(jobs: NewJob[]): Promise<StoredJob[]>;
  /** A folded batch with labelled items (see `insertUniqueJobs`); rows in no set order. */
  unique(items: NewJob[]): Promise<Array<JobRow & { inserted: boolean }>>;
  /** Locks and flags the parents (see `lockParents`); the ids found, with their status. */
  lockParents(ids: string[]): Promise<Array<{ id: string; status: JobStatus }>>;
  /** Records child → parent edges (pairs at the same index). */
  link(children: string[], parents: string[]): Promise<void>;
  /** Makes the children wait for `counts[i]` parents; the updated jobs. */
  makeWaiting(ids: string[], counts: number[]): Promise<StoredJob[]>;
}

/**
 * Hot statements are prepared: parsed and planned once per connection instead of on every call.
 * Listings and counts are not, since their optional filters need a plan made for the actual values.
 */
const PREPARED = [
  "insertJob", "insertJobs", "insertUniqueJobs", "listSchedules", "claimSlot", "insertClaimedJobs", "completeAndClaim", "completeJobs", "failJob", "cancelJob", "extendLeases",
  "releaseJobs", "setProgress", "getJob", "deleteFinished", "msUntilNextAvailable",
  "awaitJobs", "getJobs", "setCheckpoint", "parentsOf",
  "flowCounts", "flowCandidates", "flowUngrouped", "flowPassTurn", "flowClaim", "pauseTask", "resumeTask",
] as const;
const UNPREPARED = [
  "countJobs", "countJobsByName", "oldestReady", "rescheduleJob", "cancelJobs", "listPaused",
  "lockParents", "lockParentsOf", "insertParentLinks", "makeWaiting", "freeUniqueKeysForRetry", "retryJobs", "deleteJobs",
  "upsertSchedule", "deleteSchedule", "childrenOf",
] as const;

function prepareStatements(q: string): Omit<Statements, "orm"> {
  const statements = {} as Record<string, Statement>;
  for (const key of PREPARED) {
    const text = sql[key](q);
    // The text names the schema, so its hash keeps names unique per schema and per version of the SQL.
    statements[key] = { text, name: `hewn_${key}_${createHash("sha1").update(text).digest("hex").slice(0, 10)}` };
  }
  for (const key of UNPREPARED) statements[key] = { text: sql[key](q) };
  return statements as Omit<Statements, "orm">;
}

/** Driver errors become StoreError (cause kept); hewn's own errors pass through unchanged. */
function wrap(error: unknown, operation: string): HewnError {
  if (error instanceof HewnError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError(`PostgreSQL ${operation} failed: ${message}`, { cause: error });
}

/** An ORM path's input item of a job (see `sql.insertJobsJson`). */
function jsonInput({ name, data, delayMs, priority, label, group = null, traceContext = null }: NewJob) {
  return { name, data, delayMs, priority, label, group, traceContext };
}

/**
 * The client of the caller's open transaction. A pool, or a client outside a transaction, would store
 * the job on its own (autocommitted), so a rollback would not take it back: both are refused. pg's own
 * clients report their transaction status without a round trip; anything else that can run a query (an
 * ORM's transaction, say) is asked once.
 */
async function transactionClient(tx: unknown): Promise<Queryable> {
  const candidate = tx as Partial<Record<"query" | "connect" | "getTransactionStatus" | "totalCount", unknown>> | null;
  if (typeof candidate !== "object" || candidate === null || typeof candidate.query !== "function") {
    throw new ValidationError("options.tx", "must be the pg client your transaction runs on (the one that ran BEGIN)");
  }
  if (typeof candidate.totalCount === "number" && typeof candidate.connect === "function") {
    throw new ValidationError("options.tx", "is a pg.Pool, which runs each query on any connection, outside your transaction; "
      + "pass the client that ran BEGIN (const client = await pool.connect(); await client.query(\"BEGIN\"); …)");
  }
  const client = tx as Queryable;
  let status: unknown;
  if (typeof candidate.getTransactionStatus === "function") {
    status = (candidate.getTransactionStatus as () => unknown).call(tx);
  } else {
    const result = await client.query({ text: sql.transactionStatus }).catch((error: unknown) => {
      throw wrap(error, "checking options.tx");
    });
    status = (result.rows[0] as { in_transaction?: boolean } | undefined)?.in_transaction === true ? "T" : "I";
  }
  if (status === "E") throw new ValidationError("options.tx", FAILED_TRANSACTION_MESSAGE);
  if (status !== "T") throw new ValidationError("options.tx", NOT_IN_TRANSACTION_MESSAGE);
  return client;
}

/** SQLSTATE in_failed_sql_transaction: the transaction already failed and ignores commands until ROLLBACK. */
const FAILED_TRANSACTION = "25P02";
const FAILED_TRANSACTION_MESSAGE = "is inside a failed transaction: roll it back first";
const NOT_IN_TRANSACTION_MESSAGE = "is not inside a transaction (run BEGIN on it first); "
  + "outside one the job would be stored at once and a rollback could not take it back";

/** The SQLSTATE of a driver error (kept as the `cause` of our StoreError), if any. */
function pgCode(error: unknown): string | undefined {
  const cause = error instanceof StoreError ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** PostgreSQL text cannot hold NUL: it becomes U+FFFD in the text columns hewn writes (JSON escapes it instead). */
function toText(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text;
}

/** A value that can be a bigint id; anything else matches no job (rather than failing the cast in SQL). */
function isId(id: string): boolean {
  return typeof id === "string" && /^[0-9]{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}
