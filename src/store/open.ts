/**
 * Turns what a user passes to `Queue.open` into a store. Drivers are imported lazily, so an
 * application on SQLite never loads `pg` and one on PostgreSQL never loads the native SQLite addon.
 * @module
 */
import path from "node:path";
import type pg from "pg";
import { ValidationError } from "../errors.js";
import { describe } from "../validate.js";
import type { Store } from "./store.js";

/** Where the jobs live: a URL (`sqlite:./jobs.db`, `postgres://…`) or an existing `pg.Pool`. */
export type QueueTarget = string | pg.Pool;

/** The URL used when none is given: a SQLite file in the working directory. */
export const DEFAULT_URL = "sqlite:./hewn.db";

export interface StoreOptions {
  /** PostgreSQL schema holding hewn's tables. */
  schema: string;
  /** Connections in the pool hewn creates for a `postgres://` URL. */
  poolSize: number;
  /** SQLite only: the clock, in epoch ms. */
  clock: (() => number) | undefined;
  durability: "full" | "fast";
  onError: (error: Error) => void;
}

export async function openStore(target: QueueTarget | undefined, options: StoreOptions): Promise<Store> {
  const given = target ?? DEFAULT_URL;
  if (typeof given === "string") {
    if (given.startsWith("sqlite:")) {
      const { SqliteStore } = await import("./sqlite/sqlite-store.js");
      return new SqliteStore({ filename: sqlitePath(given), clock: options.clock, durability: options.durability, onError: options.onError });
    }
    if (/^postgres(ql)?:\/\//.test(given)) {
      const { default: pgModule } = await import("pg");
      const pool = new pgModule.Pool({
        connectionString: given,
        max: options.poolSize,
        application_name: "hewn",
        // Fast mode: commits return before their WAL reaches the disk; a server crash may lose the
        // last ones (never corrupts). Only for pools hewn creates: a pool you pass keeps your settings.
        ...(options.durability === "fast" && { options: "-c synchronous_commit=off" }),
      });
      return postgresStore(pool, true, options);
    }
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(given)?.[1];
    throw new ValidationError("url", scheme
      ? `unknown scheme "${scheme}:"; use "sqlite:<file>" or "postgres://…"`
      : `"${given.slice(0, 100)}" is not a URL; use "sqlite:<file>" or "postgres://…"`);
  }
  if (isPool(given)) return postgresStore(given, false, options);
  throw new ValidationError("url", `must be a URL string or a pg.Pool, got ${describe(given)}`);
}

async function postgresStore(pool: pg.Pool, ownsPool: boolean, options: StoreOptions): Promise<Store> {
  const { PostgresStore } = await import("./postgres/postgres-store.js");
  try {
    return new PostgresStore({ pool, ownsPool, schema: options.schema, onError: options.onError });
  } catch (error) {
    if (ownsPool) await pool.end();
    throw error;
  }
}

/** `sqlite:./a.db`, `sqlite:a.db`, `sqlite:/abs/a.db` and `sqlite:///abs/a.db` all name a file. */
function sqlitePath(url: string): string {
  let file = url.slice("sqlite:".length);
  if (file.startsWith("//")) file = file.slice(2);
  if (file === "" || file === ":memory:" || file.startsWith("file:")) {
    throw new ValidationError("url", `"${url}" does not name a file; hewn keeps jobs in a SQLite file, e.g. "sqlite:./jobs.db"`);
  }
  return path.resolve(file);
}

function isPool(value: unknown): value is pg.Pool {
  return typeof value === "object" && value !== null
    && typeof (value as pg.Pool).connect === "function" && typeof (value as pg.Pool).query === "function"
    && typeof (value as pg.Pool).end === "function";
}
