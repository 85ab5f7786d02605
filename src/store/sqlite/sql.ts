/**
 * Every SQL text of the SQLite store. Values are always bound parameters, never spliced in; the few
 * composed statements are built from the fixed fragments below only.
 * @module
 */

/**
 * Per-connection settings. WAL lets readers run beside the single writer of another process;
 * `synchronous = FULL` makes every commit durable across power loss, which users of a job queue assume.
 * (The busy timeout is set through the driver's `timeout` option, so it already applies to these.)
 */
export const WAL = "journal_mode = WAL";
export const PRAGMAS: readonly string[] = [WAL, "synchronous = FULL", "foreign_keys = ON"];

/**
 * The opt-in `durability: "fast"` mode: in WAL mode, NORMAL syncs at checkpoints instead of at every
 * commit. The file stays consistent whatever happens, and a crash of the process loses nothing, but a
 * power loss or OS crash may lose the last commits (jobs enqueued or completed just before it).
 */
export const FAST_SYNCHRONOUS = "synchronous = NORMAL";

/**
 * Claimable rows, spelled identically in queries and in the partial indexes' WHERE: SQLite only uses a
 * partial index when the query repeats its condition.
 */
const RUNNABLE = "status IN ('enqueued', 'failed', 'dequeued')";

// ---- Migrations ----------------------------------------------------------------------------------

export const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS hewn_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

export const MIGRATIONS_TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hewn_migrations'";

export const SELECT_MIGRATION_VERSIONS = "SELECT version FROM hewn_migrations ORDER BY version";

export const INSERT_MIGRATION = "INSERT INTO hewn_migrations (version, name, applied_at) VALUES (?, ?, ?)";

/**
 * Migration 1. Frozen once released: change the schema with a new migration, never by editing this.
 * AUTOINCREMENT so ids are never reused after retention deletes the newest rows (ids are cursors).
 */
export const MIGRATION_1_CREATE_JOBS = `
CREATE TABLE hewn_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('enqueued', 'dequeued', 'completed', 'failed', 'cancelled')),
  created_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  finished_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  reason TEXT,
  label TEXT,
  priority INTEGER NOT NULL DEFAULT 0,
  progress REAL,
  errors TEXT NOT NULL DEFAULT '[]'
);
-- The claim: equality on name, then rows already in claim order, so LIMIT stops early.
-- Finished rows are left out so the index stays as small as the backlog.
CREATE INDEX hewn_jobs_claim ON hewn_jobs (name, priority DESC, available_at, id) WHERE ${RUNNABLE};
-- msUntilNextAvailable: MIN(available_at) per name is a single seek here (priority would be in the way above).
CREATE INDEX hewn_jobs_next ON hewn_jobs (name, available_at) WHERE ${RUNNABLE};
-- Retention scans the oldest finished rows first; unfinished rows are not in it at all.
CREATE INDEX hewn_jobs_finished ON hewn_jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Counts and lists by status (and name).
CREATE INDEX hewn_jobs_status ON hewn_jobs (status, name);
`;

/**
 * Migration 2: `crashes`, the attempts whose lease expired with no outcome (the worker died or stalled),
 * counted apart from handler errors so a job that kills its worker can be quarantined.
 */
export const MIGRATION_2_ADD_CRASHES = "ALTER TABLE hewn_jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0";

/**
 * Migration 3: indexes for the hot path.
 * - Claims of the default priority 0 (nearly all jobs) read `hewn_jobs_runnable` as one range, oldest
 *   first, and stop at the first row not yet due, however many delayed jobs wait behind it. With
 *   priority as the second key (migration 1), a claim had to filter its way through every delayed job
 *   of the name whenever fewer jobs were due than it asked for. Other priorities get their own small index.
 * - The (status, name) index is dropped: every status change paid for it, and only counts and listings
 *   (not the hot path) read it.
 */
export const MIGRATION_3_HOT_PATH_INDEXES = `
DROP INDEX hewn_jobs_claim;
DROP INDEX hewn_jobs_next;
DROP INDEX hewn_jobs_status;
CREATE INDEX hewn_jobs_runnable ON hewn_jobs (name, available_at, id) WHERE ${RUNNABLE} AND priority = 0;
CREATE INDEX hewn_jobs_runnable_priority ON hewn_jobs (name, priority DESC, available_at, id) WHERE ${RUNNABLE} AND priority <> 0;
`;

/**
 * Migration 4: `available_before_claim`, where a job stood in line when it was last claimed (its
 * `available_at` just before the claim), so that handing it back (RELEASE_JOB) puts it back in its place
 * instead of behind every job that became due meanwhile.
 */
export const MIGRATION_4_ADD_AVAILABLE_BEFORE_CLAIM = "ALTER TABLE hewn_jobs ADD COLUMN available_before_claim INTEGER";

/**
 * Migration 5: unique jobs and schedules.
 * - `unique_key`: the label while the job holds it as a deduplication key. A label is a key from the
 *   insert on; a later insert of the same name and label frees it from a holder that no longer stands
 *   (cancelled, or completed before that call's isolation window). Kept apart from `label`, which stays
 *   as given for listings; rows from before this migration hold no key.
 * - `isolation_ms`: the window the job was stored with, which retention honours.
 * - The unique index is the one arbiter of "one standing job per (name, label)": inserts go through
 *   ON CONFLICT on it, never read first.
 * - `hewn_schedules`: periodic jobs. `last_slot` (epoch ms) is the latest slot handed out; claiming the next
 *   one moves it forward with a compare-and-set in the same transaction as the slot's job insert.
 */
export const MIGRATION_5_UNIQUE_AND_SCHEDULES = `
ALTER TABLE hewn_jobs ADD COLUMN unique_key TEXT;
ALTER TABLE hewn_jobs ADD COLUMN isolation_ms INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX hewn_jobs_unique_key ON hewn_jobs (name, unique_key) WHERE unique_key IS NOT NULL;
CREATE TABLE hewn_schedules (
  key TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  spec TEXT NOT NULL,
  data TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  catch_up TEXT NOT NULL,
  last_slot INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

/**
 * Migration 8: indexes for operators (listings, the dashboard), so a page of a filtered listing is one
 * index range, never a scan of a large table: (status, id) and (name, id) serve a filter and the id
 * order of keyset paging together; labels are looked up by value. Each costs the hot path one more index
 * entry per status change (status) or per insert (name, label), which the operator's view is worth.
 */
export const MIGRATION_8_ADMIN_INDEXES = `
CREATE INDEX hewn_jobs_status_id ON hewn_jobs (status, id);
CREATE INDEX hewn_jobs_name_id ON hewn_jobs (name, id);
CREATE INDEX hewn_jobs_label ON hewn_jobs (label) WHERE label IS NOT NULL;
`;

// ---- Jobs ----------------------------------------------------------------------------------------

export const INSERT_JOB = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label)
VALUES (@name, @data, 'enqueued', @now, @now + @delayMs, @priority, @label)
RETURNING *`;

/**
 * Unique jobs, one labelled item at a time inside the insert's transaction (which holds the write lock):
 * 1. FREE_UNIQUE_KEY: a holder of the key that no longer stands for this call gives it up.
 * 2. INSERT_UNIQUE_JOB: the insert; on conflict with a standing holder it stores nothing (no row back).
 * 3. Then REPLACE_STANDING (with onDuplicate "replace") or GET_STANDING returns the standing job.
 */
export const FREE_UNIQUE_KEY = `
UPDATE hewn_jobs SET unique_key = NULL
WHERE name = @name AND unique_key = @label
  AND (status = 'cancelled' OR (status = 'completed' AND finished_at <= @now - @isolationMs))`;

export const INSERT_UNIQUE_JOB = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label, unique_key, isolation_ms)
VALUES (@name, @data, 'enqueued', @now, @now + @delayMs, @priority, @label, @label, @isolationMs)
ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING *`;

/** The last call wins while the standing job waits and has never started; once it ran, nothing changes. */
export const REPLACE_STANDING = `
UPDATE hewn_jobs SET data = @data, available_at = @now + @delayMs, priority = @priority
WHERE name = @name AND unique_key = @label AND status = 'enqueued' AND attempts = 0
RETURNING *`;

export const GET_STANDING = "SELECT * FROM hewn_jobs WHERE name = @name AND unique_key = @label";


/**
 * The batch of INSERT_JOB for a transaction hewn reaches only through an ORM (`SqlTransaction`): one JSON
 * parameter in (`{ now, jobs: [{ name, data, delayMs, priority, label }] }`), each row out as one JSON
 * text column, so the rows read the same whatever the ORM does with integers or column names.
 * RETURNING order is unspecified in SQLite: the store sorts by id (AUTOINCREMENT follows insert order).
 */
export const INSERT_JOBS_JSON = `
WITH input AS (SELECT ? AS doc)
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label)
SELECT json_extract(j.value, '$.name'), json_extract(j.value, '$.data'), 'enqueued', json_extract(input.doc, '$.now'),
  json_extract(input.doc, '$.now') + json_extract(j.value, '$.delayMs'), json_extract(j.value, '$.priority'),
  json_extract(j.value, '$.label')
FROM input, json_each(input.doc, '$.jobs') AS j
ORDER BY j.key
RETURNING json_object('id', id, 'name', name, 'data', data, 'status', status, 'created_at', created_at,
  'available_at', available_at, 'started_at', started_at, 'ended_at', ended_at, 'finished_at', finished_at,
  'attempts', attempts, 'crashes', crashes, 'result', result, 'reason', reason, 'label', label,
  'priority', priority, 'progress', progress, 'errors', errors) AS job`;

/** The file of the database a connection is on: for the same-file check of an ORM's transaction. */
export const DATABASE_FILE = "SELECT file FROM pragma_database_list WHERE name = 'main'";

/** Whether a job is visible (committed) to this connection: the wake-up after an ORM's transaction. */
export const JOB_EXISTS = "SELECT 1 FROM hewn_jobs WHERE id = ?";

/** A job stored already claimed by the process that enqueues it (Store.jobInsertClaimed): attempt 1, leased. */
export const INSERT_CLAIMED_JOB = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, available_before_claim, started_at, attempts, priority, label)
VALUES (@name, @data, 'dequeued', @now, @now + @leaseMs, @now, @now, 1, @priority, @label)
RETURNING *`;

/**
 * Candidates of one claim request, in claim order. Runs inside BEGIN IMMEDIATE, so no other connection
 * can claim the same rows between this and CLAIM_JOB. Two index ranges, priority 0 and the rest (see
 * migration 3); each branch yields its own first @limit, so the merged first @limit is exact.
 */
export const SELECT_CLAIMABLE = `
SELECT id FROM (
  SELECT * FROM (
    SELECT id, priority, available_at FROM hewn_jobs
    WHERE name = @name AND ${RUNNABLE} AND priority = 0 AND available_at <= @now
    ORDER BY available_at, id LIMIT @limit)
  UNION ALL
  SELECT * FROM (
    SELECT id, priority, available_at FROM hewn_jobs
    WHERE name = @name AND ${RUNNABLE} AND priority <> 0 AND available_at <= @now
    ORDER BY priority DESC, available_at, id LIMIT @limit))
ORDER BY priority DESC, available_at, id
LIMIT @limit`;

/**
 * `errors` with an entry for the crashed attempt appended (@crashMessage, dated now), the oldest entry
 * dropped beyond @maxErrors. Every value the SET reads is the row's value before the UPDATE.
 */
const ERRORS_WITH_CRASH = `(
  SELECT CASE WHEN json_array_length(appended) > @maxErrors THEN json_remove(appended, '$[0]') ELSE appended END
  FROM (SELECT json_insert(
    CASE WHEN json_valid(hewn_jobs.errors) AND json_type(hewn_jobs.errors) = 'array' THEN hewn_jobs.errors ELSE '[]' END,
    '$[#]',
    json_object('attempt', hewn_jobs.attempts, 'at', strftime('%Y-%m-%dT%H:%M:%fZ', @now / 1000.0, 'unixepoch'),
      'message', @crashMessage)) AS appended))`;

/**
 * One row at a time, so the claimed rows come back in the order SELECT_CLAIMABLE chose. A job still
 * `dequeued` here had its lease expire with no outcome written: that previous attempt crashed, which is
 * counted and recorded in `errors`. Where the job stood in line is kept for a release.
 */
export const CLAIM_JOB = `
UPDATE hewn_jobs
SET status = 'dequeued', attempts = attempts + 1, crashes = crashes + (status = 'dequeued'),
    errors = CASE WHEN status = 'dequeued' THEN ${ERRORS_WITH_CRASH} ELSE errors END,
    available_before_claim = available_at,
    started_at = @now, available_at = @now + @leaseMs, ended_at = NULL
WHERE id = @id
RETURNING *`;

/** The fence of every outcome write: still leased by the attempt that claimed it. */
const FENCE = "id = @id AND status = 'dequeued' AND attempts = @attempt";

export const COMPLETE_JOB = `
UPDATE hewn_jobs
SET status = 'completed', result = @result, reason = NULL, ended_at = @now, finished_at = @now
WHERE ${FENCE}`;

export const FAIL_JOB = `
UPDATE hewn_jobs
SET status = 'failed', reason = @reason, errors = @errors, ended_at = @now, available_at = @now + @delayMs
WHERE ${FENCE}
RETURNING *`;

/** COALESCE: a null `errors` parameter keeps the stored history. */
const CANCEL_SET = `
UPDATE hewn_jobs
SET status = 'cancelled', reason = @reason, ended_at = @now, finished_at = @now, errors = COALESCE(@errors, errors)`;

export const CANCEL_JOB_FENCED = `${CANCEL_SET} WHERE ${FENCE} RETURNING *`;

/** An operator's cancel: anything not finished yet, whoever holds it. */
export const CANCEL_JOB_ANY = `${CANCEL_SET} WHERE id = @id AND status NOT IN ('completed', 'cancelled') RETURNING *`;

export const EXTEND_LEASE = `UPDATE hewn_jobs SET available_at = @now + @leaseMs WHERE ${FENCE}`;

/**
 * Back in line where it stood when claimed (never later than now); @undo 1 undoes the claim of a job
 * that never started (its attempt is not counted).
 */
export const RELEASE_JOB = `
UPDATE hewn_jobs
SET status = 'enqueued', available_at = MIN(@now, COALESCE(available_before_claim, @now)), ended_at = @now,
    reason = @reason, attempts = attempts - @undo
WHERE ${FENCE}`;

export const SET_PROGRESS = `UPDATE hewn_jobs SET progress = @progress WHERE ${FENCE}`;

export const GET_JOB = "SELECT * FROM hewn_jobs WHERE id = ?";

/** Which filters a listing uses (see {@link listJobsSql}). */
export interface ListFilterShape {
  name: boolean;
  status: boolean;
  /** How many statuses the `status IN (…)` filter lists (@s0, @s1, …); null for none. */
  statuses: number | null;
  label: boolean;
  createdFrom: boolean;
  createdBefore: boolean;
  afterId: boolean;
  beforeId: boolean;
  descending: boolean;
}

/**
 * A listing with only the filters in use, so each variant can use an index (an `@x IS NULL OR …`
 * catch-all could not): (status, id) or (name, id) from migration 8 serve a filter and the id order
 * together, so a page is an index range however large the table. Ids are bound as given: the INTEGER
 * affinity of `id` makes SQLite compare a decimal string numerically ('10' > '9').
 */
export function listJobsSql(filter: ListFilterShape): string {
  const where: string[] = [];
  if (filter.name) where.push("name = @name");
  if (filter.status) where.push("status = @status");
  if (filter.statuses !== null) {
    where.push(filter.statuses === 0 ? "0" : `status IN (${Array.from({ length: filter.statuses }, (_, i) => `@s${i}`).join(", ")})`);
  }
  if (filter.label) where.push("label = @label");
  if (filter.createdFrom) where.push("created_at >= @createdFrom");
  if (filter.createdBefore) where.push("created_at < @createdBefore");
  if (filter.afterId) where.push("id > @afterId");
  if (filter.beforeId) where.push("id < @beforeId");
  return `SELECT * FROM hewn_jobs${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY id${filter.descending ? " DESC" : ""} LIMIT @limit`;
}

export const COUNT_JOBS = "SELECT status, COUNT(*) AS n FROM hewn_jobs GROUP BY status";

/** A full scan on purpose: no index serves it (see migration 3); counts are for people, not the hot path. */
export const COUNT_JOBS_NAMED = "SELECT status, COUNT(*) AS n FROM hewn_jobs WHERE name = @name GROUP BY status";

/**
 * Retention, oldest first through the finished_at index (`finished_at < x` implies its IS NOT NULL).
 * The status test only guards against a row that was somehow given a finished_at while still live.
 */
export const DELETE_FINISHED = `
DELETE FROM hewn_jobs WHERE id IN (
  SELECT id FROM hewn_jobs
  WHERE finished_at < @cutoff AND status IN ('completed', 'cancelled')
    AND NOT (status = 'completed' AND finished_at + isolation_ms > @now) -- an open isolation window
  ORDER BY finished_at
  LIMIT @limit
)`;

/** One name at a time: a single seek in each of the two runnable indexes. */
export const NEXT_AVAILABLE_AT = `
SELECT MIN(at) FROM (
  SELECT MIN(available_at) AS at FROM hewn_jobs WHERE name = @name AND ${RUNNABLE} AND priority = 0
  UNION ALL
  SELECT MIN(available_at) FROM hewn_jobs WHERE name = @name AND ${RUNNABLE} AND priority <> 0)`;

/** Counts for the overview: every row is read (the table has no count to look up), so callers cache it. */
export const COUNT_JOBS_BY_NAME = "SELECT name, status, COUNT(*) AS n FROM hewn_jobs GROUP BY name, status";

/** An operator's reschedule: only a job that waits (enqueued, or failed awaiting its retry) moves. */
export const RESCHEDULE_JOB = `
UPDATE hewn_jobs SET available_at = @at
WHERE id = @id AND status IN ('enqueued', 'failed')
RETURNING *`;

// ---- Schedules (periodic jobs) -------------------------------------------------------------------

/** A new schedule starts now; a changed `when` (spec) starts over from now; otherwise its slots go on. */
export const UPSERT_SCHEDULE = `
INSERT INTO hewn_schedules (key, name, spec, data, priority, catch_up, last_slot, created_at, updated_at)
VALUES (@key, @name, @spec, @data, @priority, @catchUp, @now, @now, @now)
ON CONFLICT (key) DO UPDATE SET
  name = excluded.name, data = excluded.data, priority = excluded.priority, catch_up = excluded.catch_up,
  last_slot = CASE WHEN hewn_schedules.spec = excluded.spec THEN hewn_schedules.last_slot ELSE excluded.last_slot END,
  spec = excluded.spec, updated_at = excluded.updated_at`;

export const DELETE_SCHEDULE = "DELETE FROM hewn_schedules WHERE key = ?";

export const LIST_SCHEDULES = "SELECT * FROM hewn_schedules ORDER BY key";

export const GET_SCHEDULE = "SELECT * FROM hewn_schedules WHERE key = ?";

/**
 * The compare-and-set of a slot (Store.scheduleClaimSlot): only one claimer of a slot moves `last_slot`
 * past it; the others match no row. Runs in the same BEGIN IMMEDIATE transaction as INSERT_SLOT_JOB.
 */
export const ADVANCE_SCHEDULE = `
UPDATE hewn_schedules SET last_slot = @slot
WHERE key = @key AND spec = @spec AND last_slot < @slot
RETURNING name, data, priority`;

/** The slot's job: available at the slot, labelled (schedule, slot); a second guard through the unique index. */
export const INSERT_SLOT_JOB = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label, unique_key)
VALUES (@name, @data, 'enqueued', @now, @slot, @priority, @label, @label)
ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING *`;
