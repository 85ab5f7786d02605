/**
 * `postgres:` URLs and the PostgreSQL section of the queue's options, turned into a store.
 * @module
 */
import { ValidationError } from "../../errors.js";
import { checkInteger, checkKnownKeys, checkOptionsObject, describe } from "../../validate.js";
import type { OpenStoreParams } from "../registry.js";
import type { Store } from "../store.js";

/**
 * A `pg.Pool`, described by what hewn uses of it, so hewn's public types do not depend on `pg`'s.
 * Pass your own `new pg.Pool(…)`.
 */
export interface PostgresPool {
  connect(): Promise<unknown>;
  query(...args: never[]): unknown;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** Options of the PostgreSQL store: `Queue.open(url, { postgres: { … } })`. */
export interface PostgresOptions {
  /** The schema holding hewn's tables, created if missing. Lower-case letters, digits and `_`. Default `"hewn"`. */
  schema?: string;
  /** Connections in the pool hewn creates from the URL. Default 10. Not with `pool`. */
  poolSize?: number;
  /**
   * Your own `pg.Pool` instead of one created from the URL (which may then be omitted). It stays yours:
   * `close()` does not end it, and `durability: "fast"` does not change its settings.
   */
  pool?: PostgresPool;
}

export async function openPostgresStore({ url, settings, durability, onError }: OpenStoreParams): Promise<Store> {
  const options = checkOptionsObject(settings as PostgresOptions | undefined, "options.postgres");
  checkKnownKeys(options, ["schema", "poolSize", "pool"], "options.postgres");
  const schema = options.schema ?? "hewn";
  if (options.pool !== undefined && !isPool(options.pool)) {
    throw new ValidationError("options.postgres.pool", `must be a pg.Pool, got ${describe(options.pool)}`);
  }
  if (options.pool !== undefined && options.poolSize !== undefined) {
    throw new ValidationError("options.postgres.poolSize", "does not apply to a pool you pass in (size it yourself)");
  }
  const poolSize = checkInteger(options.poolSize ?? 10, "options.postgres.poolSize", 1, 1000);
  const [{ default: pg }, { PostgresStore }] = await Promise.all([import("pg"), import("./postgres-store.js")]);
  const ownsPool = options.pool === undefined;
  const pool = options.pool !== undefined
    ? (options.pool as unknown as InstanceType<typeof pg.Pool>)
    : new pg.Pool({
      connectionString: url,
      max: poolSize,
      application_name: "hewn",
      // Fast mode: commits return before their WAL reaches the disk; a server crash may lose the
      // last ones (never corrupts). Only for pools hewn creates: a pool you pass keeps your settings.
      ...(durability === "fast" && { options: "-c synchronous_commit=off" }),
    });
  try {
    return new PostgresStore({ pool, ownsPool, schema, onError });
  } catch (error) {
    if (ownsPool) await pool.end();
    throw error;
  }
}

function isPool(value: unknown): value is PostgresPool {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<Record<keyof PostgresPool, unknown>>;
  return typeof candidate.connect === "function" && typeof candidate.query === "function"
    && typeof candidate.end === "function" && typeof candidate.on === "function";
}
