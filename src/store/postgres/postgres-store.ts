/**
 * The PostgreSQL store: one table per configurable schema, claims with FOR UPDATE SKIP LOCKED,
 * wake-ups with LISTEN/NOTIFY, and every timestamp from the database clock.
 * @module
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { HewnError, StoreError, ValidationError } from "../../errors.js";
import { JOB_STATUSES, type JobAttemptError, type JobStatus } from "../../job.js";
import type {
  AttemptRef,
  CancelItem,
  ClaimRequest,
  CompleteItem,
  ExtendItem,
  FailItem,
  ListQuery,
  NewJob,
  Store,
  StoreCapabilities,
  StoredJob,
  WakeListener,
} from "../store.js";
import { Listener } from "./listener.js";
import { applyMigrations } from "./migrations.js";
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

/** A jobs row as this store reads it (see TYPES: int8 and json arrive as raw text). */
interface JobRow {
  id: string;
  name: string;
  data: string;
  status: JobStatus;
  created_at: Date;
  available_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  crashes: number;
  result: string | null;
  reason: string | null;
  label: string | null;
  priority: number;
  progress: number | null;
  errors: string;
}

/**
 * Per-query type parsers, immune to a user's global `pg.types.setTypeParser`: ids stay exact decimal
 * strings (int8 → text), and json arrives as text so a payload that fails to parse becomes `dataError`
 * on that job instead of failing the whole query.
 */
const INT8_OID = 20;
const JSON_OID = 114;
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: string) =>
    oid === INT8_OID || oid === JSON_OID ? (value: string) => value : pg.types.getTypeParser(oid, format as "text"),
};

export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { crossProcessWakeups: true, defaultPollInterval: 1000, maxConcurrentRounds: 3 };

  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly schema: string;
  /** The quoted schema: the only text ever spliced into SQL. */
  private readonly q: string;
  private readonly channel: string;
  /** Every statement of this schema, built once. */
  private readonly statements: Statements;
  private readonly listeners = new Set<Listener>();
  private readonly onPoolError: (error: Error) => void;
  private closing: Promise<void> | null = null;

  constructor(options: PostgresStoreOptions) {
    if (typeof options.schema !== "string" || !SCHEMA_PATTERN.test(options.schema)) {
      throw new ValidationError("options.schema", `must match ${SCHEMA_PATTERN} (got ${JSON.stringify(options.schema)})`);
    }
    this.pool = options.pool;
    this.ownsPool = options.ownsPool;
    this.schema = options.schema;
    this.q = sql.quoteIdent(options.schema);
    this.channel = sql.channelName(options.schema);
    this.statements = prepareStatements(this.q);
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

  async insertJobs(jobs: NewJob[], tx?: unknown): Promise<StoredJob[]> {
    const client = tx == null ? undefined : asQueryable(tx);
    if (jobs.length === 0) return [];
    const [only] = jobs;
    if (jobs.length === 1 && only) {
      const values = [only.name, only.data, only.delayMs, only.priority, only.label, this.channel, only.claimLeaseMs];
      return (await this.rows<JobRow>("insertJobs", this.statements.insertJob, values, client)).map(toStoredJob);
    }
    const rows = await this.rows<JobRow>(
      "insertJobs",
      this.statements.insertJobs,
      [
        jobs.map((job) => job.name),
        jobs.map((job) => job.data),
        jobs.map((job) => job.delayMs),
        jobs.map((job) => job.priority),
        jobs.map((job) => job.label),
        this.channel,
        jobs.map((job) => job.claimLeaseMs),
      ],
      client,
    );
    return rows.map(toStoredJob);
  }

  async claimJobs(requests: ClaimRequest[]): Promise<StoredJob[]> {
    return (await this.completeAndClaim([], requests)).claimed;
  }

  async completeAndClaim(completions: CompleteItem[], requests: ClaimRequest[]): Promise<{ completed: Set<string>; claimed: StoredJob[] }> {
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
    const rows = await this.rows<JobRow & { completed_ids: string[] }>("completeAndClaim", this.statements.completeAndClaim, [
      merged.map((r) => r.name),
      merged.map((r) => r.limit),
      merged.map((r) => r.leaseMs),
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      valid.map((item) => item.result),
    ]);
    return {
      completed: new Set(rows[0]?.completed_ids ?? []),
      claimed: rows.filter((row) => row.id !== null).map(toStoredJob),
    };
  }

  async completeJobs(items: CompleteItem[]): Promise<Set<string>> {
    const valid = items.filter((item) => isId(item.id));
    if (valid.length === 0) return new Set();
    const rows = await this.rows<{ id: string }>("completeJobs", this.statements.completeJobs, [
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      valid.map((item) => item.result),
    ]);
    return new Set(rows.map((row) => row.id));
  }

  async failJob(item: FailItem): Promise<StoredJob | null> {
    if (!isId(item.id)) return null;
    const rows = await this.rows<JobRow>("failJob", this.statements.failJob, [
      item.id,
      item.attempt,
      item.reason,
      item.errors,
      item.delayMs,
    ]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async cancelJob(item: CancelItem): Promise<StoredJob | null> {
    if (!isId(item.id)) return null;
    const rows = await this.rows<JobRow>("cancelJob", this.statements.cancelJob, [
      item.id,
      item.attempt,
      item.reason,
      item.errors,
    ]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async extendLeases(items: ExtendItem[]): Promise<Set<string>> {
    const valid = items.filter((item) => isId(item.id));
    if (valid.length === 0) return new Set();
    const rows = await this.rows<{ id: string }>("extendLeases", this.statements.extendLeases, [
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      valid.map((item) => item.leaseMs),
    ]);
    return new Set(rows.map((row) => row.id));
  }

  async releaseJobs(items: AttemptRef[], reason: string, unstarted = false): Promise<Set<string>> {
    const valid = items.filter((item) => isId(item.id));
    if (valid.length === 0) return new Set();
    const rows = await this.rows<{ id: string }>("releaseJobs", this.statements.releaseJobs, [
      valid.map((item) => item.id),
      valid.map((item) => item.attempt),
      reason,
      this.channel,
      unstarted ? 1 : 0,
    ]);
    return new Set(rows.map((row) => row.id));
  }

  async setProgress(ref: AttemptRef, progress: number): Promise<boolean> {
    if (!isId(ref.id)) return false;
    const result = await this.query("setProgress", this.statements.setProgress, [ref.id, ref.attempt, progress]);
    return (result.rowCount ?? 0) > 0;
  }

  async getJob(id: string): Promise<StoredJob | null> {
    if (!isId(id)) return null;
    const rows = await this.rows<JobRow>("getJob", this.statements.getJob, [id]);
    return rows[0] ? toStoredJob(rows[0]) : null;
  }

  async listJobs(query: ListQuery): Promise<StoredJob[]> {
    if (query.afterId !== undefined && !isId(query.afterId)) {
      throw new ValidationError("afterId", `must be a job id (got ${JSON.stringify(query.afterId)})`);
    }
    const rows = await this.rows<JobRow>("listJobs", this.statements.listJobs, [
      query.name ?? null,
      query.status ?? null,
      query.afterId ?? null,
      query.limit,
    ]);
    return rows.map(toStoredJob);
  }

  async countJobs(name?: string): Promise<Record<JobStatus, number>> {
    const rows = await this.rows<{ status: JobStatus; n: string }>("countJobs", this.statements.countJobs, [name ?? null]);
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  async deleteFinished(olderThanMs: number, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    const result = await this.query("deleteFinished", this.statements.deleteFinished, [olderThanMs, limit]);
    return result.rowCount ?? 0;
  }

  async msUntilNextAvailable(names: string[]): Promise<number | null> {
    if (names.length === 0) return null;
    const rows = await this.rows<{ ms: number }>("msUntilNextAvailable", this.statements.msUntilNextAvailable, [names]);
    return rows[0]?.ms ?? null;
  }

  async listen(names: string[], onWake: WakeListener, onError: (error: Error) => void): Promise<() => Promise<void>> {
    this.assertOpen();
    const listener = new Listener({
      // pg-pool keeps `password` non-enumerable (to stay out of logs), so a spread alone would drop it.
      connection: { ...this.pool.options, password: this.pool.options.password },
      channel: this.channel,
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

type Statements = Record<(typeof PREPARED)[number] | (typeof UNPREPARED)[number], Statement>;

/**
 * Hot statements are prepared: parsed and planned once per connection instead of on every call.
 * Listings and counts are not, since their optional filters need a plan made for the actual values.
 */
const PREPARED = [
  "insertJob", "insertJobs", "completeAndClaim", "completeJobs", "failJob", "cancelJob", "extendLeases",
  "releaseJobs", "setProgress", "getJob", "deleteFinished", "msUntilNextAvailable",
] as const;
const UNPREPARED = ["listJobs", "countJobs"] as const;

function prepareStatements(q: string): Statements {
  const statements = {} as Record<string, Statement>;
  for (const key of PREPARED) {
    const text = sql[key](q);
    // The text names the schema, so its hash keeps names unique per schema and per version of the SQL.
    statements[key] = { text, name: `hewn_${key}_${createHash("sha1").update(text).digest("hex").slice(0, 10)}` };
  }
  for (const key of UNPREPARED) statements[key] = { text: sql[key](q) };
  return statements as Statements;
}

/** The one mapping from a row to a job. */
function toStoredJob(row: JobRow): StoredJob {
  const job: StoredJob = {
    id: row.id,
    name: row.name,
    data: null,
    status: row.status,
    createdAt: row.created_at,
    availableAt: row.available_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    finishedAt: row.finished_at,
    attempts: Number(row.attempts),
    crashes: Number(row.crashes),
    result: row.result === null ? null : JSON.parse(row.result),
    reason: row.reason,
    label: row.label,
    priority: Number(row.priority),
    progress: row.progress,
    errors: JSON.parse(row.errors) as JobAttemptError[],
  };
  try {
    job.data = JSON.parse(row.data);
  } catch (error) {
    job.dataError = `stored payload is not valid JSON: ${(error as Error).message}`;
  }
  return job;
}

/** Driver errors become StoreError (cause kept); hewn's own errors pass through unchanged. */
function wrap(error: unknown, operation: string): HewnError {
  if (error instanceof HewnError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError(`PostgreSQL ${operation} failed: ${message}`, { cause: error });
}

function asQueryable(tx: unknown): Queryable {
  if (typeof tx === "object" && tx !== null && typeof (tx as { query?: unknown }).query === "function") {
    return tx as Queryable;
  }
  throw new ValidationError("options.tx", "must be a pg client (an object with a query() method) inside BEGIN");
}

/** A value that can be a bigint id; anything else matches no job (rather than failing the cast in SQL). */
function isId(id: string): boolean {
  return typeof id === "string" && /^[0-9]{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}
