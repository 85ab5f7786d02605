/**
 * The SQLite schema's history, and the function that brings a database file up to date.
 * @module
 */
import type Database from "better-sqlite3";
import * as sql from "./sql.js";

export interface Migration {
  /** Applied in increasing order; recorded in `hewn_migrations` so it runs once per file. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Append-only: a released migration is never edited, removed or renumbered. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "create hewn_jobs", sql: sql.MIGRATION_1_CREATE_JOBS },
  { version: 2, name: "add crashes", sql: sql.MIGRATION_2_ADD_CRASHES },
  { version: 3, name: "hot-path indexes", sql: sql.MIGRATION_3_HOT_PATH_INDEXES },
  { version: 4, name: "add available_before_claim", sql: sql.MIGRATION_4_ADD_AVAILABLE_BEFORE_CLAIM },
  { version: 5, name: "unique jobs and schedules", sql: sql.MIGRATION_5_UNIQUE_AND_SCHEDULES },
  { version: 6, name: "composition: checkpoints, dependencies", sql: sql.MIGRATION_6_COMPOSITION },
  { version: 7, name: "flow control", sql: sql.MIGRATION_7_FLOW_CONTROL },
  { version: 8, name: "admin indexes", sql: sql.MIGRATION_8_ADMIN_INDEXES },
  { version: 10, name: "trace context", sql: sql.MIGRATION_10_TRACE_CONTEXT },
];

/**
 * Applies the migrations the file lacks, all in one BEGIN IMMEDIATE transaction, and returns their versions.
 * The write lock is taken before the ledger is read, so of several processes migrating a fresh file at
 * once the first applies everything and the others then find nothing left to do. Versions in the ledger
 * that this code does not know (a newer hewn migrated the file) are left alone.
 *
 * A file that is already up to date is recognised without the write lock, so processes starting on a
 * busy file do not queue behind its writers, and a read-only connection can open it.
 */
export function applyMigrations(db: Database.Database, clock: () => number): number[] {
  if (upToDate(db)) return [];
  const run = db.transaction((): number[] => {
    db.exec(sql.CREATE_MIGRATIONS_TABLE);
    const applied = new Set(db.prepare(sql.SELECT_MIGRATION_VERSIONS).pluck().all() as number[]);
    const record = db.prepare(sql.INSERT_MIGRATION);
    const done: number[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, clock());
      done.push(migration.version);
    }
    return done;
  });
  return run.immediate();
}

function upToDate(db: Database.Database): boolean {
  const ledger = db.prepare(sql.MIGRATIONS_TABLE_EXISTS).pluck().get();
  if (ledger === undefined) return false;
  const applied = new Set(db.prepare(sql.SELECT_MIGRATION_VERSIONS).pluck().all() as number[]);
  return MIGRATIONS.every((migration) => applied.has(migration.version));
}

/** The versions this code knows that the file has not applied, read without writing anything. */
export function pendingMigrations(db: Database.Database): number[] {
  const ledger = db.prepare(sql.MIGRATIONS_TABLE_EXISTS).pluck().get();
  const applied = new Set(ledger === undefined ? [] : (db.prepare(sql.SELECT_MIGRATION_VERSIONS).pluck().all() as number[]));
  return MIGRATIONS.filter((migration) => !applied.has(migration.version)).map((migration) => migration.version);
}
