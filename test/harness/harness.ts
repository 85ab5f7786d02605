/**
 * What the conformance suite needs from each store under test: a fresh, isolated place per test
 * (a new SQLite file, a new PostgreSQL schema), and a few raw-SQL levers to reach states quickly.
 */
import type { QueueOptions, TransactionHandle } from "../../src/index.js";
import type { Store } from "../../src/store/store.js";

export interface StoreHarness {
  /** "sqlite" or "postgres". */
  readonly kind: "sqlite" | "postgres";
  /** Why the suite must be skipped here (e.g. no PostgreSQL outside CI), or null to run it. */
  skipReason(): Promise<string | null>;
  /** A new isolated location. Call `drop()` when done. */
  fresh(): Promise<TestLocation>;
}

export interface TestLocation {
  /** The URL to give `Queue.open` (and to child processes). */
  readonly url: string;
  /** PostgreSQL: the schema of this location. */
  readonly schema?: string;
  /** Options `Queue.open` needs for this location besides the URL (e.g. `{ postgres: { schema } }`). */
  readonly queueOptions: Pick<QueueOptions, "postgres">;
  /** Opens a store on this location directly (already migrated). Closed by `drop()` if still open. */
  openStore(): Promise<Store>;
  /** Makes the job's lease (or delay) run out now, as if time had passed: availableAt = now - 1 s. */
  makeAvailableNow(id: string): Promise<void>;
  /** Moves the job's finishedAt `ms` into the past, as if it had finished that much earlier. */
  backdateFinished(id: string, ms: number): Promise<void>;
  /** Runs one statement on the location's jobs table; `{table}` in the SQL is replaced with its qualified name. */
  exec(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /**
   * Runs `fn` inside a transaction on the user's own connection to this location (a `pg` client, or a
   * separate better-sqlite3 handle on the same file), handing it the value to pass as `tx`, then
   * commits or rolls back.
   */
  transaction(commit: boolean, fn: (tx: TransactionHandle) => Promise<void>): Promise<void>;
  /** Removes the file or schema and closes anything opened through this location. */
  drop(): Promise<void>;
}
