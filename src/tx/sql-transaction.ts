/**
 * The one contract through which hewn enqueues inside a transaction it did not open and has no driver
 * handle for: run one SQL statement, with positional parameters, on that transaction's connection, and
 * give back the rows. Every ORM can do that (Knex `raw`, Kysely `executeQuery`, Prisma
 * `$queryRawUnsafe`), so each adapter in this folder is a few lines. Stores recognise a
 * {@link SqlTransaction} and use statements written for it: one JSON parameter in, one JSON text column
 * out, so nothing depends on how the ORM binds arrays, parses timestamps or renames result columns.
 * @module
 */
import { ValidationError } from "../errors.js";

/** Runs SQL inside the caller's open transaction. Implement it to enqueue through a library hewn has no adapter for. */
export interface SqlExecutor {
  /**
   * Runs `text` with `values` bound to its placeholders, on the connection of the caller's transaction,
   * and resolves to the rows it returned (objects keyed by column name).
   * Placeholders are PostgreSQL's `$1`, `$2`, … or SQLite's `?`; each appears once, in the order of `values`.
   */
  query(text: string, values: readonly unknown[]): PromiseLike<ReadonlyArray<Record<string, unknown>>>;
}

/**
 * A transaction of some library, as `enqueue(…, { tx })` takes it. Made by {@link fromKnex},
 * {@link fromKysely}, {@link fromPrisma}, or `new SqlTransaction({ query })` for anything else.
 * Roll the transaction back and the job never existed; workers are woken after it commits.
 */
export class SqlTransaction {
  readonly #executor: SqlExecutor;
  /** Which library it came from, for error messages. */
  readonly source: string;

  /**
   * @param executor runs SQL in the caller's transaction (see {@link SqlExecutor}).
   * @param source names the library in error messages. Default `"SqlTransaction"`.
   */
  constructor(executor: SqlExecutor, source = "SqlTransaction") {
    if (typeof executor !== "object" || executor === null || typeof executor.query !== "function") {
      throw new ValidationError("options.tx", `${source}: needs an object with a query(text, values) method`);
    }
    this.#executor = executor;
    this.source = source;
  }

  /** Runs one statement in the transaction (see {@link SqlExecutor.query}). */
  async query(text: string, values: readonly unknown[]): Promise<ReadonlyArray<Record<string, unknown>>> {
    const rows: unknown = await this.#executor.query(text, values);
    if (!Array.isArray(rows)) throw new TypeError(`${this.source}: query() must resolve to an array of rows`);
    return rows as ReadonlyArray<Record<string, unknown>>;
  }
}

/** The value of a row's only column (whatever the ORM renamed it to), for single-column statements. */
export function onlyValue(row: Record<string, unknown> | undefined): unknown {
  return row === undefined ? undefined : Object.values(row)[0];
}
