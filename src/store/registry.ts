/**
 * URL scheme → store. Each store lives in its own folder and is imported only when its scheme is used,
 * so an application on SQLite never loads `pg` and one on PostgreSQL never loads the native SQLite addon.
 *
 * Adding a store: a folder with the store and its `open` function, one entry in `SCHEMES`, and its
 * options type in `StoreSettings` (so `Queue.open(url, { <name>: … })` is typed). Nothing above the seam changes.
 * @module
 */
import { ValidationError } from "../errors.js";
import { describe } from "../validate.js";
import type { PostgresOptions } from "./postgres/open.js";
import type { SqliteOptions } from "./sqlite/open.js";
import type { Store } from "./store.js";
import type { SqlTransaction } from "../tx/sql-transaction.js";

/** Each store's own options, under its name in the queue's options. */
export interface StoreSettings {
  /** Options of the SQLite store (`sqlite:` URLs). */
  sqlite?: SqliteOptions;
  /** Options of the PostgreSQL store (`postgres:` and `postgresql:` URLs). */
  postgres?: PostgresOptions;
}

/**
 * What `enqueue(…, { tx })` accepts: the handle your open transaction runs on. PostgreSQL: the `pg`
 * client that ran BEGIN (or anything with pg's `query`). SQLite: your better-sqlite3 `Database` on the
 * same file, with a transaction open. Any store: an ORM's transaction through `fromKnex`, `fromKysely`,
 * `fromDrizzle`, `fromPrisma`, or a {@link SqlTransaction} of your own.
 */
export type TransactionHandle = PostgresTransaction | SqliteTransaction | SqlTransaction;

/** A `pg` client (or anything with pg's `query(config)`), inside BEGIN. */
export interface PostgresTransaction {
  query(...args: never[]): unknown;
}

/** A better-sqlite3 `Database`, described by what hewn uses of it. */
export interface SqliteTransaction {
  prepare(...args: never[]): unknown;
  readonly inTransaction: boolean;
  readonly name: string;
}

/** What every store's `open` receives. */
export interface OpenStoreParams {
  url: string;
  /** The store's own section of the options (unchecked: the store validates it). */
  settings: unknown;
  durability: "full" | "fast";
  /**
   * False when the caller will not migrate (`Queue.open(url, { migrate: false })`): the store must then
   * create nothing either (a SQLite file that does not exist stays so). Default true.
   */
  create?: boolean;
  /** Errors met outside any call (an idle pooled connection failing, a callback throwing). */
  onError: (error: Error) => void;
}

interface Scheme {
  /** The key of the store's options in `StoreSettings`. */
  readonly store: keyof StoreSettings;
  readonly open: (params: OpenStoreParams) => Promise<Store>;
}

const SCHEMES: Readonly<Record<string, Scheme>> = {
  sqlite: { store: "sqlite", open: async (params) => (await import("./sqlite/open.js")).openSqliteStore(params) },
  postgres: { store: "postgres", open: async (params) => (await import("./postgres/open.js")).openPostgresStore(params) },
  postgresql: { store: "postgres", open: async (params) => (await import("./postgres/open.js")).openPostgresStore(params) },
};

/** The URL used when none is given: a SQLite file in the working directory. */
export const DEFAULT_URL = "sqlite:./hewn.db";

/** The store names a `StoreSettings` may hold, for checking option keys. */
export const STORE_NAMES: readonly (keyof StoreSettings)[] = ["sqlite", "postgres"];

/**
 * Opens the store a URL names, handing it its own section of `settings`. Without a URL: PostgreSQL when
 * `settings.postgres.pool` is given (the application's own pool), else {@link DEFAULT_URL}.
 */
export async function openStore(
  url: string | undefined,
  settings: StoreSettings,
  params: Omit<OpenStoreParams, "url" | "settings">,
): Promise<Store> {
  if (url !== undefined && typeof url !== "string") throw new ValidationError("url", `must be a string, got ${describe(url)}`);
  const given = url ?? (settings.postgres?.pool !== undefined ? "postgres:" : DEFAULT_URL);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(given)?.[1]?.toLowerCase();
  const entry = scheme === undefined ? undefined : SCHEMES[scheme];
  const known = Object.keys(SCHEMES).map((name) => `"${name}:"`).join(", ");
  if (!entry) {
    throw new ValidationError("url", scheme
      ? `unknown scheme "${scheme}:" (known: ${known})`
      : `"${given.slice(0, 100)}" is not a URL; e.g. "sqlite:./jobs.db" or "postgres://user@host/db"`);
  }
  for (const name of STORE_NAMES) {
    if (name !== entry.store && settings[name] !== undefined) {
      throw new ValidationError(`options.${name}`, `does not apply to a "${scheme}:" URL`);
    }
  }
  return entry.open({ ...params, url: given, settings: settings[entry.store] });
}
