/**
 * Kysely: `enqueue(…, { tx: fromKysely(trx) })`, on PostgreSQL and SQLite.
 * @module
 */
import { ValidationError } from "../errors.js";
import { describe } from "../validate.js";
import { SqlTransaction } from "./sql-transaction.js";

/**
 * A raw compiled query, shaped as Kysely's `CompiledQuery.raw(sql, parameters)` makes it (built here so
 * hewn need not import Kysely): the driver runs `sql` with `parameters`; plugins key their state by `queryId`.
 */
export interface KyselyRawQuery {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly query: { readonly kind: "RawNode"; readonly sqlFragments: readonly string[]; readonly parameters: readonly never[] };
  readonly queryId: { readonly queryId: string };
}

/** What hewn uses of a Kysely transaction: `executeQuery` and the flag that marks it a transaction. */
export interface KyselyTransactionLike {
  readonly isTransaction: boolean;
  executeQuery(query: KyselyRawQuery): Promise<{ readonly rows: readonly unknown[] }>;
}

let nextQueryId = 0;

/**
 * Enqueue inside a Kysely transaction: the `trx` of `db.transaction().execute(async (trx) => …)`.
 * The job commits or rolls back with it.
 * @throws ValidationError if `trx` is not a Kysely transaction (the `db` itself is refused: its
 *   queries would run outside your transaction).
 */
export function fromKysely(trx: KyselyTransactionLike): SqlTransaction {
  if (typeof trx !== "object" || trx === null || typeof trx.executeQuery !== "function") {
    throw new ValidationError("options.tx", `fromKysely: must be a Kysely transaction, got ${describe(trx)}`);
  }
  if (trx.isTransaction !== true) {
    throw new ValidationError("options.tx", "fromKysely: is a Kysely instance, not a transaction: pass the trx of db.transaction().execute(…)");
  }
  return new SqlTransaction({
    query: async (sql, parameters) => {
      const query = { kind: "RawNode", sqlFragments: [sql], parameters: [] } as const;
      const result = await trx.executeQuery({ sql, parameters, query, queryId: { queryId: `hewn-${++nextQueryId}` } });
      return result.rows as Array<Record<string, unknown>>;
    },
  }, "fromKysely");
}
