/**
 * What the profiling scripts share: a fresh place for one queue (a SQLite file under the temp folder, or
 * a PostgreSQL schema), the queue opened on it from src/ or, with HEWN_FROM=dist, from the compiled
 * package, and the clean-up. (rss.mjs, plain JavaScript on purpose, has its own.)
 * @module
 */
import os from "node:os";
import path from "node:path";
import { rmSync } from "node:fs";
import pg from "pg";
import type { Queue as QueueClass } from "../../src/index.js";

/** The database the PostgreSQL runs use. */
export const PG_URL = process.env.HEWN_BENCH_PG ?? "postgres://root@127.0.0.1:5432/test";

export interface ProfilePlace {
  readonly queue: QueueClass;
  /** The SQLite file (on PostgreSQL: unused). */
  readonly file: string;
  /** The PostgreSQL schema (on SQLite: unused). */
  readonly schema: string;
  /** Closes the queue and removes the place. */
  close(): Promise<void>;
}

/** Opens a queue on a new place named after `prefix` and this process. */
export async function openPlace(store: string, prefix: string): Promise<ProfilePlace> {
  const { Queue } = (await import(process.env.HEWN_FROM === "dist" ? "../../dist/index.js" : "../../src/index.js")) as { Queue: typeof QueueClass };
  const schema = `hewn_${prefix}_${process.pid}`;
  const file = path.join(os.tmpdir(), `hewn-${prefix}-${process.pid}.db`);
  const queue = await Queue.open(store === "pg" ? PG_URL : `sqlite:${file}`, { ...(store === "pg" && { postgres: { schema } }) });
  return {
    queue, file, schema,
    async close() {
      await queue.close();
      if (store === "pg") {
        const client = new pg.Client(PG_URL);
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      } else {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
      }
    },
  };
}
