/**
 * hewn on SQLite (a file under os.tmpdir(); WAL, synchronous = FULL as hewn sets it), at its defaults.
 * @module
 */
import Database from "better-sqlite3";
import type { Place, System } from "../adapter.js";
import { openHewn } from "./hewn.js";

const DAY_MS = 86_400_000;

export const hewnSqlite: System = {
  id: "hewn-sqlite",
  family: "hewn-sqlite",
  variant: "default",
  hewn: true,
  store: "sqlite",
  packages: ["better-sqlite3"],
  config: "Queue.open(`sqlite:<tmp file>`); define(name, handler, { workers: N }); defaults otherwise",
  open: (place: Place) => openHewn(`sqlite:${place.name}`, {}),
  /** Raw SQL into `hewn_jobs` (S6 preload only). No ANALYZE: nothing runs it for a SQLite user either. */
  async preload(place, kind, first, count) {
    const now = Date.now();
    const row = {
      finished: { status: "completed", availableAt: now - DAY_MS, finishedAt: now - DAY_MS, attempts: 1 },
      delayed: { status: "enqueued", availableAt: now + DAY_MS, finishedAt: null, attempts: 0 },
      ready: { status: "enqueued", availableAt: now, finishedAt: null, attempts: 0 },
    }[kind];
    const db = new Database(place.name, { timeout: 30_000 });
    try {
      db.prepare(`
        WITH RECURSIVE g(x) AS (SELECT @first UNION ALL SELECT x + 1 FROM g WHERE x < @last)
        INSERT INTO hewn_jobs (name, data, status, created_at, available_at, started_at, ended_at, finished_at, attempts, result)
        SELECT 'bench', json_object('i', x), @status, @now, @availableAt, @finishedAt, @finishedAt, @finishedAt, @attempts,
               CASE WHEN @finishedAt IS NULL THEN NULL ELSE 'null' END
        FROM g`).run({ first, last: first + count - 1, now, ...row });
    } finally {
      db.close();
    }
  },
};

/** What this file contributes to the registry (adapters/index.ts; worker-process.ts loads just this file). */
export const systems: readonly System[] = [hewnSqlite];
