/**
 * hewn on PostgreSQL, at its defaults (pool of 10, LISTEN/NOTIFY wake-ups, 1 s poll fallback).
 * @module
 */
import { quoteIdent, withPg, type Place, type System } from "../adapter.js";
import { openHewn } from "./hewn.js";

const STATUS_SQL = {
  finished: `'completed', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 1, 'null'`,
  delayed: `'enqueued', now() + interval '1 day', NULL, NULL, NULL, 0, NULL`,
  ready: `'enqueued', now(), NULL, NULL, NULL, 0, NULL`,
} as const;

export const hewnPg: System = {
  id: "hewn-pg",
  family: "hewn-pg",
  variant: "default",
  hewn: true,
  store: "postgres",
  packages: ["pg"],
  config: "Queue.open(url, { postgres: { schema } }); define(name, handler, { workers: N }); defaults otherwise",
  open: (place: Place) => openHewn(place.url, { postgres: { schema: place.name } }),
  /** Raw SQL into `<schema>.jobs` (S6 preload only), then ANALYZE as autovacuum would soon do. */
  async preload(place, kind, first, count) {
    const table = `${quoteIdent(place.name)}.jobs`;
    await withPg(place.url, async (client) => {
      await client.query(
        `INSERT INTO ${table} (name, data, status, available_at, started_at, ended_at, finished_at, attempts, result)
         SELECT 'bench', json_build_object('i', g), ${STATUS_SQL[kind]}
         FROM generate_series($1::int, $2::int) AS g`,
        [first, first + count - 1],
      );
      await client.query(`ANALYZE ${table}`);
    });
  },
};

/** What this file contributes to the registry (adapters/index.ts; worker-process.ts loads just this file). */
export const systems: readonly System[] = [hewnPg];
