/**
 * The one interface every benchmarked system implements, and the shared plumbing adapters use to get
 * an isolated place to run in (a fresh PostgreSQL schema, a fresh SQLite file, a Redis key prefix).
 *
 * Adapters only translate these calls to a library's API. Everything a scenario measures or verifies
 * (timing, exactly-once counting, timeouts, child processes) lives in scenarios.ts and child.ts.
 * @module
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { Redis } from "ioredis";

/** Where a system keeps its data. */
export type Store = "postgres" | "sqlite" | "redis";

/** An isolated namespace, serialisable so that a child worker process can open the same one. */
export interface Place {
  readonly store: Store;
  /** PostgreSQL: the schema. SQLite: the file path. Redis: the key prefix (no trailing colon). */
  readonly name: string;
  /** PostgreSQL: the database URL. Redis: the server URL. SQLite: unused (""). */
  readonly url: string;
}

/** Called once per handler run with the job's index (from its payload `{ i }`). Must not throw. */
export type RunHandler = (index: number) => void;

/** Every benchmark job's payload. */
export interface BenchPayload {
  i: number;
}

/** An opened system on a place: producer and worker side in one object, like one app process. */
export interface Adapter {
  /** Stores one job with payload `{ i: index }`, resolving once it is stored. */
  enqueueOne(index: number): Promise<void>;
  /** Stores these jobs with the system's bulk API (one call). `delayMs` delays all of them. */
  enqueueMany(indexes: readonly number[], options?: { delayMs?: number }): Promise<void>;
  /** Starts workers running `handler`, at most `concurrency` handlers at a time in this process. */
  startWorkers(concurrency: number, handler: RunHandler): Promise<void>;
  /** Stops the workers gracefully (running handlers finish, their outcomes are written). */
  stopWorkers(): Promise<void>;
  /** Releases connections. Idempotent; the place itself stays (see dropPlace). */
  close(): Promise<void>;
  /** Errors the system reported in the background (error events, its logger, onError), in order. */
  readonly errors: string[];
}

/** One benchmarked configuration: a system at its defaults, or tuned. */
export interface System {
  /** Unique: `hewn-pg`, `pg-boss`, `pg-boss-tuned`, … (also the argument of worker-process.ts). */
  readonly id: string;
  /** The adapter file / family: `hewn-pg`, `pg-boss`, … (what `--systems` matches too). */
  readonly family: string;
  readonly variant: "default" | "tuned";
  /** Systems under test vs. peers: ratios are hewn's figure over a peer's. */
  readonly hewn: boolean;
  readonly store: Store;
  /** npm packages whose versions the report lists. */
  readonly packages: readonly string[];
  /** How it is configured, one line for the report. */
  readonly config: string;
  /**
   * The id of a system of the same library whose workers drain S1/S2's jobs for their exactly-once
   * check, when this one's own workers are too slow for that (the check is not timed).
   */
  readonly verifier?: string;
  /** Opens the system on `place` (creating or migrating its schema if needed). */
  open(place: Place): Promise<Adapter>;
  /**
   * Optional fast preload for S6 (raw SQL straight into the system's table, bypassing its API):
   * `finished` rows that completed long ago, `delayed` rows due in a day, `ready` rows available now.
   * Payload `{ i }` with i = first … first + count − 1.
   */
  preload?(place: Place, kind: "finished" | "delayed" | "ready", first: number, count: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Places

export const PG_URL = process.env.HEWN_BENCH_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/hewn_bench";
export const REDIS_URL = process.env.HEWN_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
/** Everything the bench creates starts with this, so a crashed run's leftovers can be found and removed. */
export const PREFIX = "hewnbench";
const SQLITE_PREFIX = `${PREFIX}-`;

/** A fresh, unique place for `store`; nothing is created yet (systems create their own schema). */
export function newPlace(store: Store, label: string): Place {
  const suffix = randomBytes(4).toString("hex");
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, "_").slice(0, 30);
  switch (store) {
    case "postgres":
      return { store, name: `${PREFIX}_${slug}_${suffix}`, url: PG_URL };
    case "sqlite":
      return { store, name: path.join(os.tmpdir(), `${SQLITE_PREFIX}${slug}-${suffix}.db`), url: "" };
    case "redis":
      return { store, name: `${PREFIX}:${slug}:${suffix}`, url: REDIS_URL };
  }
}

/** Removes everything a place holds: the schema, the SQLite file and its WAL, or the prefixed keys. */
export async function dropPlace(place: Place): Promise<void> {
  switch (place.store) {
    case "postgres":
      await withPg(place.url, (client) => client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(place.name)} CASCADE`));
      return;
    case "sqlite":
      for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(`${place.name}${suffix}`, { force: true });
      return;
    case "redis":
      await deleteRedisKeys(place.url, `${place.name}:*`);
      return;
  }
}

/** Creates the bench database if missing, and removes leftovers of earlier runs that died. */
export async function prepareStores(stores: ReadonlySet<Store>): Promise<void> {
  if (stores.has("postgres")) {
    const url = new URL(PG_URL);
    const database = decodeURIComponent(url.pathname.slice(1));
    const admin = new URL(PG_URL);
    admin.pathname = "/postgres";
    await withPg(admin.toString(), async (client) => {
      const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
      if (found.rowCount === 0) await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
    });
    await withPg(PG_URL, async (client) => {
      const { rows } = await client.query<{ nspname: string }>(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", [`${PREFIX}\\_%`]);
      for (const row of rows) await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(row.nspname)} CASCADE`);
    });
  }
  if (stores.has("redis")) await deleteRedisKeys(REDIS_URL, `${PREFIX}:*`);
  if (stores.has("sqlite")) {
    const { readdirSync } = await import("node:fs");
    for (const file of readdirSync(os.tmpdir())) {
      if (file.startsWith(SQLITE_PREFIX)) rmSync(path.join(os.tmpdir(), file), { force: true });
    }
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** One short-lived connection, for administration and raw preloads. */
export async function withPg<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: `${PREFIX}-admin` });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function deleteRedisKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** `[first, first + 1, …]`, `count` of them. */
export function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => first + k);
}
