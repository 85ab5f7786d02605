/**
 * Every SQL text of the PostgreSQL store. `q` is always the validated, already-quoted schema identifier:
 * it is the only thing ever spliced into SQL; every value is a bound parameter.
 * Hot statements are prepared by name once per connection (see PREPARED in postgres-store.ts), so
 * every statement names its columns instead of `*`: a prepared statement's result shape must not change
 * when a later migration adds a column.
 * @module
 */
import { createHash } from "node:crypto";

/** Quotes an identifier. Callers only pass validated names, but quoting keeps case and keywords safe anyway. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal (for text derived from validated names only; values are always bound). */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The NOTIFY channel of a schema (the one place it is defined). Channel names are identifiers, cut by
 * PostgreSQL at 63 bytes, so long schema names get a hash suffix instead of silently colliding.
 */
export function channelName(schema: string): string {
  const name = `hewn_${schema}`;
  if (name.length <= 63) return name;
  return `${name.slice(0, 54)}_${createHash("sha256").update(schema).digest("hex").slice(0, 8)}`;
}

/**
 * The channel that tells waiters (`queue.waitFor`) that an awaited job finished; the payload is its id.
 * Apart from the workers' channel, so finishes never wake fetch loops. The dot keeps it from colliding
 * with any schema's `channelName` (schema names have no dots).
 */
export function finishedChannelName(schema: string): string {
  const name = `hewn.finished.${schema}`;
  if (name.length <= 63) return name;
  return `${name.slice(0, 54)}_${createHash("sha256").update(schema).digest("hex").slice(0, 8)}`;
}

/**
 * Runnable statuses, spelled exactly as in the partial indexes' predicates (migration 1) so the planner
 * can prove a query's filter implies the index predicate and use them.
 */
const RUNNABLE = "('enqueued', 'failed', 'dequeued')";

// ---------------------------------------------------------------------------------------------------
// Migrations

/**
 * The advisory-lock key serialising migrations of one schema: a bigint from the schema name, so
 * different schemas in one database migrate independently. Passed as text, cast in SQL (no JS bigint precision issue).
 */
export function migrationLockKey(schema: string): string {
  return createHash("sha256").update(`hewn:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

/** Taken first in the migration transaction, so concurrent migrators wait instead of racing on CREATE. */
export const lockMigrations = "SELECT pg_advisory_xact_lock($1::bigint)";

/** Existence checks first: CREATE … IF NOT EXISTS still needs CREATE privilege, which an app role may lack. */
export const schemaExists = "SELECT to_regnamespace($1) IS NOT NULL AS present";
export const ledgerExists = "SELECT to_regclass($1) IS NOT NULL AS present";

export const createSchema = (q: string) => `CREATE SCHEMA IF NOT EXISTS ${q}`;

export const createLedger = (q: string) => `
  CREATE TABLE IF NOT EXISTS ${q}.migrations (
    version int PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

export const appliedVersions = (q: string) => `SELECT version FROM ${q}.migrations ORDER BY version`;

export const recordMigration = (q: string) => `INSERT INTO ${q}.migrations (version, name) VALUES ($1, $2)`;

/**
 * Migration 1. FROZEN once released: later changes go in new migrations, never here.
 * - `data`/`result`/`errors` are `json`, not `jsonb`: json keeps the text exactly as given (key order,
 *   spacing, duplicate keys), so a payload round-trips byte for byte; we never query inside it.
 * - fillfactor 80 leaves room on each page so the frequent status/lease updates can be HOT updates
 *   (no index churn when no indexed column changes, less bloat).
 */
export const migration1 = (q: string) => `
  CREATE TABLE ${q}.jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    data json NOT NULL,
    status text NOT NULL CHECK (status IN ('enqueued', 'dequeued', 'completed', 'failed', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL,
    started_at timestamptz,
    ended_at timestamptz,
    finished_at timestamptz,
    attempts int NOT NULL DEFAULT 0,
    result json,
    reason text,
    label text,
    priority int NOT NULL DEFAULT 0,
    progress double precision,
    errors json NOT NULL DEFAULT '[]'
  ) WITH (fillfactor = 80);

  -- The claim: equality on name, then exactly the claim's ORDER BY, so a claim reads the first rows of
  -- one index range. Partial: finished jobs (the bulk of a busy table) never enter it.
  CREATE INDEX jobs_claim_idx ON ${q}.jobs (name, priority DESC, available_at, id)
    WHERE status IN ('enqueued', 'failed', 'dequeued');

  -- min(available_at) per name for msUntilNextAvailable, regardless of priority.
  CREATE INDEX jobs_next_idx ON ${q}.jobs (name, available_at)
    WHERE status IN ('enqueued', 'failed', 'dequeued');

  -- deleteFinished scans oldest finished first; unfinished jobs stay out of the index.
  CREATE INDEX jobs_finished_idx ON ${q}.jobs (finished_at) WHERE finished_at IS NOT NULL;

  -- countJobs and listJobs filtered by status (and name).
  CREATE INDEX jobs_status_idx ON ${q}.jobs (status, name);
`;

/**
 * Migration 2: `crashes`, the attempts whose lease expired with no outcome (the worker died or stalled),
 * counted apart from handler errors so a job that kills its worker can be quarantined.
 * A constant default makes ADD COLUMN a catalog-only change (no table rewrite) since PostgreSQL 11.
 */
export const migration2 = (q: string) => `ALTER TABLE ${q}.jobs ADD COLUMN crashes int NOT NULL DEFAULT 0`;

/**
 * Migration 3: indexes for the hot path.
 * - Claims of the default priority 0 (nearly all jobs) read `jobs_runnable_idx` as one range, oldest
 *   first, and stop at the first row not yet due, however many delayed jobs wait behind it. With
 *   priority as the second key (migration 1) a claim had to filter its way through every delayed job
 *   of the name whenever fewer jobs were due than it asked for. The few jobs with another priority get
 *   their own small index, in priority order.
 * - The (status, name) index is dropped: every status change paid for it, and only counts and listings
 *   (not the hot path) read it.
 */
export const migration3 = (q: string) => `
  DROP INDEX ${q}.jobs_claim_idx;
  DROP INDEX ${q}.jobs_next_idx;
  DROP INDEX ${q}.jobs_status_idx;
  CREATE INDEX jobs_runnable_idx ON ${q}.jobs (name, available_at, id)
    WHERE status IN ('enqueued', 'failed', 'dequeued') AND priority = 0;
  CREATE INDEX jobs_runnable_priority_idx ON ${q}.jobs (name, priority DESC, available_at, id)
    WHERE status IN ('enqueued', 'failed', 'dequeued') AND priority <> 0;
`;

/**
 * Migration 4: `available_before_claim`, where a job stood in line when it was last claimed (its
 * `available_at` just before the claim), so that handing it back (releaseJobs) puts it back in its place
 * instead of behind every job that became due meanwhile. No default: a catalog-only change.
 */
export const migration4 = (q: string) => `ALTER TABLE ${q}.jobs ADD COLUMN available_before_claim timestamptz`;

/**
 * Migration 5: unique jobs and schedules.
 * - `unique_key`: the label while the job holds it as a deduplication key. A label is a key from the
 *   insert on; a later insert of the same name and label frees it from a holder that no longer stands
 *   (cancelled, or completed before that call's isolation window). Kept apart from `label`, which stays
 *   as given for listings; rows from before this migration hold no key (a unique index on `label` itself
 *   could not even be built over old rows that share labels).
 * - `isolation_ms`: the window the job was stored with, which retention honours. Constant defaults and
 *   nullable columns: catalog-only changes, no table rewrite.
 * - The unique index is the one arbiter of "one standing job per (name, label)": inserts go through
 *   ON CONFLICT on it, never read first.
 * - `schedules`: periodic jobs. `last_slot` is the latest slot handed out; claiming the next one moves it
 *   forward with a compare-and-set in the same statement as the slot's job insert.
 */
export const migration5 = (q: string) => `
  ALTER TABLE ${q}.jobs ADD COLUMN unique_key text, ADD COLUMN isolation_ms float8 NOT NULL DEFAULT 0;
  CREATE UNIQUE INDEX jobs_unique_key_idx ON ${q}.jobs (name, unique_key) WHERE unique_key IS NOT NULL;
  CREATE TABLE ${q}.schedules (
    key text PRIMARY KEY,
    name text NOT NULL,
    spec text NOT NULL,
    data json NOT NULL,
    priority int NOT NULL DEFAULT 0,
    catch_up text NOT NULL,
    last_slot timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
`;

/**
 * Migration 7: flow control (docs/flow-control.md).
 * - `group_key`, the `group` enqueue option. No default: a catalog-only change. Its index serves only
 *   grouped runnable jobs (partial), so ungrouped jobs, and every unlimited task's hot path, never pay for
 *   it; it lists a task's groups (a loose index scan) and each group's due jobs in claim order.
 * - `paused`: one row per paused task name, read by every claim.
 * - `starts`: when each job of a rate-limited task was claimed, kept for its window, so the window slides
 *   over real starts (a count per fixed period would allow twice the limit across a period boundary).
 * - `turns`: when each group of a limited task ('' for no group) last had a job claimed: the memory of
 *   the round-robin, so the group served longest ago goes next even when claims take one job at a time.
 *   One small row per group.
 */
export const migration7 = (q: string) => `
  ALTER TABLE ${q}.jobs ADD COLUMN group_key text;
  CREATE INDEX jobs_group_idx ON ${q}.jobs (name, group_key, priority DESC, available_at, id)
    WHERE status IN ('enqueued', 'failed', 'dequeued') AND group_key IS NOT NULL;
  CREATE TABLE ${q}.paused (
    name text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE ${q}.starts (
    name text NOT NULL,
    group_key text,
    started_at timestamptz NOT NULL
  );
  CREATE INDEX starts_window_idx ON ${q}.starts (name, started_at);
  CREATE TABLE ${q}.turns (
    name text NOT NULL,
    group_key text NOT NULL,
    turn_at timestamptz NOT NULL,
    PRIMARY KEY (name, group_key)
  );
`;

/**
 * Migration 8: indexes for operators (listings, the dashboard), so a page of a filtered listing is one
 * index range, never a scan of a large table: (status, id) and (name, id) serve a filter and the id
 * order of keyset paging together; labels are looked up by value. Each costs the hot path one more index
 * entry per status change (status) or per insert (name, label), which the operator's view is worth.
 */
export const migration8 = (q: string) => `
  CREATE INDEX jobs_status_id_idx ON ${q}.jobs (status, id);
  CREATE INDEX jobs_name_id_idx ON ${q}.jobs (name, id);
  CREATE INDEX jobs_label_idx ON ${q}.jobs (label) WHERE label IS NOT NULL;
`;

/** The enqueuing span's W3C trace context, JSON text; NULL for untraced jobs (see docs/operations.md). */
export const migration10 = (q: string) => `ALTER TABLE ${q}.jobs ADD COLUMN trace_context text`;

// ---------------------------------------------------------------------------------------------------
// Jobs
//
// Every statement names its columns (no `*`): statements are prepared once per connection, and a
// prepared statement's result shape must not change when a later migration adds a column.

/** The columns of a job row, in the order the row mapper expects nothing of (it reads by name). */
const JOB_COLUMNS = `id, name, data, status, created_at, available_at, started_at, ended_at, finished_at,
  attempts, crashes, result, reason, label, group_key, priority, progress, errors, checkpoint, trace_context`;

/** The same, qualified by alias `t`, for UPDATE … FROM … RETURNING. */
const T_JOB_COLUMNS = JOB_COLUMNS.split(",").map((column) => `t.${column.trim()}`).join(", ");

/**
 * One job: the common case of `enqueue`. A plain VALUES insert plans faster than the unnest form.
 * The NOTIFY rides in the same statement, hence the same transaction: PostgreSQL delivers it only at
 * commit (never for a rollback). pg_notify is skipped for a job not yet due (polling finds it).
 */
export const insertJob = (q: string) => `
  WITH inserted AS (
    INSERT INTO ${q}.jobs (name, data, status, available_at, priority, label, group_key, trace_context)
    VALUES ($1, $2::json, 'enqueued', now() + $3::float8 * interval '1 millisecond', $4, $5, $7, $8)
    RETURNING ${JOB_COLUMNS}
  )
  SELECT inserted.*, CASE WHEN available_at <= now() THEN pg_notify($6, name) END AS notified
  FROM inserted`;

/**
 * A batch in one statement. Rows are inserted in ordinality order so identity ids follow the input
 * order. One NOTIFY per distinct name due now (PostgreSQL would fold duplicates anyway). The notify
 * CTE must be read by the final SELECT, since an unreferenced SELECT CTE is never run. Only what the
 * server assigned comes back (id and times); the store builds the rest of each row from the batch
 * (row.ts `insertedRow`), since sending every column back cost the client about as much as the insert.
 */
export const insertJobs = (q: string) => `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int[], $5::text[], $7::text[], $8::text[])
      WITH ORDINALITY AS i(name, data, delay_ms, priority, label, group_key, trace_context, ord)
  ), inserted AS (
    INSERT INTO ${q}.jobs (name, data, status, available_at, priority, label, group_key, trace_context)
    SELECT name, data::json, 'enqueued', now() + delay_ms * interval '1 millisecond', priority, label, group_key, trace_context
    FROM input ORDER BY ord
    RETURNING id, name, created_at, available_at
  ), notified AS (
    SELECT count(pg_notify($6, name)) AS n
    FROM (SELECT DISTINCT name FROM inserted WHERE available_at <= now()) AS ready
  )
  SELECT inserted.id, inserted.created_at, inserted.available_at FROM inserted CROSS JOIN notified ORDER BY inserted.id`;

/**
 * A batch with labelled items (unique jobs), in one statement. Labelled items arrive folded, one per
 * (name, label) (see unique/batch.ts): ON CONFLICT DO UPDATE may touch each row only once.
 * - `freed`: a holder of an item's key that no longer stands for it (cancelled, or completed before the
 *   item's isolation window $6) gives the key up. The INSERT reads `freed` in its WHERE so that it runs
 *   first (an unreferenced data-modifying CTE runs after the main statement); the holder's old index
 *   entry then belongs to a row version this statement deleted, which the uniqueness check ignores.
 * - The unique index decides: an item whose key a standing job holds conflicts, waits for a concurrent
 *   inserter of the same key to commit or roll back, and then updates the holder instead. The update
 *   replaces data, availability and priority only for an item with $7 (onDuplicate "replace") while the
 *   holder is enqueued and never started; otherwise it rewrites nothing, and exists to return the holder
 *   (DO NOTHING would return no row, and a follow-up read could miss it).
 * - `inserted`: xmax is 0 on a freshly inserted row version, set on an updated one.
 * - Rows come back in no set order: unlabelled items are matched by id order, labelled ones by key.
 */
export const insertUniqueJobs = (q: string) => uniqueJobs(q, `
    SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::float8[], $7::bool[], $9::text[], $10::text[])
      WITH ORDINALITY AS i(name, data, delay_ms, priority, label, isolation_ms, replace, group_key, trace_context, ord)`,
"$8", "SELECT upserted.* FROM upserted CROSS JOIN notified ORDER BY upserted.id");

/**
 * The statement of {@link insertUniqueJobs} over any `input` (a query with the columns name, data,
 * delay_ms, priority, label, isolation_ms, replace, group_key, trace_context, ord), notifying `channel`
 * (an SQL expression), ending with `select` (which reads upserted and notified).
 */
function uniqueJobs(q: string, input: string, channel: string, select: string): string {
  return `
  WITH input AS (${input}
  ), freed AS (
    UPDATE ${q}.jobs AS t SET unique_key = NULL
    FROM input
    WHERE t.name = input.name AND t.unique_key = input.label
      AND (t.status = 'cancelled'
        OR (t.status = 'completed' AND t.finished_at <= now() - input.isolation_ms * interval '1 millisecond'))
    RETURNING t.id
  ), upserted AS (
    INSERT INTO ${q}.jobs AS t (name, data, status, available_at, priority, label, unique_key, isolation_ms, group_key, trace_context)
    SELECT name, data::json, 'enqueued', now() + delay_ms * interval '1 millisecond', priority, label, label, isolation_ms, group_key, trace_context
    FROM input
    WHERE (SELECT count(*) FROM freed) >= 0
    ORDER BY ord
    ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL DO UPDATE SET (data, available_at, priority) = (
      SELECT CASE WHEN r.replace THEN EXCLUDED.data ELSE t.data END,
             CASE WHEN r.replace THEN EXCLUDED.available_at ELSE t.available_at END,
             CASE WHEN r.replace THEN EXCLUDED.priority ELSE t.priority END
      FROM (SELECT coalesce(bool_or(input.replace), false) AND t.status = 'enqueued' AND t.attempts = 0 AS replace
            FROM input WHERE input.name = EXCLUDED.name AND input.label = EXCLUDED.unique_key) AS r)
    RETURNING ${T_JOB_COLUMNS}, t.xmax = 0 AS inserted
  ), notified AS (
    SELECT count(pg_notify(${channel}, name)) AS n
    FROM (SELECT DISTINCT name FROM upserted WHERE available_at <= now()) AS ready
  )
  ${select}`;
}

/**
 * A job row as one JSON text (the output of every statement sent through an ORM's transaction): ids as
 * text, times as epoch ms, JSON columns as their text. `extra` adds pairs (`, 'key', expression`).
 */
function jobJson(extra = ""): string {
  return `json_build_object(
    'id', id::text, 'name', name, 'data', data::text, 'status', status,
    'created_at', extract(epoch FROM created_at) * 1000, 'available_at', extract(epoch FROM available_at) * 1000,
    'started_at', extract(epoch FROM started_at) * 1000, 'ended_at', extract(epoch FROM ended_at) * 1000,
    'finished_at', extract(epoch FROM finished_at) * 1000, 'attempts', attempts, 'crashes', crashes,
    'result', result::text, 'reason', reason, 'label', label, 'group_key', group_key, 'priority', priority, 'progress', progress,
    'errors', errors::text, 'trace_context', trace_context${extra})::text`;
}

/**
 * The batch of `insertJobs` for a transaction hewn reaches only through an ORM (`SqlTransaction`): one
 * JSON parameter in (`[{ name, data, delayMs, priority, label, group, traceContext }]`, `data` as JSON text so it is stored
 * byte for byte), and each row out as one JSON text column, so nothing depends on how the ORM binds
 * arrays, parses timestamps or int8, or renames columns. Times are epoch ms. Same NOTIFY as insertJobs:
 * delivered at commit, never for a rollback. `$1` appears once (Knex rewrites placeholders to `?`), so the
 * channel (derived from the validated schema name) is a literal here.
 */
export const insertJobsJson = (q: string, channel: string) => `
  WITH input AS (
    SELECT item, ord FROM json_array_elements($1::json) WITH ORDINALITY AS i(item, ord)
  ), inserted AS (
    INSERT INTO ${q}.jobs (name, data, status, available_at, priority, label, group_key, trace_context)
    SELECT item->>'name', (item->>'data')::json, 'enqueued', now() + (item->>'delayMs')::float8 * interval '1 millisecond',
      (item->>'priority')::int, item->>'label', item->>'group', item->>'traceContext'
    FROM input ORDER BY ord
    RETURNING ${JOB_COLUMNS}
  ), notified AS (
    SELECT count(pg_notify(${quoteLiteral(channel)}, name)) AS n
    FROM (SELECT DISTINCT name FROM inserted WHERE available_at <= now()) AS ready
  )
  SELECT ${jobJson()} AS job
  FROM inserted CROSS JOIN notified ORDER BY inserted.id`;

/**
 * `insertUniqueJobs` through an ORM's transaction: the same statement over one JSON parameter
 * (`[{ name, data, delayMs, priority, label, isolationMs, replace, group, traceContext }]`), each row out
 * as one JSON text (see `insertJobsJson`) with `inserted`.
 */
export const insertUniqueJobsJson = (q: string, channel: string) => uniqueJobs(q, `
    SELECT item->>'name' AS name, item->>'data' AS data, (item->>'delayMs')::float8 AS delay_ms, (item->>'priority')::int AS priority,
      item->>'label' AS label, (item->>'isolationMs')::float8 AS isolation_ms, (item->>'replace')::bool AS replace,
      item->>'group' AS group_key, item->>'traceContext' AS trace_context, ord
    FROM json_array_elements($1::json) WITH ORDINALITY AS i(item, ord)`,
quoteLiteral(channel), `SELECT ${jobJson(", 'inserted', inserted")} AS job FROM upserted CROSS JOIN notified ORDER BY upserted.id`);

/** `lockParents` through an ORM's transaction: $1 is a JSON array of ids; each row one JSON text `{ id, status }`. */
export const lockParentsJson = (q: string) => `
  UPDATE ${q}.jobs SET has_children = true
  WHERE id IN (SELECT value::bigint FROM json_array_elements_text($1::json))
  RETURNING json_build_object('id', id::text, 'status', status)::text AS parent`;

/**
 * `insertParentLinks` through an ORM's transaction: $1 is a JSON array of [child, parent] id pairs. It
 * returns one row (a count), since some libraries take only statements that return rows.
 */
export const insertParentLinksJson = (q: string) => `
  WITH linked AS (
    INSERT INTO ${q}.job_parents (child_id, parent_id)
    SELECT (link->>0)::bigint, (link->>1)::bigint FROM json_array_elements($1::json) AS link
    ON CONFLICT DO NOTHING
    RETURNING 1
  )
  SELECT count(*)::text AS linked FROM linked`;

/**
 * `makeWaiting` through an ORM's transaction: $1 is `{ at, jobs: [[id, parents to wait for]] }` (`at`:
 * the waiting time, ISO text); each row out as one JSON text (see `insertJobsJson`).
 */
export const makeWaitingJson = (q: string) => `
  WITH input AS (SELECT $1::json AS doc)
  UPDATE ${q}.jobs AS t
  SET waiting_parents = (w.value->>1)::int, available_before_claim = t.available_at, available_at = (input.doc->>'at')::timestamptz
  FROM input CROSS JOIN json_array_elements(input.doc->'jobs') AS w
  WHERE t.id = (w.value->>0)::bigint
  -- Unqualified: input and w have no column of a job's names.
  RETURNING ${jobJson()} AS job`;

/**
 * Jobs stored already claimed by the process enqueueing them (Store.jobInsertClaimed): dequeued,
 * attempt 1, leased for $3 ms. No NOTIFY: nobody else is to take them. A job of a paused task is stored
 * plainly enqueued instead (the caller then sees it was not claimed): a pause holds for direct claims too.
 */
export const insertClaimedJobs = (q: string) => `
  INSERT INTO ${q}.jobs (name, data, status, available_at, available_before_claim, started_at, attempts, priority, label, group_key, trace_context)
  SELECT i.name, data::json, CASE WHEN p.name IS NULL THEN 'dequeued' ELSE 'enqueued' END,
    now() + CASE WHEN p.name IS NULL THEN lease_ms ELSE 0 END * interval '1 millisecond',
    CASE WHEN p.name IS NULL THEN now() END, CASE WHEN p.name IS NULL THEN now() END,
    CASE WHEN p.name IS NULL THEN 1 ELSE 0 END, priority, label, group_key, trace_context
  FROM unnest($1::text[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::text[], $7::text[])
    WITH ORDINALITY AS i(name, data, lease_ms, priority, label, group_key, trace_context, ord)
  LEFT JOIN ${q}.paused AS p ON p.name = i.name
  ORDER BY ord
  RETURNING ${JOB_COLUMNS}`;

/** Whether the session running it is inside a transaction block (its transaction began before this statement). */
export const transactionStatus = "SELECT transaction_timestamp() <> statement_timestamp() AS in_transaction";

/**
 * Completes the attempts in $4..$6 (fenced) and claims jobs for the requests in $1..$3, in ONE
 * statement: one round trip and one commit for a whole round of a busy worker, instead of one for its
 * completions and another for its next jobs. With empty completion arrays it is a plain claim.
 *
 * - Completion fence: only while still `dequeued` by the same attempt, so a worker that lost its lease
 *   cannot overwrite a newer attempt.
 * - Claim: for each request, the due jobs in order (priority, then available_at, then id), taken with
 *   FOR UPDATE SKIP LOCKED so concurrent claimers take disjoint rows without waiting on each other;
 *   READ COMMITTED re-checks the WHERE on a row another claimer just committed, so a leased job is
 *   dropped rather than claimed twice. `available_at <= now()` covers expired leases of `dequeued` jobs
 *   too; claiming one of those counts a crash of the attempt that held it.
 * - Each request reads two index ranges, priority 0 and the rest (see migration 3), then keeps the
 *   first `lim` of both: each branch returns its own first `lim`, so the merge is exact.
 * - A crash is also recorded in `errors` ($7 the message, dated now; at most $8 entries kept, oldest
 *   dropped), and where the job stood in line is kept (`available_before_claim`) for a release.
 * - Jobs being completed in this statement are excluded from the claim (a row must not be updated
 *   twice in one statement).
 * - The ANY(ARRAY(...)) is redundant with the join but makes the UPDATE look rows up by primary key: the
 *   planner cannot see how few rows "LIMIT lim" yields and would otherwise hash-join a full table scan.
 * - The result has one row per claimed job, or a single row of NULL job columns when none was claimed;
 *   the first row carries the ids whose completion was written and the paused names (the others carry
 *   NULL: parsing the same arrays again on every row cost more client CPU than anything else per job).
 * - Completions release waiting children and notify waiters (afterCompletion; $9, $10 the channels).
 */
/**
 * The SET of a claim (alias `t`), shared by both claim statements: leased for `leaseMs`, attempts + 1, and
 * for a job whose lease expired a crash counted and recorded in `errors` (`message`, dated now; at most
 * `maxErrors` entries kept, oldest dropped). Where the job stood in line is kept for a release.
 */
function claimSet(leaseMs: string, message: string, maxErrors: string): string {
  return `SET status = 'dequeued', attempts = t.attempts + 1, crashes = t.crashes + (t.status = 'dequeued')::int,
        errors = CASE WHEN t.status = 'dequeued' THEN (
          SELECT json_agg(kept.e ORDER BY kept.n) FROM (
            SELECT e, n FROM json_array_elements(CASE WHEN json_typeof(t.errors) = 'array' THEN t.errors ELSE '[]'::json END)
              WITH ORDINALITY AS old(e, n)
            UNION ALL
            SELECT json_build_object('attempt', t.attempts,
              'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'message', ${message}::text), 9223372036854775807
            ORDER BY n DESC
            LIMIT ${maxErrors}::int
          ) AS kept
        ) ELSE t.errors END,
        available_before_claim = t.available_at,
        started_at = now(), available_at = now() + ${leaseMs} * interval '1 millisecond', ended_at = NULL`;
}

export const completeAndClaim = (q: string) => `
  WITH done AS (
    UPDATE ${q}.jobs AS t
    SET status = 'completed', result = ($6::text[])[array_position($4::bigint[], t.id)]::json, reason = NULL,
        ended_at = now(), finished_at = now(), checkpoint = NULL
    WHERE t.id = ANY ($4::bigint[]) AND t.status = 'dequeued'
      AND t.attempts = ($5::int[])[array_position($4::bigint[], t.id)]
    RETURNING t.id, t.has_children, t.awaited
  ), req AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::float8[]) AS r(name, lim, lease_ms)
    WHERE NOT EXISTS (SELECT 1 FROM ${q}.paused AS p WHERE p.name = r.name)
  ), picked AS (
    SELECT j.id, j.priority, j.available_at, req.lease_ms
    FROM req CROSS JOIN LATERAL (
      SELECT * FROM (
        SELECT * FROM (
          SELECT id, priority, available_at FROM ${q}.jobs
          WHERE name = req.name AND status IN ${RUNNABLE} AND priority = 0 AND available_at <= now()
            AND id <> ALL ($4::bigint[])
          ORDER BY available_at, id
          LIMIT req.lim
          FOR UPDATE SKIP LOCKED
        ) AS plain
        UNION ALL
        SELECT * FROM (
          SELECT id, priority, available_at FROM ${q}.jobs
          WHERE name = req.name AND status IN ${RUNNABLE} AND priority <> 0 AND available_at <= now()
            AND id <> ALL ($4::bigint[])
          ORDER BY priority DESC, available_at, id
          LIMIT req.lim
          FOR UPDATE SKIP LOCKED
        ) AS prioritised
      ) AS candidates
      ORDER BY priority DESC, available_at, id
      LIMIT req.lim
    ) AS j
  ), claimed AS (
    UPDATE ${q}.jobs AS t
    ${claimSet("picked.lease_ms", "$7", "$8")}
    FROM picked
    WHERE t.id = ANY (ARRAY(SELECT id FROM picked)) AND t.id = picked.id
    RETURNING ${T_JOB_COLUMNS}, picked.available_at AS claim_order
  ), completed AS (
    SELECT coalesce(array_agg(id), '{}') AS completed_ids,
      (SELECT coalesce(array_agg(p.name), '{}') FROM ${q}.paused AS p WHERE p.name = ANY ($1::text[])) AS paused_names,
      ${afterCompletion(q, "$9", "$10")}
    FROM done
  )
  SELECT CASE WHEN row_number() OVER claim_order = 1 THEN completed.completed_ids::text[] END AS completed_ids,
    CASE WHEN row_number() OVER claim_order = 1 THEN completed.paused_names END AS paused_names, claimed.*
  FROM completed LEFT JOIN claimed ON true
  WINDOW claim_order AS (ORDER BY claimed.priority DESC, claimed.claim_order, claimed.id)
  ORDER BY claimed.priority DESC, claimed.claim_order, claimed.id`;

// Outcome writes are fenced on (status = 'dequeued', attempts): a worker whose lease was lost and
// re-claimed by someone else matches no row, so it cannot overwrite the newer attempt.
//
// Batched writes find their rows with `t.id = ANY ($ids)` (primary-key lookups) and read each row's
// own values from the parallel arrays with array_position, instead of joining to unnest(...): the
// planner cannot estimate such a join, and with statistics taken when few jobs were `dequeued` it
// chose a sequential scan or a nested loop re-running unnest for every row (measured: 45 ms, then
// 31 ms, for 200 completions on a 20,000-row table; under 2 ms this way). Ids in a batch are distinct.

/** $4, $5: the channels of afterCompletion. */
export const completeJobs = (q: string) => `
  WITH done AS (
    UPDATE ${q}.jobs AS t
    SET status = 'completed', result = ($3::text[])[array_position($1::bigint[], t.id)]::json, reason = NULL,
        ended_at = now(), finished_at = now(), checkpoint = NULL
    WHERE t.id = ANY ($1::bigint[]) AND t.status = 'dequeued' AND t.attempts = ($2::int[])[array_position($1::bigint[], t.id)]
    RETURNING t.id, t.has_children, t.awaited
  )
  SELECT id, ${afterCompletion(q, "$4", "$5")} FROM done`;

export const failJob = (q: string) => `
  UPDATE ${q}.jobs
  SET status = 'failed', reason = $3, errors = $4::json, ended_at = now(),
      available_at = now() + $5::float8 * interval '1 millisecond'
  WHERE id = $1 AND status = 'dequeued' AND attempts = $2
  RETURNING ${JOB_COLUMNS}`;

/**
 * Fenced when $2 (attempt) is given; an operator's cancel ($2 null) applies to any unfinished job.
 * Its waiting descendants are cancelled in the same statement, and waiters told ($5 their channel).
 */
export const cancelJob = (q: string) => `
  WITH cancelled AS (
    UPDATE ${q}.jobs
    SET status = 'cancelled', reason = $3, errors = coalesce($4::json, errors), ended_at = now(), finished_at = now()
    WHERE id = $1 AND (
      ($2::int IS NULL AND status NOT IN ('completed', 'cancelled'))
      OR (status = 'dequeued' AND attempts = $2::int))
    RETURNING ${JOB_COLUMNS}, has_children, awaited
  )
  SELECT cancelled.*, ${afterCancel(q, "$5")} FROM cancelled`;

export const extendLeases = (q: string) => `
  UPDATE ${q}.jobs AS t
  SET available_at = now() + ($3::float8[])[array_position($1::bigint[], t.id)] * interval '1 millisecond'
  WHERE t.id = ANY ($1::bigint[]) AND t.status = 'dequeued' AND t.attempts = ($2::int[])[array_position($1::bigint[], t.id)]
  RETURNING t.id`;

/**
 * Released jobs go back in line where they stood when claimed (never later than now), so they are
 * available at once; $5 = 1 undoes the claim of jobs that never started (their attempt is not counted).
 * Other processes are woken (same NOTIFY-in-statement pattern as insertJobs).
 */
export const releaseJobs = (q: string) => `
  WITH released AS (
    UPDATE ${q}.jobs AS t
    SET status = 'enqueued', available_at = least(now(), coalesce(t.available_before_claim, now())), ended_at = now(),
        reason = $3, attempts = t.attempts - $5::int
    WHERE t.id = ANY ($1::bigint[]) AND t.status = 'dequeued' AND t.attempts = ($2::int[])[array_position($1::bigint[], t.id)]
    RETURNING t.id, t.name
  ), notified AS (
    SELECT count(pg_notify($4, name)) AS n FROM (SELECT DISTINCT name FROM released) AS r
  )
  SELECT released.id FROM released CROSS JOIN notified`;

export const setProgress = (q: string) => `
  UPDATE ${q}.jobs SET progress = $3
  WHERE id = $1 AND status = 'dequeued' AND attempts = $2`;

export const getJob = (q: string) => `SELECT ${JOB_COLUMNS} FROM ${q}.jobs WHERE id = $1`;

/** The filters of a listing, each a column and an operator; values are bound in this order. */
export interface ListFilterSql {
  column: "name" | "status" | "label" | "group_key" | "created_at" | "id";
  op: "=" | ">=" | "<" | ">" | "= ANY";
  /** The SQL type the bound value is cast to. */
  type: "text" | "text[]" | "timestamptz" | "bigint";
}

/**
 * A listing with only the filters in use (planned for the actual values, not prepared), so each variant
 * can use an index: (status, id) or (name, id) from migration 8 serve a filter and the id order of
 * keyset paging together, so a page is an index range however large the table.
 */
export const listJobs = (q: string, filters: readonly ListFilterSql[], descending: boolean) => {
  const where = filters.map((f, i) => `${f.column} ${f.op}${f.op === "= ANY" ? ` ($${i + 1}::${f.type})` : ` $${i + 1}::${f.type}`}`);
  return `SELECT ${JOB_COLUMNS} FROM ${q}.jobs${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""}
  ORDER BY id${descending ? " DESC" : ""} LIMIT $${filters.length + 1}`;
};

/** A full scan on purpose: no index serves it (see migration 3); counts are for people, not the hot path. */
export const countJobs = (q: string) => `
  SELECT status, count(*) AS n FROM ${q}.jobs
  WHERE $1::text IS NULL OR name = $1
  GROUP BY status`;

/**
 * Oldest first through the finished_at index, in bounded batches so one call never holds many locks;
 * SKIP LOCKED lets concurrent cleaners split the work instead of blocking.
 */
export const deleteFinished = (q: string) => `
  DELETE FROM ${q}.jobs WHERE id IN (
    SELECT id FROM ${q}.jobs
    WHERE finished_at < now() - $1::float8 * interval '1 millisecond' AND status IN ('completed', 'cancelled')
      -- an open isolation window keeps a completed job (unique jobs)
      AND NOT (status = 'completed' AND finished_at + isolation_ms * interval '1 millisecond' > now())
    ORDER BY finished_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED)`;

/**
 * The earliest `available_at` among the runnable jobs of the lateral name `r.name`: one probe of each
 * runnable index (priority 0 is ordered by available_at; the rare other priorities are scanned for a min).
 */
const earliestRunnable = (q: string) => `
      SELECT * FROM (
        SELECT available_at FROM ${q}.jobs
        WHERE name = r.name AND status IN ${RUNNABLE} AND priority = 0
        ORDER BY available_at LIMIT 1
      ) AS plain
      UNION ALL
      SELECT min(available_at) FROM ${q}.jobs
      WHERE name = r.name AND status IN ${RUNNABLE} AND priority <> 0`;

/**
 * Computed against the database clock, so the app server's clock skew cannot shift the wait. Per name,
 * the earliest priority-0 job is one probe of jobs_runnable_idx; other priorities read their small index.
 * greatest() ignores NULLs, hence HAVING: no runnable job yields no row (null), not 0.
 */
export const msUntilNextAvailable = (q: string) => `
  SELECT greatest(0, extract(epoch FROM min(next.available_at) - now()) * 1000)::float8 AS ms
  FROM unnest($1::text[]) AS r(name)
  CROSS JOIN LATERAL (
    SELECT available_at FROM (${earliestRunnable(q)}) AS candidates
  ) AS next
  HAVING min(next.available_at) IS NOT NULL`;

// ---------------------------------------------------------------------------------------------------
// Flow control (docs/flow-control.md): pause, and claims of tasks with limits. A limited claim is one
// transaction of its own: BEGIN; lockFlow (one advisory lock per task); flowCounts; flowCandidates;
// flowClaim; COMMIT. The lock serialises the claims of one limited task across every process, and under
// READ COMMITTED each statement after it sees every claim committed before it, so the counts are exact.
// Unlimited tasks never take the lock: they keep completeAndClaim.

/** Pausing stores a row (and wakes every listener, which then learns of it in its next claim). */
export const pauseTask = (q: string) => `
  WITH added AS (
    INSERT INTO ${q}.paused (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING name
  )
  SELECT name, pg_notify($2, name) FROM added`;

/** Resuming deletes it and wakes every listener, so idle workers claim at once. */
export const resumeTask = (q: string) => `
  WITH removed AS (DELETE FROM ${q}.paused WHERE name = $1 RETURNING name)
  SELECT name, pg_notify($2, name) FROM removed`;

export const listPaused = (q: string) => `SELECT name FROM ${q}.paused ORDER BY name`;

/**
 * The advisory-lock key of a limited task's claims: a bigint from schema and task name (text, cast in
 * SQL). A hash collision between two tasks only makes their claims wait for each other.
 */
export function flowLockKey(schema: string, name: string): string {
  return createHash("sha256").update(`hewn:flow:${schema}:${name}`).digest().readBigInt64BE(0).toString();
}

/** Held until COMMIT (or ROLLBACK): the claims of one limited task, one at a time. */
export const lockFlow = "SELECT pg_advisory_xact_lock($1::bigint)";

/**
 * What a limited claim of task $1 must know, as rows of (kind, group_key, n, value):
 * - 'r': jobs holding a live lease (dequeued, lease not expired), per group: running counts come from the
 *   leases themselves, so a crashed process's jobs stop counting when their leases expire. Read through
 *   the two runnable indexes (their predicates repeated), scanning only leases and delayed jobs.
 * - 's': starts within the rate window of $2 ms (null: no rate limit), per group, and (value) how soon
 *   the oldest leaves the window, in ms. Starts older than the window are deleted first (the CTE runs
 *   although nothing reads it; the SELECTs see the rows as before it, hence the window filter).
 * - 'p': a row if the task is paused.
 * - 't': (value) the last turn of the task's ungrouped jobs, epoch µs, if they had one.
 */
export const flowCounts = (q: string) => `
  WITH pruned AS (
    DELETE FROM ${q}.starts WHERE name = $1 AND started_at <= now() - $2::float8 * interval '1 millisecond'
  )
  SELECT 'r' AS kind, group_key, count(*)::int AS n, NULL::float8 AS value FROM (
    SELECT group_key FROM ${q}.jobs
    WHERE name = $1 AND status IN ${RUNNABLE} AND priority = 0 AND available_at > now() AND status = 'dequeued'
    UNION ALL
    SELECT group_key FROM ${q}.jobs
    WHERE name = $1 AND status IN ${RUNNABLE} AND priority <> 0 AND available_at > now() AND status = 'dequeued'
  ) AS running
  GROUP BY group_key
  UNION ALL
  SELECT 's', group_key, count(*)::int,
    min(extract(epoch FROM started_at + $2::float8 * interval '1 millisecond' - now()) * 1000)::float8
  FROM ${q}.starts
  WHERE $2::float8 IS NOT NULL AND name = $1 AND started_at > now() - $2::float8 * interval '1 millisecond'
  GROUP BY group_key
  UNION ALL
  SELECT 'p', NULL, 1, NULL FROM ${q}.paused WHERE name = $1
  UNION ALL
  SELECT 't', NULL, 0, (extract(epoch FROM turn_at) * 1000000)::float8 FROM ${q}.turns WHERE name = $1 AND group_key = ''`;

/**
 * The due jobs of task $1 that a fair claim may take, at most $2 per group: each group's first in claim
 * order (priority, then availableAt, then id), with the group's last turn. Groups are listed by a loose
 * index scan of jobs_group_idx (one probe per group, however many jobs each holds); each group's jobs
 * are one range of it. Jobs without a group are one more group: here only those of non-zero priority
 * (their index is small); those of priority 0 are read by flowUngrouped, only when they could be
 * picked (flow/plan.ts, needsUngrouped). flow/plan.ts orders them all round-robin across groups.
 * Times come as epoch microseconds (exact in a float8).
 */
export const flowCandidates = (q: string) => `
  WITH RECURSIVE groups AS (
    (SELECT group_key FROM ${q}.jobs
     WHERE name = $1 AND status IN ${RUNNABLE} AND group_key IS NOT NULL
     ORDER BY group_key LIMIT 1)
    UNION ALL
    SELECT (SELECT j.group_key FROM ${q}.jobs AS j
            WHERE j.name = $1 AND j.status IN ${RUNNABLE} AND j.group_key IS NOT NULL AND j.group_key > groups.group_key
            ORDER BY j.group_key LIMIT 1)
    FROM groups WHERE groups.group_key IS NOT NULL
  )
  SELECT cand.*, (extract(epoch FROM tu.turn_at) * 1000000)::float8 AS turn_us
  FROM (
  SELECT c.id, c.group_key, c.priority, (extract(epoch FROM c.available_at) * 1000000)::float8 AS available_us
  FROM groups CROSS JOIN LATERAL (
    SELECT id, group_key, priority, available_at FROM ${q}.jobs
    WHERE name = $1 AND group_key = groups.group_key AND status IN ${RUNNABLE} AND group_key IS NOT NULL
      AND available_at <= now()
    ORDER BY priority DESC, available_at, id
    LIMIT $2
  ) AS c
  WHERE groups.group_key IS NOT NULL
  UNION ALL
  SELECT id, group_key, priority, (extract(epoch FROM available_at) * 1000000)::float8 FROM (
    SELECT id, group_key, priority, available_at FROM ${q}.jobs
    WHERE name = $1 AND status IN ${RUNNABLE} AND priority <> 0 AND available_at <= now() AND group_key IS NULL
    ORDER BY priority DESC, available_at, id
    LIMIT $2
  ) AS prioritised
  ) AS cand
  LEFT JOIN ${q}.turns AS tu ON tu.name = $1 AND tu.group_key = coalesce(cand.group_key, '')`;

/**
 * The first $2 due jobs of task $1 without a group, of priority 0, in claim order. jobs_runnable_idx
 * holds every task's jobs, grouped or not, so this reads past the task's grouped due jobs older than
 * them: hence only when needed (see flowCandidates).
 */
export const flowUngrouped = (q: string) => `
  SELECT id, group_key, priority, (extract(epoch FROM available_at) * 1000000)::float8 AS available_us
  FROM ${q}.jobs
  WHERE name = $1 AND status IN ${RUNNABLE} AND priority = 0 AND available_at <= now() AND group_key IS NULL
  ORDER BY available_at, id
  LIMIT $2`;

/** The ungrouped jobs were read and none was due: their turn is taken, so the next claims need not read them again at once. */
export const flowPassTurn = (q: string) => `
  INSERT INTO ${q}.turns (name, group_key, turn_at) VALUES ($1, '', clock_timestamp())
  ON CONFLICT (name, group_key) DO UPDATE SET turn_at = excluded.turn_at`;

/**
 * Claims the picked jobs $1 (leased $2 ms), re-checking that each is still due (a cancel may have come
 * between), records their groups' turn (clock_timestamp(), not now(): a claim that waited for the lock
 * began before the one it waited for, yet takes its turn after it), and logs their starts when the task
 * has a rate limit ($3). Crash
 * accounting as in completeAndClaim ($4 the message, $5 the errors kept).
 */
export const flowClaim = (q: string) => `
  WITH claimed AS (
    UPDATE ${q}.jobs AS t
    ${claimSet("$2::float8", "$4", "$5")}
    WHERE t.id = ANY ($1::bigint[]) AND t.status IN ${RUNNABLE} AND t.available_at <= now()
    RETURNING ${T_JOB_COLUMNS}
  ), logged AS (
    INSERT INTO ${q}.starts (name, group_key, started_at)
    SELECT name, group_key, now() FROM claimed WHERE $3::boolean
  ), turned AS (
    INSERT INTO ${q}.turns (name, group_key, turn_at)
    SELECT name, group_key, clock_timestamp() FROM (SELECT DISTINCT name, coalesce(group_key, '') AS group_key FROM claimed) AS served
    ON CONFLICT (name, group_key) DO UPDATE SET turn_at = excluded.turn_at
  )
  SELECT * FROM claimed`;

/** Counts for the overview: every row is read (the table has no count to look up), so callers cache it. */
export const countJobsByName = (q: string) => `SELECT name, status, count(*) AS n FROM ${q}.jobs GROUP BY name, status`;

/**
 * Per name in $1, how long ago its earliest due runnable job became available (ms, by the database
 * clock), for names that have one: one probe of each runnable index per name, as in msUntilNextAvailable.
 */
export const oldestReady = (q: string) => `
  SELECT r.name, (extract(epoch FROM now() - min(next.available_at)) * 1000)::float8 AS age_ms
  FROM unnest($1::text[]) AS r(name)
  CROSS JOIN LATERAL (
${earliestRunnable(q)}
  ) AS next
  GROUP BY r.name
  HAVING min(next.available_at) <= now()`;

/**
 * An operator's reschedule: only a job that waits (enqueued, or failed awaiting its retry) moves, to $3
 * if given, else $2 ms from now. Workers are woken if it is due now (same NOTIFY-in-statement as insertJob).
 */
export const rescheduleJob = (q: string) => `
  WITH moved AS (
    UPDATE ${q}.jobs
    SET available_at = CASE WHEN waiting_parents > 0 THEN available_at
          ELSE coalesce($3::timestamptz, now() + $2::float8 * interval '1 millisecond') END,
        -- A job waiting for its parents (migration 6) keeps waiting: what moves is its place in line.
        available_before_claim = CASE WHEN waiting_parents > 0
          THEN coalesce($3::timestamptz, now() + $2::float8 * interval '1 millisecond') ELSE available_before_claim END
    WHERE id = $1 AND status IN ('enqueued', 'failed')
    RETURNING ${JOB_COLUMNS}
  )
  SELECT moved.*, CASE WHEN available_at <= now() THEN pg_notify($4, name) END AS notified
  FROM moved`;

/** An operator's cancel of many jobs: any not finished yet, whoever holds them (as cancelJob with no attempt). */
export const cancelJobs = (q: string) => `
  WITH cancelled AS (
    UPDATE ${q}.jobs
    SET status = 'cancelled', reason = $2, ended_at = now(), finished_at = now()
    WHERE id = ANY ($1::bigint[]) AND status NOT IN ('completed', 'cancelled')
    RETURNING ${JOB_COLUMNS}, has_children, awaited
  )
  SELECT cancelled.*, ${afterCancel(q, "$3")} FROM cancelled`;

/** Quoted, since channelName() may produce anything an identifier allows. */
export const listen = (channel: string) => `LISTEN ${quoteIdent(channel)}`;

// ---------------------------------------------------------------------------------------------------
// Schedules (periodic jobs). Slots cross the seam as epoch ms; `to_timestamp($n / 1000)` is the one
// conversion used for them everywhere, so a slot written and a slot compared are the same value.

/** A new schedule starts now; a changed `when` (spec) starts over from now; otherwise its slots go on. */
export const upsertSchedule = (q: string) => `
  INSERT INTO ${q}.schedules AS s (key, name, spec, data, priority, catch_up, last_slot)
  VALUES ($1, $2, $3, $4::json, $5, $6, now())
  ON CONFLICT (key) DO UPDATE SET
    name = EXCLUDED.name, data = EXCLUDED.data, priority = EXCLUDED.priority, catch_up = EXCLUDED.catch_up,
    last_slot = CASE WHEN s.spec = EXCLUDED.spec THEN s.last_slot ELSE EXCLUDED.last_slot END,
    spec = EXCLUDED.spec, updated_at = now()`;

export const deleteSchedule = (q: string) => `DELETE FROM ${q}.schedules WHERE key = $1`;

/** The schedules ($1 null: all) and the database's now, which slots are computed from; one row of NULLs for none. */
export const listSchedules = (q: string) => `
  SELECT (extract(epoch FROM now()) * 1000)::float8 AS now,
    s.key, s.name, s.spec, s.data, s.priority, s.catch_up, (extract(epoch FROM s.last_slot) * 1000)::float8 AS last_slot
  FROM (SELECT 1) AS one
  LEFT JOIN ${q}.schedules AS s ON ($1::text[] IS NULL OR s.key = ANY ($1::text[]))
  ORDER BY s.key`;

/**
 * Hands out one slot (Store.scheduleClaimSlot) in one statement, hence one transaction: the compare-and-set
 * moves last_slot past the slot only if it is still before it and the spec unchanged. A concurrent claimer
 * of the same slot waits on the row lock, re-checks the condition on the committed row (READ COMMITTED),
 * and matches nothing. The job is inserted only from the advanced row, labelled (schedule, slot), and
 * the unique index guards it a second time. NOTIFY as in insertJob.
 */
export const claimSlot = (q: string) => `
  WITH advanced AS (
    UPDATE ${q}.schedules SET last_slot = to_timestamp($3::float8 / 1000)
    WHERE key = $1 AND spec = $2 AND last_slot < to_timestamp($3::float8 / 1000)
    RETURNING name, data, priority
  ), inserted AS (
    INSERT INTO ${q}.jobs (name, data, status, available_at, priority, label, unique_key)
    SELECT name, data, 'enqueued', to_timestamp($3::float8 / 1000), priority, $4, $4 FROM advanced
    ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING ${JOB_COLUMNS}
  )
  SELECT inserted.*, CASE WHEN available_at <= now() THEN pg_notify($5, name) END AS notified
  FROM inserted`;

// ---------------------------------------------------------------------------------------------------
// Composition (migration 6): waiting for jobs, dependencies, dead letters, checkpoints

/**
 * Migration 6.
 * - `checkpoint`: the state a handler saved with `ctx.checkpoint`, for the next attempt.
 * - `waiting_parents`: how many parents have not completed yet (see the Store seam on dependencies).
 * - `has_children`: set (under the parent's row lock) by every insert or retry of a child, so the hot
 *   completion statements look for children only when there are some.
 * - `awaited`: set by `waitFor`, so only finishes someone waits for send a NOTIFY.
 * - `job_parents`: one row per edge, keyed by child (`ctx.parents()`), indexed by parent.
 * - release_children / cancel_descendants run inside the statement that completes or cancels parents.
 *   They are VOLATILE functions on purpose: each of their queries takes a fresh snapshot, so they see a
 *   child committed by a transaction that held the parent's row lock while this statement waited for
 *   it (the statement's own snapshot predates that commit). With the child side locking its parents
 *   first, either the child sees the parent finished, or the parent's statement sees the child: an edge
 *   is never missed. STRICT: with no parents (NULL array) they are not even called.
 */
export const migration6 = (q: string) => `
  ALTER TABLE ${q}.jobs
    ADD COLUMN checkpoint json,
    ADD COLUMN waiting_parents int NOT NULL DEFAULT 0,
    ADD COLUMN has_children boolean NOT NULL DEFAULT false,
    ADD COLUMN awaited boolean NOT NULL DEFAULT false;

  CREATE TABLE ${q}.job_parents (
    child_id bigint NOT NULL REFERENCES ${q}.jobs (id) ON DELETE CASCADE,
    parent_id bigint NOT NULL REFERENCES ${q}.jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (child_id, parent_id)
  );
  CREATE INDEX job_parents_parent_idx ON ${q}.job_parents (parent_id);

  -- Children of completed parents count down; one whose last parent this was takes its place in line
  -- (enqueue time + delay, kept in available_before_claim), and workers of its name are woken.
  CREATE FUNCTION ${q}.release_children(parent_ids bigint[], channel text) RETURNS bigint
  LANGUAGE sql VOLATILE STRICT AS $fn$
    WITH counts AS (
      SELECT child_id, count(*)::int AS n FROM ${q}.job_parents WHERE parent_id = ANY (parent_ids) GROUP BY child_id
    ), released AS (
      UPDATE ${q}.jobs AS c
      SET waiting_parents = c.waiting_parents - counts.n,
          available_at = CASE WHEN c.waiting_parents <= counts.n THEN coalesce(c.available_before_claim, now()) ELSE c.available_at END
      FROM counts
      WHERE c.id = counts.child_id AND c.status = 'enqueued' AND c.waiting_parents > 0
      RETURNING c.name, c.available_at
    )
    SELECT count(pg_notify(channel, name)) FROM (SELECT DISTINCT name FROM released WHERE available_at <= now()) AS ready
  $fn$;

  -- Every waiting descendant of cancelled jobs is cancelled, its reason naming the parent through which
  -- the cancel reached it; waiters are told.
  CREATE FUNCTION ${q}.cancel_descendants(parent_ids bigint[], finished_channel text) RETURNS bigint
  LANGUAGE sql VOLATILE STRICT AS $fn$
    WITH RECURSIVE descendant(id, via) AS (
      SELECT child_id, parent_id FROM ${q}.job_parents WHERE parent_id = ANY (parent_ids)
      UNION
      SELECT p.child_id, p.parent_id FROM ${q}.job_parents AS p JOIN descendant AS d ON p.parent_id = d.id
    ), first_via AS (
      SELECT id, min(via) AS via FROM descendant GROUP BY id
    ), cancelled AS (
      UPDATE ${q}.jobs AS t
      SET status = 'cancelled', reason = 'parent job ' || first_via.via || ' was cancelled', ended_at = now(), finished_at = now()
      FROM first_via
      WHERE t.id = first_via.id AND t.status = 'enqueued' AND t.waiting_parents > 0
      RETURNING t.id, t.awaited
    )
    SELECT count(pg_notify(finished_channel, id::text)) FROM cancelled WHERE awaited
  $fn$;
`;

/**
 * What every statement that cancels jobs does next, in the same statement (it reads the CTE "cancelled",
 * with columns id, has_children, awaited): tell waiters and cancel waiting descendants (`fch`: the
 * finished channel).
 */
function afterCancel(q: string, fch: string): string {
  return `(SELECT count(pg_notify(${fch}, id::text)) FROM cancelled WHERE awaited) AS notified,
    (SELECT ${q}.cancel_descendants(array_agg(id), ${fch}) FROM cancelled WHERE has_children) AS descendants`;
}

/**
 * What every statement that completes jobs does next, in the same statement (it reads the CTE "done",
 * with columns id, has_children, awaited): release the children (`ch`: the workers' channel) and tell
 * waiters (`fch`: the finished channel). Subqueries of the statement's SELECT, so they always run.
 */
function afterCompletion(q: string, ch: string, fch: string): string {
  return `(SELECT ${q}.release_children(array_agg(id), ${ch}) FROM done WHERE has_children) AS released,
    (SELECT count(pg_notify(${fch}, id::text)) FROM done WHERE awaited) AS notified`;
}

/** Marks jobs as awaited (their finish will NOTIFY) and reads them, in one statement: no finish slips between. */
export const awaitJobs = (q: string) => `
  UPDATE ${q}.jobs SET awaited = true WHERE id = ANY ($1::bigint[]) RETURNING ${JOB_COLUMNS}`;

export const getJobs = (q: string) => `SELECT ${JOB_COLUMNS} FROM ${q}.jobs WHERE id = ANY ($1::bigint[])`;

/**
 * Locks the parents named by new or retried children (the row lock a completion or cancel of the parent
 * also takes) and flags them, returning their status as of the lock. See migration 6 for why.
 */
export const lockParents = (q: string) => `
  UPDATE ${q}.jobs SET has_children = true WHERE id = ANY ($1::bigint[]) RETURNING id, status`;

/** The parents of children being retried, locked and flagged likewise. */
export const lockParentsOf = (q: string) => `
  UPDATE ${q}.jobs SET has_children = true
  WHERE id IN (SELECT parent_id FROM ${q}.job_parents WHERE child_id = ANY ($1::bigint[]))
  RETURNING id`;

export const insertParentLinks = (q: string) => `
  INSERT INTO ${q}.job_parents (child_id, parent_id)
  SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`;

/** New children with parents still to complete wait ($3: the waiting time), keeping their place in line. */
export const makeWaiting = (q: string) => `
  UPDATE ${q}.jobs AS t
  SET waiting_parents = w.n, available_before_claim = t.available_at, available_at = $3::timestamptz
  FROM unnest($1::bigint[], $2::int[]) AS w(id, n)
  WHERE t.id = w.id
  RETURNING ${T_JOB_COLUMNS}`;

/**
 * Dead letters back in line (only while cancelled, so no worker holds them: every outcome write is fenced
 * on dequeued). finishedAt is cleared so retention leaves them alone; parents that have not completed
 * make the job wait again ($2: the waiting time). Workers are woken ($3).
 */
/**
 * Before retryJobs, in its transaction: a labelled dead letter goes back in line holding its label again,
 * so the key's holder gives it up if it no longer stands (cancelled, or completed before its own isolation
 * window ended). A standing holder keeps it and retryJobs leaves the dead letter cancelled: retrying never
 * makes two live jobs of one name and label. (A statement of its own: in one statement with the retry, the
 * unique index could meet the holder's old row.)
 */
export const freeUniqueKeysForRetry = (q: string) => `
  UPDATE ${q}.jobs AS h SET unique_key = NULL
  FROM ${q}.jobs AS r
  WHERE r.id = ANY ($1::bigint[]) AND r.status = 'cancelled' AND r.label IS NOT NULL
    AND h.name = r.name AND h.unique_key = r.label AND h.id <> r.id
    AND (h.status = 'cancelled' OR (h.status = 'completed' AND h.finished_at <= now() - h.isolation_ms * interval '1 millisecond'))`;

/**
 * Dead letters back in line; of several of one name and label in the batch, the oldest.
 */
export const retryJobs = (q: string) => `
  WITH unfinished AS (
    SELECT p.child_id, count(*)::int AS n
    FROM ${q}.job_parents AS p JOIN ${q}.jobs AS j ON j.id = p.parent_id
    WHERE p.child_id = ANY ($1::bigint[]) AND j.status <> 'completed'
    GROUP BY p.child_id
  ), retried AS (
    UPDATE ${q}.jobs AS t
    SET status = 'enqueued', crashes = 0, finished_at = NULL, available_before_claim = now(),
        waiting_parents = coalesce(u.n, 0),
        available_at = CASE WHEN coalesce(u.n, 0) > 0 THEN $2::timestamptz ELSE now() END,
        unique_key = t.label
    FROM unnest($1::bigint[]) AS ids(id) LEFT JOIN unfinished AS u ON u.child_id = ids.id
    WHERE t.id = ids.id AND t.status = 'cancelled'
      AND (t.label IS NULL OR (
        NOT EXISTS (SELECT 1 FROM ${q}.jobs AS o WHERE o.name = t.name AND o.unique_key = t.label AND o.id <> t.id)
        AND NOT EXISTS (SELECT 1 FROM ${q}.jobs AS b WHERE b.id = ANY ($1::bigint[]) AND b.id < t.id
          AND b.status = 'cancelled' AND b.name = t.name AND b.label = t.label)))
    RETURNING ${T_JOB_COLUMNS}, t.waiting_parents
  )
  SELECT retried.*,
    (SELECT count(pg_notify($3, name)) FROM (SELECT DISTINCT name FROM retried WHERE waiting_parents = 0) AS ready) AS notified
  FROM retried`;

export const deleteJobs = (q: string) => `
  DELETE FROM ${q}.jobs WHERE id = ANY ($1::bigint[]) AND status IN ('completed', 'cancelled') RETURNING id`;

export const parentsOf = (q: string) => `
  SELECT ${JOB_COLUMNS} FROM ${q}.jobs
  WHERE id IN (SELECT parent_id FROM ${q}.job_parents WHERE child_id = $1)
  ORDER BY id`;

// A job's children (the dependency graph on the dashboard), found through job_parents_parent_idx.
export const childrenOf = (q: string) => `
  SELECT ${JOB_COLUMNS} FROM ${q}.jobs
  WHERE id IN (SELECT child_id FROM ${q}.job_parents WHERE parent_id = $1)
  ORDER BY id`;

export const setCheckpoint = (q: string) => `
  UPDATE ${q}.jobs SET checkpoint = $3::json
  WHERE id = $1 AND status = 'dequeued' AND attempts = $2`;
