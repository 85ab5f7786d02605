/**
 * The storage seam. Internal: it may change at will; users talk to `Queue`.
 *
 * What a store must do, and nothing about how: a third store (MySQL, MongoDB) implements this
 * interface, registers its URL scheme in `registry.ts`, and passes the conformance suite; nothing above
 * the seam changes.
 *
 * - Operations are named entity-first (`job…`), are batch-first where the hot path calls them many
 *   times, and take one params object.
 * - Job ids are opaque strings above the seam: only the store knows their shape. An id the store could
 *   never have issued simply matches no job.
 * - Every outcome write (complete, fail, cancel by a worker, extend, release, progress) is *fenced*: it
 *   only applies while the job is `dequeued` with the same `attempts` value the worker claimed, so a
 *   worker whose lease was lost cannot overwrite anything.
 * - Time comes from the store itself (the database clock on PostgreSQL, an injectable clock on SQLite).
 * - Text the store cannot hold as is (PostgreSQL text has no NUL) is the store's business to encode.
 * - Driver errors become `StoreError`s in one place per store.
 * @module
 */
import type { Job, JobStatus } from "../job.js";
import type { FlowLimits } from "../flow/limits.js";
import type { Hold } from "../flow/plan.js";

/**
 * The most items hewn puts in one batched call (inserts, completions): keeps statements and their
 * parameter arrays moderate. Callers split larger batches; stores may rely on it.
 */
export const MAX_BATCH = 1000;

/** A job as the store returns it: `data` and `result` parsed, plus a note if the payload could not be decoded. */
export interface StoredJob extends Job {
  /** The trace context stored with the job (see {@link NewJob.traceContext}); absent when none. */
  traceContext?: string;
  /** Set when the stored payload is not valid JSON; `data` is then `null`. Such a job is cancelled, never run. */
  dataError?: string;
  /**
   * Set by `jobInsertMany`: true when the item stored nothing new and this is the job that stood in its
   * way (see {@link NewJob.label}); false for a job it inserted.
   */
  duplicate?: boolean;
}

/** A job to insert. `data` is already-validated JSON text, so it is serialised exactly once. */
export interface NewJob {
  name: string;
  data: string;
  /** Milliseconds from the store's now until the job is available (0 = now). */
  delayMs: number;
  priority: number;
  /**
   * The deduplication key (see docs/unique-and-periodic.md). While a job of the same name holds this
   * label and stands (enqueued, dequeued or failed; or completed less than `isolationMs` ago), inserting
   * stores nothing and returns the standing job, marked `duplicate`. Enforced by a unique index on
   * (name, unique_key), never by a read before the write. Items of one batch with the same name and
   * label become one job.
   */
  label: string | null;
  /**
   * The jobs it runs after (`after`): existing jobs by id, and jobs of the same insert by their index in
   * it. Unknown ids and cancelled parents are `ValidationError`s on `after`. Absent: no parents.
   */
  after?: { ids: string[]; indexes: number[] };
  /** With a label: a job with it that completed less than this many ms ago still stands. Default 0. */
  isolationMs?: number;
  /** With a label: a standing job still enqueued and never started takes this item's data, delay and priority. */
  replace?: boolean;
  /** The flow-control group (`group` enqueue option); absent or null for none. */
  group?: string | null;
  /** W3C trace context of the enqueuing span as JSON (`{ traceparent, tracestate? }`); set by tracing only. */
  traceContext?: string | null;
}

/** A job stored already claimed by the process enqueueing it (see {@link Store.jobInsertClaimed}). */
export interface NewClaimedJob {
  job: NewJob;
  /** The lease of its first attempt, from the store's now. */
  leaseMs: number;
}

/** Claim up to `limit` available jobs named `name`, leasing each for `leaseMs`. */
export interface ClaimRequest {
  name: string;
  limit: number;
  leaseMs: number;
  /**
   * The task's flow limits: the store then claims under its per-task lock, within the limits and in fair
   * order across groups (see flow/plan.ts). Absent: the plain claim.
   */
  flow?: FlowLimits;
}

/** A request that got fewer jobs than asked because its task is paused or its limits are reached. */
export interface HeldBack extends Hold {
  name: string;
}

/** Identifies one attempt of one job: the fence of every outcome write. */
export interface AttemptRef {
  id: string;
  /** The job's `attempts` value right after the claim. */
  attempt: number;
}

export interface CompleteItem extends AttemptRef {
  /** The handler's result as JSON text (`"null"` when it returned nothing). */
  result: string;
}

export interface FailParams extends AttemptRef {
  reason: string;
  /** Backoff: available again this many ms after the store's now. */
  delayMs: number;
  /** The new `errors` array as JSON text (the worker appends and trims). */
  errors: string;
}

export interface CancelParams {
  id: string;
  /** The attempt to fence on; `null` for an operator's cancel, which applies to any job not yet finished. */
  attempt: number | null;
  reason: string;
  /** The new `errors` array as JSON text, or `null` to leave it unchanged. */
  errors: string | null;
}

export interface ExtendItem extends AttemptRef {
  /** The lease now ends this many ms after the store's now. */
  leaseMs: number;
}

export interface ReleaseParams {
  items: AttemptRef[];
  reason: string;
  /** The handlers never ran (the jobs were only held, e.g. in a local buffer): the claims are undone too (attempts − 1). */
  unstarted: boolean;
}

export interface ListParams {
  name?: string;
  status?: JobStatus;
  /** Only jobs in one of these statuses (with `status` too: both apply). An empty array matches nothing. */
  statuses?: readonly JobStatus[];
  label?: string;
  /** Only jobs of this flow-control group. */
  group?: string;
  /** Only jobs created at or after this time. */
  createdFrom?: Date;
  /** Only jobs created before this time. */
  createdBefore?: Date;
  /** Only jobs after this one in id order (cursor paging). An id the store cannot parse is a `ValidationError`. */
  afterId?: string;
  /** Only jobs before this one in id order (cursor paging). An id the store cannot parse is a `ValidationError`. */
  beforeId?: string;
  /**
   * Which end of the range to take the `limit` jobs from, and the order they come back in: `"asc"`
   * (default) the lowest ids first, `"desc"` the highest first.
   */
  order?: "asc" | "desc";
  limit: number;
}

/** Jobs per task and status, and how long each task's oldest ready job has waited: `Store.jobStats`. */
export interface StoreStats {
  /** The store's now, which the ages are measured from. */
  now: Date;
  /** One entry per task and status that has jobs. */
  counts: Array<{ name: string; status: JobStatus; count: number }>;
  /**
   * Per task with a job that is due and not running (enqueued or failed with availableAt passed, or
   * dequeued with its lease expired): how long ago the oldest such job became available, in ms.
   */
  oldestReady: Array<{ name: string; ageMs: number }>;
}

/** An operator's reschedule of a waiting job: exactly one of `delayMs` and `at`. */
export interface RescheduleParams {
  id: string;
  /** Available this many ms after the store's now. */
  delayMs?: number;
  /** Available at this time. */
  at?: Date;
}

/** The result of a round: which completions were written, and the jobs claimed. */
export interface ClaimResult {
  /** Ids whose completion was written; the others had lost their lease. */
  completed: Set<string>;
  /** Claimed jobs, in claim order. */
  claimed: StoredJob[];
  /** Requests held back by a pause or by flow limits (absent or empty: none). */
  heldBack?: HeldBack[];
}

/** A periodic job's schedule, as declared (see docs/unique-and-periodic.md). */
export interface NewSchedule {
  key: string;
  /** The task its slots' jobs run. */
  name: string;
  /** The canonical JSON of its `when`: equal texts mean equal slots. */
  spec: string;
  /** The slots' jobs' data, as JSON text. */
  data: string;
  priority: number;
  /** The catch-up policy, as JSON text. */
  catchUp: string;
}

/** A schedule as stored. Times are epoch ms on the store's clock. */
export interface StoredSchedule extends NewSchedule {
  /** The latest slot handed out, or when the schedule was declared or its `when` changed. */
  lastSlot: number;
}

/** Hands out one slot of a schedule: see {@link Store.scheduleClaimSlot}. */
export interface SlotClaim {
  key: string;
  /** The spec the slot was computed from: the claim fails if the schedule changed meanwhile. */
  spec: string;
  /** The slot, epoch ms: the job's availableAt. */
  slot: number;
  /** The job's label, unique to (schedule, slot). */
  label: string;
}

/** Called with a task name when jobs for it may have become available. */
export type WakeListener = (name: string) => void;

export interface ListenParams {
  names: string[];
  onWake: WakeListener;
  onError: (error: Error) => void;
}

/** What a store can do beyond the required operations; the queue branches on these, never on the class. */
export interface StoreCapabilities {
  /** Wake-ups reach other processes at once (PostgreSQL LISTEN/NOTIFY). Otherwise other processes poll. */
  readonly crossProcessWakeups: boolean;
  /** The poll interval to use when the task does not set one, in ms. */
  readonly defaultPollInterval: number;
  /**
   * How many claim rounds a worker keeps in flight at once. More than one pays off where a round mostly
   * waits on the server (PostgreSQL: overlapping commits share a disk flush); a synchronous embedded
   * store gains nothing from it.
   */
  readonly maxConcurrentRounds: number;
  /**
   * `jobInsertManySync` works: the store's driver is synchronous (better-sqlite3), so a job can be stored
   * inside a synchronous transaction function such as better-sqlite3's `db.transaction(fn)`.
   */
  readonly synchronousInsert: boolean;
}

export interface Store {
  readonly capabilities: StoreCapabilities;

  /** Creates or upgrades the schema. Safe to run from several processes at once. */
  migrate(): Promise<void>;

  /**
   * Inserts jobs (status `enqueued`) in one statement and returns them in the same order.
   * With `tx` the insert joins the caller's open transaction (a handle of the store's own driver, or a
   * `SqlTransaction` that runs SQL through an ORM);
   * wake-ups then reach workers only after commit (see `afterTransaction`). A `tx` the store cannot use
   * is a `ValidationError` on `options.tx`.
   */
  jobInsertMany(params: { jobs: NewJob[]; tx?: unknown }): Promise<StoredJob[]>;

  /**
   * `jobInsertMany` inside the caller's transaction, done by the time it returns: for a synchronous
   * transaction function, which cannot await. Only where `capabilities.synchronousInsert`; elsewhere it
   * throws.
   */
  jobInsertManySync(params: { jobs: NewJob[]; tx: unknown }): StoredJob[];

  /**
   * Inserts jobs already claimed by the calling process: `dequeued`, attempts 1, leased. The enqueuing
   * process has a free worker for each and runs it at once, one round trip sooner than a claim would.
   * Never inside a user's transaction (a rollback would leave the worker running a job that never was),
   * and never for labelled jobs (they may turn out to be duplicates).
   */
  jobInsertClaimed(params: { items: NewClaimedJob[] }): Promise<StoredJob[]>;

  /**
   * Writes completions (fenced) and claims available jobs in one transaction: one round trip and one
   * commit for a busy worker's round. Claims take jobs that are enqueued, failed, or dequeued with an
   * expired lease, in order of priority (higher first), then availableAt, then id: status → dequeued,
   * attempts + 1, startedAt = now, availableAt = now + leaseMs, endedAt cleared, and where the job stood
   * in line (its availableAt before the claim) kept for a release. Claiming a job whose lease expired
   * counts a crash and appends an entry for the crashed attempt to `errors` (`CRASH_MESSAGE`, dated now;
   * at most `MAX_KEPT_ERRORS` kept). Each request is limited separately. Jobs completed by this call are
   * never claimed by it. Either part may be empty.
   *
   * Nothing is claimed for a paused task. A request with `flow` limits is claimed inside a lock per task
   * (so concurrent claimers count each other's claims), counting running jobs from live leases and
   * starts from the store's start log, in fair order across groups; it reports in `heldBack` when its
   * limits left due jobs behind.
   */
  jobClaim(params: { requests: ClaimRequest[]; completions?: CompleteItem[] }): Promise<ClaimResult>;

  /** Completes attempts in one statement (fenced). Returns the ids that were written; the others had lost their lease. */
  jobCompleteMany(params: { items: CompleteItem[] }): Promise<Set<string>>;

  /** Fails one attempt (fenced): status failed, reason, endedAt = now, availableAt = now + delayMs. Null if fenced out. */
  jobFail(params: FailParams): Promise<StoredJob | null>;

  /**
   * Cancels a job: status cancelled, reason, endedAt = finishedAt = now. Fenced on `attempt` when given;
   * otherwise applies to any job not completed or cancelled. Null if nothing changed.
   */
  jobCancel(params: CancelParams): Promise<StoredJob | null>;

  /** Renews leases (fenced). Returns the ids that were extended; the others had lost their lease. */
  jobExtendLeases(params: { items: ExtendItem[] }): Promise<Set<string>>;

  /**
   * Gives leased jobs back at once (fenced): status enqueued, endedAt = now, with `reason`, and wakes other
   * processes. Each keeps its place in line: availableAt goes back to what it was when claimed (never
   * later than now). Returns the ids released.
   */
  jobRelease(params: ReleaseParams): Promise<Set<string>>;

  /** Records progress (fenced). False if the lease was lost. */
  jobSetProgress(params: AttemptRef & { progress: number }): Promise<boolean>;

  /** The job, or null if there is none (an id the store could never have issued included). */
  jobGet(params: { id: string }): Promise<StoredJob | null>;

  /** Jobs in id order, filtered. */
  jobList(params: ListParams): Promise<StoredJob[]>;

  /** Number of jobs in each status (every status present, zero included), optionally for one task name. */
  jobCountByStatus(params: { name?: string }): Promise<Record<JobStatus, number>>;

  /**
   * Deletes up to `limit` completed or cancelled jobs whose finishedAt is more than `olderThanMs` before now,
   * except completed jobs whose isolation window (the `isolationMs` they were stored with) is still open.
   */
  jobDeleteFinished(params: { olderThanMs: number; limit: number }): Promise<number>;

  /**
   * Pauses (`paused` true) or resumes a task by name: stored, so every process's next claim honours it.
   * Wakes other processes' workers (a resume lets them claim at once). Returns whether anything changed.
   */
  taskSetPaused(params: { name: string; paused: boolean }): Promise<boolean>;

  /** The names of paused tasks, sorted. */
  taskListPaused(): Promise<string[]>;

  /**
   * Milliseconds from the store's now until the earliest runnable job of these names becomes available
   * (0 if one already is; the lease expiry counts for dequeued jobs), or null if there is none.
   */
  jobNextAvailableIn(params: { names: string[] }): Promise<number | null>;

  /**
   * Starts delivering wake-ups from other processes (only called when `capabilities.crossProcessWakeups`).
   * Connection problems are passed to `onError` and retried with backoff; after a reconnect the
   * listener is called for every name, since notifications may have been missed meanwhile.
   * Resolves once listening; the returned function stops it.
   */
  listen(params: ListenParams): Promise<() => Promise<void>>;

  /**
   * Calls `callback` once the caller's transaction `tx` (used with `jobInsertMany`) has committed or
   * rolled back, so this process's workers can look for the jobs it stored. A store whose wake-ups are
   * transactional anyway (PostgreSQL NOTIFY reaches this process's listener at commit) does nothing.
   */
  afterTransaction(tx: unknown, callback: () => void): void;

  // ---- Composition: waiting, dead letters, dependencies, job-scoped transactions, checkpoints ----
  //
  // Dependencies: a job with parents that have not all completed is stored `enqueued` with `waitingParents`
  // and `availableAt` = WAITING_FOR_PARENTS_AT, so claims pass it by without a clause of their own. Where it
  // stands in line (enqueue time + delay) is kept like a claim's (`available_before_claim`). The write that
  // completes a parent counts its children down in the same transaction and makes a child whose count
  // reaches zero available at its place in line; the write that cancels a job (any cancel) cancels its
  // waiting descendants, each with the reason "parent job <id> was cancelled". Every write that completes
  // a job clears its checkpoint.

  /**
   * The jobs with these ids that exist, in no particular order. With `awaited`, each is also marked as
   * waited for, so that where `capabilities.crossProcessWakeups` the write that finishes it notifies
   * `listenFinished` listeners (the mark and the read are one statement, so no finish is missed between).
   */
  jobGetMany(params: { ids: string[]; awaited?: boolean }): Promise<StoredJob[]>;

  /**
   * Calls `onFinished(id)` when a job marked as awaited (see `jobGetMany`) completes or is cancelled in
   * any process. Only where `capabilities.crossProcessWakeups`; a hint (notifications may be lost while
   * reconnecting), so callers also poll. Resolves once listening; the returned function stops it.
   */
  listenFinished(params: { onFinished: (id: string) => void; onError: (error: Error) => void }): Promise<() => Promise<void>>;

  /**
   * Sends cancelled jobs back (dead letters re-run): status enqueued, available now (or waiting again for
   * parents that have not completed), crash count reset, finishedAt cleared; attempts, reason and errors
   * kept. Only jobs that are `cancelled` change. Returns those that did.
   */
  jobRetry(params: { ids: string[] }): Promise<StoredJob[]>;

  /** Deletes finished (completed or cancelled) jobs; live ones are left alone. Returns the ids deleted. */
  jobDelete(params: { ids: string[] }): Promise<Set<string>>;

  /** The jobs `id` runs after, in id order (parents deleted by retention are missing). */
  jobParents(params: { id: string }): Promise<StoredJob[]>;

  /** The jobs that run after `id` (its children), in id order: the other side of {@link Store.jobParents}. */
  jobChildren(params: { id: string }): Promise<StoredJob[]>;

  /** Stores the handler's checkpoint (JSON text), fenced. False if the lease was lost. */
  jobSetCheckpoint(params: AttemptRef & { checkpoint: string }): Promise<boolean>;

  /**
   * A job-scoped transaction: opens a transaction on a connection of the store's own (PostgreSQL: a pooled
   * client after BEGIN; SQLite: the store's handle after BEGIN IMMEDIATE, and `fn` must be synchronous),
   * runs `fn` with it, then completes the attempt `ref` (fenced) with `result(value)` as its result in the
   * same transaction, and commits. If the fence finds the lease lost, everything is rolled back and `job`
   * is null. Whatever `fn` or `result` throws rolls back and is rethrown as it is.
   */
  jobTransaction<T>(params: { ref: AttemptRef; fn: (tx: unknown) => T | Promise<T>; result: (value: T) => string }): Promise<{ value: T; job: StoredJob | null }>;
  /**
   * Everything an overview shows, in one call: counts per task and status, and the age of each task's
   * oldest ready job. Counting reads every row (finished ones included), so callers cache it.
   */
  jobStats(): Promise<StoreStats>;

  /**
   * Moves a waiting job (enqueued or failed) to a new availableAt, and wakes workers when it is due now.
   * Null if the job does not exist or is not waiting (running, finished).
   */
  jobReschedule(params: RescheduleParams): Promise<StoredJob | null>;

  /** An operator's cancel of many jobs at once (unfenced, like `jobCancel` without `attempt`). Returns the jobs cancelled. */
  jobCancelMany(params: { ids: string[]; reason: string }): Promise<StoredJob[]>;

  /**
   * The migrations this code knows that the database has not applied (all of them for an empty
   * database), read without changing anything.
   */
  pendingMigrations(): Promise<number[]>;

  /**
   * Declares a schedule: inserted, or replaced if one with this key exists. A new schedule, or one whose
   * `spec` changed, starts at the store's now (`lastSlot` = now: no slot before it is due).
   */
  scheduleUpsert(params: { schedule: NewSchedule }): Promise<void>;

  /** Removes a schedule. False if there was none. Jobs already enqueued for it stay. */
  scheduleDelete(params: { key: string }): Promise<boolean>;

  /** The schedules with these keys (all when `keys` is absent), by key, and the store's now (epoch ms). */
  scheduleList(params: { keys?: string[] }): Promise<{ now: number; schedules: StoredSchedule[] }>;

  /**
   * Hands out one slot, exactly once across processes: in one transaction, moves the schedule's `lastSlot`
   * forward to `slot` only if it is still before it and the schedule still has `spec` (a compare-and-set),
   * and if so inserts the slot's job (the schedule's name, data and priority; availableAt = slot; `label`
   * as its deduplication key). Returns the job, or null if the slot was handed out already (or the
   * schedule changed or is gone).
   */
  scheduleClaimSlot(params: SlotClaim): Promise<StoredJob | null>;

  /** Releases connections the store opened itself (a pool the user passed in stays open). Idempotent. */
  close(): Promise<void>;
}
