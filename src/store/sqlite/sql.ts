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
 * Migration 7: flow control (docs/flow-control.md).
 * - `group_key`, the `group` enqueue option. Its index holds only grouped runnable jobs (partial), so
 *   ungrouped jobs and unlimited tasks never pay for it; it lists a task's groups (one seek per group)
 *   and each group's due jobs in claim order.
 * - `hewn_paused`: one row per paused task name, read by every claim.
 * - `hewn_starts`: when each job of a rate-limited task was claimed, kept for its window, so the window
 *   slides over real starts.
 * - `hewn_turns`: when each group of a limited task ('' for no group) last had a job claimed (a number
 *   increasing per task): the memory of the round-robin. One small row per group.
 */
export const MIGRATION_7_FLOW_CONTROL = `
ALTER TABLE hewn_jobs ADD COLUMN group_key TEXT;
CREATE INDEX hewn_jobs_group ON hewn_jobs (name, group_key, priority DESC, available_at, id) WHERE ${RUNNABLE} AND group_key IS NOT NULL;
CREATE TABLE hewn_paused (
  name TEXT PRIMARY KEY,
  paused_at INTEGER NOT NULL
);
CREATE TABLE hewn_starts (
  name TEXT NOT NULL,
  group_key TEXT,
  started_at INTEGER NOT NULL
);
CREATE INDEX hewn_starts_window ON hewn_starts (name, started_at);
CREATE TABLE hewn_turns (
  name TEXT NOT NULL,
  group_key TEXT NOT NULL,
  turn_at INTEGER NOT NULL,
  PRIMARY KEY (name, group_key)
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

/** The enqueuing span's W3C trace context, JSON text; NULL for untraced jobs (see docs/operations.md). */
export const MIGRATION_10_TRACE_CONTEXT = "ALTER TABLE hewn_jobs ADD COLUMN trace_context TEXT";

// ---- Jobs ----------------------------------------------------------------------------------------

export const INSERT_JOB = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label, group_key, trace_context)
VALUES (@name, @data, 'enqueued', @now, @now + @delayMs, @priority, @label, @group, @traceContext)
RETURNING *`;

/**
 * A batch of unlabelled jobs in one statement (a statement per job cost twice as much): @jobs is a JSON
 * array of [name, data text, delayMs, priority, group, traceContext]. Only the ids come back, and in no
 * given order: AUTOINCREMENT hands them out in insert order, so the store pairs the sorted ids with the
 * batch, and builds each row from what it inserted (reading every column back cost as much again).
 * json_extract rather than `->>`: this also runs on a user's handle, whose SQLite may predate `->>`.
 */
export const INSERT_JOBS = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, group_key, trace_context)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'enqueued', @now, @now + json_extract(value, '$[2]'),
  json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]')
FROM json_each(@jobs) ORDER BY key
RETURNING id`;

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
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label, unique_key, isolation_ms, group_key, trace_context)
VALUES (@name, @data, 'enqueued', @now, @now + @delayMs, @priority, @label, @label, @isolationMs, @group, @traceContext)
ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING *`;

/** The last call wins while the standing job waits and has never started; once it ran, nothing changes. */
export const REPLACE_STANDING = `
UPDATE hewn_jobs SET data = @data, available_at = @now + @delayMs, priority = @priority
WHERE name = @name AND unique_key = @label AND status = 'enqueued' AND attempts = 0
RETURNING *`;

export const GET_STANDING = "SELECT * FROM hewn_jobs WHERE name = @name AND unique_key = @label";


/**
 * A job row as one JSON object (the output of every statement sent through an ORM's transaction), its
 * columns qualified by `table` when given.
 */
function jobJson(table = ""): string {
  const c = (column: string) => (table === "" ? column : `${table}.${column}`);
  const columns = ["id", "name", "data", "status", "created_at", "available_at", "started_at", "ended_at", "finished_at", "attempts",
    "crashes", "result", "reason", "label", "group_key", "priority", "progress", "errors", "trace_context"];
  return `json_object(${columns.map((column) => `'${column}', ${c(column)}`).join(", ")})`;
}

/**
 * The batch of INSERT_JOB for a transaction hewn reaches only through an ORM (`SqlTransaction`): one JSON
 * parameter in (`{ now, jobs: [{ name, data, delayMs, priority, label, group, traceContext }] }`), each row out as one JSON
 * text column, so the rows read the same whatever the ORM does with integers or column names.
 * RETURNING order is unspecified in SQLite: the store sorts by id (AUTOINCREMENT follows insert order).
 */
export const INSERT_JOBS_JSON = `
WITH input AS (SELECT ? AS doc)
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label, group_key, trace_context)
SELECT json_extract(j.value, '$.name'), json_extract(j.value, '$.data'), 'enqueued', json_extract(input.doc, '$.now'),
  json_extract(input.doc, '$.now') + json_extract(j.value, '$.delayMs'), json_extract(j.value, '$.priority'),
  json_extract(j.value, '$.label'), json_extract(j.value, '$.group'), json_extract(j.value, '$.traceContext')
FROM input, json_each(input.doc, '$.jobs') AS j
ORDER BY j.key
RETURNING ${jobJson()} AS job`;

/**
 * Unique jobs through an ORM's transaction, a folded batch at a time (the statements above, over one JSON
 * parameter `{ now, jobs: [{ name, label, isolationMs, … }] }` each): FREE_UNIQUE_KEYS_JSON, then
 * INSERT_UNIQUE_JOBS_JSON (unlabelled items too; a standing holder's items store nothing), then for those
 * REPLACE_STANDING_JSON (the items with onDuplicate "replace") and GET_STANDING_JSON. Each returns rows
 * (some libraries run only statements that do), each row one JSON text.
 */
export const FREE_UNIQUE_KEYS_JSON = `
WITH input AS (SELECT ? AS doc)
UPDATE hewn_jobs SET unique_key = NULL
WHERE id IN (
  SELECT h.id FROM input, json_each(input.doc, '$.jobs') AS j
  JOIN hewn_jobs AS h ON h.name = json_extract(j.value, '$.name') AND h.unique_key = json_extract(j.value, '$.label')
  -- Unary + keeps the status index out: each item is one lookup of its key, never a scan of a status.
  WHERE +h.status = 'cancelled'
    OR (+h.status = 'completed' AND h.finished_at <= json_extract(input.doc, '$.now') - json_extract(j.value, '$.isolationMs')))
RETURNING id`;

export const INSERT_UNIQUE_JOBS_JSON = `
WITH input AS (SELECT ? AS doc)
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, priority, label, unique_key, isolation_ms, group_key, trace_context)
SELECT json_extract(j.value, '$.name'), json_extract(j.value, '$.data'), 'enqueued', json_extract(input.doc, '$.now'),
  json_extract(input.doc, '$.now') + json_extract(j.value, '$.delayMs'), json_extract(j.value, '$.priority'),
  json_extract(j.value, '$.label'), json_extract(j.value, '$.label'), json_extract(j.value, '$.isolationMs'),
  json_extract(j.value, '$.group'), json_extract(j.value, '$.traceContext')
FROM input, json_each(input.doc, '$.jobs') AS j
WHERE true
ORDER BY j.key
ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING ${jobJson()} AS job`;

export const REPLACE_STANDING_JSON = `
WITH input AS (SELECT ? AS doc), r AS (
  SELECT json_extract(j.value, '$.name') AS name, json_extract(j.value, '$.label') AS label, json_extract(j.value, '$.data') AS data,
    json_extract(input.doc, '$.now') + json_extract(j.value, '$.delayMs') AS available_at, json_extract(j.value, '$.priority') AS priority
  FROM input, json_each(input.doc, '$.jobs') AS j
)
UPDATE hewn_jobs SET (data, available_at, priority) =
  (SELECT r.data, r.available_at, r.priority FROM r WHERE r.name = hewn_jobs.name AND r.label = hewn_jobs.unique_key)
WHERE +status = 'enqueued' AND attempts = 0
  AND id IN (SELECT h.id FROM r JOIN hewn_jobs AS h ON h.name = r.name AND h.unique_key = r.label)
RETURNING ${jobJson("hewn_jobs")} AS job`;

export const GET_STANDING_JSON = `
WITH input AS (SELECT ? AS doc)
SELECT ${jobJson("h")} AS job
FROM input, json_each(input.doc, '$.jobs') AS j
JOIN hewn_jobs AS h ON h.name = json_extract(j.value, '$.name') AND h.unique_key = json_extract(j.value, '$.label')`;

/** The file of the database a connection is on: for the same-file check of an ORM's transaction. */
export const DATABASE_FILE = "SELECT file FROM pragma_database_list WHERE name = 'main'";

/** Whether a job is visible (committed) to this connection: the wake-up after an ORM's transaction. */
export const JOB_EXISTS = "SELECT 1 FROM hewn_jobs WHERE id = ?";

/** A job stored already claimed by the process that enqueues it (Store.jobInsertClaimed): attempt 1, leased. */
export const INSERT_CLAIMED_JOB = `
INSERT INTO hewn_jobs (name, data, status, created_at, available_at, available_before_claim, started_at, attempts, priority, label, group_key, trace_context)
VALUES (@name, @data, 'dequeued', @now, @now + @leaseMs, @now, @now, 1, @priority, @label, @group, @traceContext)
RETURNING *`;

/**
 * Candidates of one claim request, in claim order. Runs inside BEGIN IMMEDIATE, so no other connection
 * can claim the same rows between this and CLAIM_JOB. Two index ranges, priority 0 and the rest (see
 * migration 3); each branch yields its own first @limit, so the merged first @limit is exact.
 */
const SELECT_CLAIMABLE = `
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
 * One job, by id (the claims of tasks with flow limits, whose plan picks the ids). A job still
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

/**
 * The claim of a task without flow limits: CLAIM_JOB's SET on SELECT_CLAIMABLE's rows, in one statement
 * (a statement per row cost twice as much). RETURNING gives no order, so the caller sorts the rows back
 * into claim order: priority, then `available_before_claim` (where each stood in line), then id.
 */
export const CLAIM_JOBS = CLAIM_JOB.replace("WHERE id = @id", `WHERE id IN (${SELECT_CLAIMABLE})`);

/** The fence of every outcome write: still leased by the attempt that claimed it. */
const FENCE = "id = @id AND status = 'dequeued' AND attempts = @attempt";

const COMPLETED_SET = "status = 'completed', reason = NULL, ended_at = @now, finished_at = @now, checkpoint = NULL";

export const COMPLETE_JOB = `UPDATE hewn_jobs SET ${COMPLETED_SET}, result = @result WHERE ${FENCE}`;

/**
 * A batch of completions in one statement (a statement per job cost as much as the whole claim):
 * @items is a JSON array of [id, attempt, result text]. The batch must be the outer loop and each job a
 * primary-key lookup: MATERIALIZED and the unary `+` (which keeps the status index out of the plan) see
 * to it, since left to itself the planner may walk the status index once per item, which is quadratic
 * (test/store/sqlite-store.test.ts checks the plan). Returns the ids written (the others were fenced out).
 */
export const COMPLETE_JOBS = `
WITH done AS MATERIALIZED (SELECT value ->> 0 AS id, value ->> 1 AS attempt, value ->> 2 AS result FROM json_each(@items))
UPDATE hewn_jobs SET ${COMPLETED_SET}, result = done.result
FROM done
WHERE hewn_jobs.id = done.id AND +hewn_jobs.status = 'dequeued' AND hewn_jobs.attempts = done.attempt
RETURNING hewn_jobs.id`;

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
  group: boolean;
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
  if (filter.group) where.push("group_key = @group");
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

// ---- Composition (migration 6): dependencies, dead letters, checkpoints -----------------------------

/**
 * Migration 6.
 * - `checkpoint`: the state a handler saved with `ctx.checkpoint`, for the next attempt.
 * - `waiting_parents`: how many of the job's parents have not completed yet (0 for most jobs).
 * - `hewn_job_parents`: one row per dependency edge. Keyed by child (a child's parents, `ctx.parents()`),
 *   indexed by parent: completing or cancelling a parent finds its children with one seek, and a job
 *   with no children costs one empty seek. Edges go with either job when it is deleted (retention).
 */
export const MIGRATION_6_COMPOSITION = `
ALTER TABLE hewn_jobs ADD COLUMN checkpoint TEXT;
ALTER TABLE hewn_jobs ADD COLUMN waiting_parents INTEGER NOT NULL DEFAULT 0;
CREATE TABLE hewn_job_parents (
  child_id INTEGER NOT NULL REFERENCES hewn_jobs (id) ON DELETE CASCADE,
  parent_id INTEGER NOT NULL REFERENCES hewn_jobs (id) ON DELETE CASCADE,
  PRIMARY KEY (child_id, parent_id)
) WITHOUT ROWID;
CREATE INDEX hewn_job_parents_parent ON hewn_job_parents (parent_id, child_id);
`;

/** Ids as a JSON array bound as one parameter: any number of them, one statement. */
export const GET_JOBS = "SELECT * FROM hewn_jobs WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(@ids))";

/**
 * Run right after a parent completed, in the same transaction: its waiting children count down, and one
 * whose last parent this was takes its place in line (enqueue time + delay, kept in available_before_claim).
 */
export const RELEASE_CHILDREN = `
UPDATE hewn_jobs
SET waiting_parents = waiting_parents - 1,
    available_at = CASE WHEN waiting_parents = 1 THEN COALESCE(available_before_claim, @now) ELSE available_at END
WHERE id IN (SELECT child_id FROM hewn_job_parents WHERE parent_id = @id) AND status = 'enqueued' AND waiting_parents > 0`;

/**
 * Run right after a job was cancelled, in the same transaction: every descendant still waiting is
 * cancelled, its reason naming the parent through which the cancel reached it.
 */
export const CANCEL_DESCENDANTS = `
WITH RECURSIVE descendant(id, via) AS (
  SELECT child_id, parent_id FROM hewn_job_parents WHERE parent_id = @id
  UNION
  SELECT p.child_id, p.parent_id FROM hewn_job_parents AS p JOIN descendant AS d ON p.parent_id = d.id
)
UPDATE hewn_jobs
SET status = 'cancelled', ended_at = @now, finished_at = @now,
    reason = 'parent job ' || (SELECT MIN(via) FROM descendant WHERE descendant.id = hewn_jobs.id) || ' was cancelled'
WHERE id IN (SELECT id FROM descendant) AND status = 'enqueued' AND waiting_parents > 0`;

/** A parent named by `after`, as a new child sees it (inside the insert's transaction). */
export const PARENT_STATUS = "SELECT status FROM hewn_jobs WHERE id = ?";

/** Whether any job has parents (a row, or none): when none has, no completion can release a child. */
export const ANY_PARENT_LINK = "SELECT 1 FROM hewn_job_parents LIMIT 1";

export const INSERT_PARENT_LINK = "INSERT OR IGNORE INTO hewn_job_parents (child_id, parent_id) VALUES (?, ?)";

/** A new child with parents still to complete: it waits, keeping where it would stand in line. */
export const MAKE_WAITING = `
UPDATE hewn_jobs SET waiting_parents = @waiting, available_before_claim = available_at, available_at = @waitingAt
WHERE id = @id RETURNING *`;

/**
 * The parents named by `after`, through an ORM's transaction (? is a JSON array of ids): their status,
 * read by a write that changes nothing, so the transaction holds the write lock from here on (as the
 * store's own insert does) and the statuses hold until it ends.
 */
export const LOCK_PARENTS_JSON = `
UPDATE hewn_jobs SET status = status WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?))
RETURNING json_object('id', id, 'status', status) AS parent`;

/** INSERT_PARENT_LINK through an ORM's transaction: ? is a JSON array of [child, parent] pairs. */
export const INSERT_PARENT_LINKS_JSON = `
INSERT OR IGNORE INTO hewn_job_parents (child_id, parent_id)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
RETURNING child_id`;

/** MAKE_WAITING through an ORM's transaction: ? is `{ waitingAt, jobs: [[id, parents to wait for]] }`. */
export const MAKE_WAITING_JSON = `
WITH input AS (SELECT ? AS doc), w AS (
  SELECT json_extract(j.value, '$[0]') AS child, json_extract(j.value, '$[1]') AS n FROM input, json_each(input.doc, '$.jobs') AS j
)
UPDATE hewn_jobs SET waiting_parents = (SELECT n FROM w WHERE w.child = hewn_jobs.id), available_before_claim = available_at,
  available_at = (SELECT json_extract(doc, '$.waitingAt') FROM input)
WHERE id IN (SELECT child FROM w)
RETURNING ${jobJson("hewn_jobs")} AS job`;

/** Parents not completed yet, of the job being retried (UNFINISHED_PARENTS is used twice below). */
const UNFINISHED_PARENTS = `(SELECT COUNT(*) FROM hewn_job_parents AS p JOIN hewn_jobs AS j ON j.id = p.parent_id
  WHERE p.child_id = hewn_jobs.id AND j.status <> 'completed')`;

/**
 * A dead letter back in line: only while `cancelled` (so no worker can hold it: the fence of every
 * outcome write wants `dequeued`). finished_at is cleared so retention leaves it alone.
 */
export const RETRY_JOB = `
UPDATE hewn_jobs
SET status = 'enqueued', crashes = 0, finished_at = NULL, available_before_claim = @now,
    waiting_parents = ${UNFINISHED_PARENTS},
    available_at = CASE WHEN ${UNFINISHED_PARENTS} > 0 THEN @waitingAt ELSE @now END,
    unique_key = label
WHERE id = @id AND status = 'cancelled'
  AND (label IS NULL OR NOT EXISTS (
    SELECT 1 FROM hewn_jobs AS other WHERE other.name = hewn_jobs.name AND other.unique_key = hewn_jobs.label AND other.id <> hewn_jobs.id))
RETURNING *`;

/**
 * Before RETRY_JOB: a labelled dead letter goes back in line holding its label again, so the holder of
 * that key gives it up if it no longer stands (cancelled, or completed before its own isolation window
 * ended). A holder that stands keeps it, and RETRY_JOB then leaves the dead letter alone: retrying never
 * makes two live jobs of one name and label.
 */
export const FREE_UNIQUE_KEY_FOR_RETRY = `
UPDATE hewn_jobs SET unique_key = NULL
WHERE unique_key IS NOT NULL AND id <> @id
  AND (name, unique_key) = (SELECT name, label FROM hewn_jobs WHERE id = @id AND status = 'cancelled')
  AND (status = 'cancelled' OR (status = 'completed' AND finished_at <= @now - isolation_ms))`;

export const DELETE_FINISHED_JOB = "DELETE FROM hewn_jobs WHERE id = @id AND status IN ('completed', 'cancelled')";

export const GET_PARENTS = `
SELECT j.* FROM hewn_job_parents AS p JOIN hewn_jobs AS j ON j.id = p.parent_id
WHERE p.child_id = ? ORDER BY j.id`;

// A job's children (the dependency graph on the dashboard): the parent index (parent_id, child_id) covers it.
export const GET_CHILDREN = `
SELECT j.* FROM hewn_job_parents AS p JOIN hewn_jobs AS j ON j.id = p.child_id
WHERE p.parent_id = ? ORDER BY j.id`;

export const SET_CHECKPOINT = `UPDATE hewn_jobs SET checkpoint = @checkpoint WHERE ${FENCE}`;

// ---- Flow control (docs/flow-control.md) -----------------------------------------------------------
// Every claim runs inside BEGIN IMMEDIATE: the file's single writer lock already serialises claims across
// processes, so what a limited claim counts cannot change before it commits. No lock of our own.

export const IS_PAUSED = "SELECT 1 FROM hewn_paused WHERE name = ?";

export const PAUSE_TASK = "INSERT INTO hewn_paused (name, paused_at) VALUES (@name, @now) ON CONFLICT (name) DO NOTHING";

export const RESUME_TASK = "DELETE FROM hewn_paused WHERE name = @name";

export const LIST_PAUSED = "SELECT name FROM hewn_paused ORDER BY name";

/**
 * Jobs of task @name holding a live lease (dequeued, lease not expired), per group: running counts come
 * from the leases, so a crashed process's jobs stop counting when their leases expire. Read through the
 * two runnable indexes, scanning only leases and delayed jobs. INDEXED BY: without statistics SQLite
 * would read the priority branch through hewn_jobs_name_id, every job of the task (measured: 39 ms at
 * 100,000 jobs instead of microseconds).
 */
export const FLOW_RUNNING = `
SELECT group_key, COUNT(*) AS n FROM (
  SELECT group_key FROM hewn_jobs INDEXED BY hewn_jobs_runnable
  WHERE name = @name AND ${RUNNABLE} AND priority = 0 AND available_at > @now AND status = 'dequeued'
  UNION ALL
  SELECT group_key FROM hewn_jobs INDEXED BY hewn_jobs_runnable_priority
  WHERE name = @name AND ${RUNNABLE} AND priority <> 0 AND available_at > @now AND status = 'dequeued')
GROUP BY group_key`;

/** Starts that left the window of @per ms. */
export const FLOW_PRUNE_STARTS = "DELETE FROM hewn_starts WHERE name = @name AND started_at <= @now - @per";

/** Starts within the window, per group, and when the oldest leaves it (ms from now). */
export const FLOW_STARTS = `
SELECT group_key, COUNT(*) AS n, MIN(started_at) + @per - @now AS frees_in_ms
FROM hewn_starts WHERE name = @name AND started_at > @now - @per
GROUP BY group_key`;

export const FLOW_LOG_START = "INSERT INTO hewn_starts (name, group_key, started_at) VALUES (@name, @group, @now)";

/** The next group of task @name after @after (in key order) with runnable jobs: one seek in hewn_jobs_group. */
export const FLOW_NEXT_GROUP = `
SELECT MIN(group_key) FROM hewn_jobs WHERE name = @name AND ${RUNNABLE} AND group_key IS NOT NULL AND group_key > @after`;

/** A group's first @limit due jobs in claim order: one range of hewn_jobs_group. */
export const FLOW_GROUP_CANDIDATES = `
SELECT id, group_key, priority, available_at FROM hewn_jobs
WHERE name = @name AND group_key = @group AND ${RUNNABLE} AND group_key IS NOT NULL AND available_at <= @now
ORDER BY priority DESC, available_at, id
LIMIT @limit`;

/** The first @limit due jobs without a group and of non-zero priority, in claim order (their index is small). */
export const FLOW_UNGROUPED_PRIORITISED = `
SELECT id, group_key, priority, available_at FROM hewn_jobs
WHERE name = @name AND ${RUNNABLE} AND priority <> 0 AND available_at <= @now AND group_key IS NULL
ORDER BY priority DESC, available_at, id LIMIT @limit`;

/**
 * The first @limit due jobs without a group, of priority 0, in claim order. hewn_jobs_runnable holds
 * every task's jobs, grouped or not, so this reads past the task's grouped due jobs older than them:
 * hence only when they could be picked (flow/plan.ts, needsUngrouped).
 */
export const FLOW_UNGROUPED = `
SELECT id, group_key, priority, available_at FROM hewn_jobs
WHERE name = @name AND ${RUNNABLE} AND priority = 0 AND available_at <= @now AND group_key IS NULL
ORDER BY available_at, id LIMIT @limit`;

/** The last turn of each group of task @name ('' for no group). */
export const FLOW_TURNS = "SELECT group_key, turn_at FROM hewn_turns WHERE name = @name";

/**
 * A group's turn ('' for no group): a number one above the task's latest, not the clock, so that two
 * claims within one millisecond still tell which group went last.
 */
export const FLOW_TAKE_TURN = `
INSERT INTO hewn_turns (name, group_key, turn_at)
VALUES (@name, COALESCE(@group, ''), (SELECT COALESCE(MAX(turn_at), 0) + 1 FROM hewn_turns WHERE name = @name))
ON CONFLICT (name, group_key) DO UPDATE SET turn_at = excluded.turn_at`;

/** Counts for the overview: every row is read (the table has no count to look up), so callers cache it. */
export const COUNT_JOBS_BY_NAME = "SELECT name, status, COUNT(*) AS n FROM hewn_jobs GROUP BY name, status";

/** An operator's reschedule: only a job that waits (enqueued, or failed awaiting its retry) moves. */
export const RESCHEDULE_JOB = `
UPDATE hewn_jobs
SET available_at = CASE WHEN waiting_parents > 0 THEN available_at ELSE @at END,
    -- A job waiting for its parents (migration 6) keeps waiting: what moves is its place in line.
    available_before_claim = CASE WHEN waiting_parents > 0 THEN @at ELSE available_before_claim END
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
