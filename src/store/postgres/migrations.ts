/**
 * Schema migrations of the PostgreSQL store. Append-only: a released migration is never edited or
 * renumbered, since databases in the field record which versions they already ran.
 * @module
 */
import type pg from "pg";
import * as sql from "./sql.js";

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** DDL for the quoted schema; may hold several statements (run without parameters). */
  readonly up: (q: string) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "create jobs", up: sql.migration1 },
  { version: 2, name: "add crashes", up: sql.migration2 },
  { version: 3, name: "hot-path indexes", up: sql.migration3 },
  { version: 4, name: "add available_before_claim", up: sql.migration4 },
  { version: 5, name: "unique jobs and schedules", up: sql.migration5 },
  { version: 6, name: "composition: checkpoints, dependencies, awaited", up: sql.migration6 },
  { version: 7, name: "flow control", up: sql.migration7 },
  { version: 8, name: "admin indexes", up: sql.migration8 },
  { version: 10, name: "trace context", up: sql.migration10 },
];

/**
 * Brings `schema` up to the latest version in one transaction. The advisory lock comes first, so
 * processes migrating the same schema at once run one after another, and every later one finds the
 * versions already recorded and does nothing. DDL is transactional in PostgreSQL: a failed migration
 * leaves no half-built schema behind.
 */
export async function applyMigrations(pool: pg.Pool, schema: string): Promise<void> {
  const q = sql.quoteIdent(schema);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    try {
      await client.query(sql.lockMigrations, [sql.migrationLockKey(schema)]);
      const present = async (text: string, name: string) =>
        (await client.query<{ present: boolean }>(text, [name])).rows[0]?.present === true;
      if (!(await present(sql.schemaExists, q))) await client.query(sql.createSchema(q));
      if (!(await present(sql.ledgerExists, `${q}.migrations`))) await client.query(sql.createLedger(q));
      const applied = new Set(
        (await client.query<{ version: number }>(sql.appliedVersions(q))).rows.map((row) => row.version),
      );
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.up(q));
        await client.query(sql.recordMigration(q), [migration.version, migration.name]);
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    }
  } finally {
    // A connection that could not roll back is in an unknown state: destroy it rather than pool it.
    client.release(broken);
  }
}

/** The versions this code knows that `schema` has not applied (all for a missing schema), read without writing anything. */
export async function pendingMigrations(pool: pg.Pool, schema: string): Promise<number[]> {
  const q = sql.quoteIdent(schema);
  const ledger = await pool.query<{ present: boolean }>(sql.ledgerExists, [`${q}.migrations`]);
  const applied = new Set(ledger.rows[0]?.present === true
    ? (await pool.query<{ version: number }>(sql.appliedVersions(q))).rows.map((row) => row.version)
    : []);
  return MIGRATIONS.filter((migration) => !applied.has(migration.version)).map((migration) => migration.version);
}
