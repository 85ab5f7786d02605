/**
 * Every benchmarked system, in report order: hewn first, then each peer at its defaults and tuned.
 * A worker process loads only its own adapter file (see loadSystem), not every library.
 * @module
 */
import type { System } from "../adapter.js";
import { systems as bullmqPg } from "./bullmq-pg.js";
import { systems as bullmqRedis } from "./bullmq-redis.js";
import { systems as graphileWorker } from "./graphile-worker.js";
import { systems as hewnPg } from "./hewn-pg.js";
import { systems as hewnSqlite } from "./hewn-sqlite.js";
import { systems as pgBoss } from "./pg-boss.js";

export const SYSTEMS: readonly System[] = [...hewnPg, ...hewnSqlite, ...pgBoss, ...graphileWorker, ...bullmqRedis, ...bullmqPg];

export function systemById(id: string): System {
  const system = SYSTEMS.find((candidate) => candidate.id === id);
  if (!system) throw new Error(`unknown system "${id}"; known: ${SYSTEMS.map((s) => s.id).join(", ")}`);
  return system;
}
