/**
 * Knex: `enqueue(…, { tx: fromKnex(trx) })`, on PostgreSQL and SQLite.
 * @module
 */
import { ValidationError } from "../errors.js";
import { describe } from "../validate.js";
import { SqlTransaction } from "./sql-transaction.js";

/** What hewn uses of a Knex transaction: its `raw` query and the flag that marks it a transaction. */
export interface KnexTransactionLike {
  readonly isTransaction?: boolean;
  raw(sql: string, bindings: readonly unknown[]): PromiseLike<unknown>;
}

/**
 * Enqueue inside a Knex transaction: the `trx` of `knex.transaction(async (trx) => …)` or of
 * `await knex.transaction()`. The job commits or rolls back with it.
 * @throws ValidationError if `trx` is not a Knex transaction (the `knex` instance itself is refused:
 *   its queries would run outside your transaction).
 */
export function fromKnex(trx: KnexTransactionLike): SqlTransaction {
  if ((typeof trx !== "function" && typeof trx !== "object") || trx === null || typeof trx.raw !== "function") {
    throw new ValidationError("options.tx", `fromKnex: must be a Knex transaction, got ${describe(trx)}`);
  }
  if (trx.isTransaction !== true) {
    throw new ValidationError("options.tx", "fromKnex: is a Knex instance, not a transaction: pass the trx of knex.transaction()");
  }
  return new SqlTransaction({
    // Knex binds `?` on every dialect (and turns it into `$n` for PostgreSQL itself).
    query: async (text, values) => rowsOf(await trx.raw(text.replace(/\$\d+/g, "?"), values)),
  }, "fromKnex");
}

/** Knex's raw result is the driver's: pg's `{ rows }`, or better-sqlite3's array of rows. */
function rowsOf(result: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(result)) return result as Array<Record<string, unknown>>;
  const rows = (result as { rows?: unknown } | null)?.rows;
  if (Array.isArray(rows)) return rows as Array<Record<string, unknown>>;
  throw new TypeError(`fromKnex: unexpected raw result: ${describe(result)}`);
}
