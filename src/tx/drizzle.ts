/**
 * Drizzle: `enqueue(…, { tx: fromDrizzle(tx) })` with node-postgres, and `enqueueSync(…, { tx: fromDrizzle(tx) })`
 * inside a better-sqlite3 transaction (which Drizzle runs synchronously).
 * @module
 */
import { ValidationError } from "../errors.js";
import type { PostgresTransaction, SqliteTransaction } from "../store/registry.js";
import { describe } from "../validate.js";

/**
 * A Drizzle transaction, as far as its public type shows: hewn reads the driver connection of its
 * session (`tx.session.client`, which Drizzle's types mark internal) at run time.
 */
export interface DrizzleTransactionLike {
  rollback(): unknown;
}

/**
 * The driver connection of a Drizzle transaction: node-postgres's client that ran BEGIN, or the
 * better-sqlite3 `Database` inside the transaction. hewn then enqueues on that connection exactly as
 * with a plain `pg` client or better-sqlite3 handle (so `enqueueSync` works inside Drizzle's synchronous
 * better-sqlite3 transactions). Reads Drizzle's `tx.session.client`, tested with drizzle-orm 0.45.
 * @throws ValidationError if `tx` is not a Drizzle transaction on node-postgres or better-sqlite3.
 */
export function fromDrizzle(tx: DrizzleTransactionLike): PostgresTransaction | SqliteTransaction {
  if (typeof tx !== "object" || tx === null || typeof tx.rollback !== "function") {
    throw new ValidationError("options.tx", `fromDrizzle: must be the tx of db.transaction((tx) => …), got ${describe(tx)}`);
  }
  const client = (tx as { session?: { client?: unknown } }).session?.client;
  if (typeof client !== "object" || client === null || !("query" in client || "prepare" in client)) {
    throw new ValidationError("options.tx", "fromDrizzle: found no node-postgres or better-sqlite3 connection in this transaction");
  }
  return client as PostgresTransaction | SqliteTransaction;
}
