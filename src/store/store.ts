/**
 * The storage seam. Internal: it may change at will; users talk to `Queue`.
 *
 * Operations are batch-first and semantic. Every outcome write (complete, fail, cancel by a worker,
 * extend, release, progress) is *fenced*: it only applies while the job is `dequeued` with the same
 * `attempts` value the worker claimed, so a worker whose lease was lost cannot overwrite anything.
 * Time comes from the store itself (the database clock on PostgreSQL, an injectable clock on SQLite).
 * @module
 */
import type { Job, JobStatus } from "../job.js";

/** A job as the store returns it: `data` and `result` parsed, plus a note if the payload could not be decoded. */
export interface StoredJob extends Job<unknown, unknown> {
  /** Set when the stored payload is not valid JSON; `data` is then `null`. Such a job is cancelled, never run. */
  dataError?: string;
}

/** A job to insert. `data` is already-validated JSON text, so it is serialised exactly once. */
export interface NewJob {
  name: string;
  data: string;
  /** Milliseconds from the store's now until the job is available (0 = now). */
  delayMs: number;
  priority: number;
  label: string | null;
  /**
   * Set when the enqueuing process will run the job itself at once (it has a free worker for the
   * task): the job is stored already claimed — `dequeued`, attempts 1, leased for this many ms — so it
   * starts without another round trip. Null: stored `enqueued`, for any worker to claim.
   */
  claimLeaseMs: number | null;
}

/** Claim up to `limit` available jobs named `name`, leasing each for `leaseMs`. */
export interface ClaimRequest {
  name: string;
  limit: number;
  leaseMs: number;
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

export interface FailItem extends AttemptRef {
  reason: string;
  /** Backoff: available again this many ms after the store's now. */
  delayMs: number;
  /** The new `errors` array as JSON text (the worker appends and trims). */
  errors: string;
}

export interface CancelItem {
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

export interface ListQuery {
  name?: string;
  status?: JobStatus;
  /** Only jobs with an id greater than this (cursor paging). */
  afterId?: string;
  limit: number;
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
}

/** Called with a task name when jobs for it may have become available. */
export type WakeListener = (name: string) => void;

export interface Store {
  readonly capabilities: StoreCapabilities;

  /** Creates or upgrades the schema. Safe to run from several processes at once. */
  migrate(): Promise<void>;

  /**
   * Inserts jobs in one statement and returns them in the same order.
   * With `tx` the insert joins the caller's open transaction (a `pg` client inside BEGIN, or a
   * better-sqlite3 handle); wake-ups then reach workers only after commit.
   * The SQLite store performs the insert synchronously, before the returned promise is created,
   * so it also works inside better-sqlite3's synchronous `db.transaction(fn)`.
   */
  insertJobs(jobs: NewJob[], tx?: unknown): Promise<StoredJob[]>;

  /**
   * Atomically claims available jobs (enqueued, failed, or dequeued with an expired lease) in order of
   * priority (higher first), then availableAt, then id: status → dequeued, attempts + 1, startedAt = now,
   * availableAt = now + leaseMs, endedAt cleared. Each request is limited separately.
   */
  claimJobs(requests: ClaimRequest[]): Promise<StoredJob[]>;

  /**
   * `completeJobs` and `claimJobs` in one transaction (one round trip, one commit): a busy worker writes
   * the jobs it just finished and takes its next ones together. Jobs being completed are never claimed
   * by the same call. Either part may be empty.
   */
  completeAndClaim(completions: CompleteItem[], requests: ClaimRequest[]): Promise<{ completed: Set<string>; claimed: StoredJob[] }>;

  /** Completes attempts in one statement (fenced). Returns the ids that were written; the others had lost their lease. */
  completeJobs(items: CompleteItem[]): Promise<Set<string>>;

  /** Fails one attempt (fenced): status failed, reason, endedAt = now, availableAt = now + delayMs. Null if fenced out. */
  failJob(item: FailItem): Promise<StoredJob | null>;

  /**
   * Cancels a job: status cancelled, reason, endedAt = finishedAt = now. Fenced on `attempt` when given;
   * otherwise applies to any job not completed or cancelled. Null if nothing changed.
   */
  cancelJob(item: CancelItem): Promise<StoredJob | null>;

  /** Renews leases (fenced). Returns the ids that were extended; the others had lost their lease. */
  extendLeases(items: ExtendItem[]): Promise<Set<string>>;

  /**
   * Gives leased jobs back at once (fenced): status enqueued, availableAt = now, endedAt = now, with
   * `reason`. With `unstarted`, the handlers never ran, so the claims are undone too (attempts − 1).
   * Returns the ids released.
   */
  releaseJobs(items: AttemptRef[], reason: string, unstarted?: boolean): Promise<Set<string>>;

  /** Records progress (fenced). False if the lease was lost. */
  setProgress(ref: AttemptRef, progress: number): Promise<boolean>;

  getJob(id: string): Promise<StoredJob | null>;

  /** Jobs in id order, filtered. */
  listJobs(query: ListQuery): Promise<StoredJob[]>;

  /** Number of jobs in each status (every status present, zero included), optionally for one task name. */
  countJobs(name?: string): Promise<Record<JobStatus, number>>;

  /** Deletes up to `limit` completed or cancelled jobs whose finishedAt is more than `olderThanMs` before now. */
  deleteFinished(olderThanMs: number, limit: number): Promise<number>;

  /**
   * Milliseconds from the store's now until the earliest runnable job of these names becomes available
   * (0 if one already is; the lease expiry counts for dequeued jobs), or null if there is none.
   */
  msUntilNextAvailable(names: string[]): Promise<number | null>;

  /**
   * Starts delivering wake-ups from other processes (only when `capabilities.crossProcessWakeups`).
   * Connection problems are passed to `onError` and retried with backoff; after a reconnect the
   * listener is called for every name, since notifications may have been missed meanwhile.
   * Resolves once listening; the returned function stops it.
   */
  listen(names: string[], onWake: WakeListener, onError: (error: Error) => void): Promise<() => Promise<void>>;

  /**
   * Calls `callback` once the caller's transaction `tx` has ended (committed or rolled back), for stores
   * whose wake-ups are not already transactional. Absent where they are (PostgreSQL NOTIFY).
   */
  afterTransaction?(tx: unknown, callback: () => void): void;

  /** Releases connections the store opened itself (a pool the user passed in stays open). Idempotent. */
  close(): Promise<void>;
}
