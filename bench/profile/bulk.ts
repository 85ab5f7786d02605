/**
 * Bulk enqueue as S2 of `npm run bench` does it (enqueueMany in awaited batches), in one process, for
 * profiling: prints jobs/s and client CPU per job.
 *
 *   node --import tsx bench/profile/bulk.ts pg|sqlite [jobs=50000] [batch=1000]
 * @module
 */
import os from "node:os";
import path from "node:path";
import { rmSync } from "node:fs";
import pg from "pg";
import type { Queue as QueueClass } from "../../src/index.js";

const { Queue } = (await import(process.env.HEWN_FROM === "dist" ? "../../dist/index.js" : "../../src/index.js")) as { Queue: typeof QueueClass };
const [storeArg = "sqlite", jobsArg = "50000", batchArg = "1000"] = process.argv.slice(2);
const jobs = Number(jobsArg);
const batch = Number(batchArg);
const PG_URL = process.env.HEWN_BENCH_PG ?? "postgres://root@127.0.0.1:5432/test";
const schema = `hewn_bulk_${process.pid}`;
const file = path.join(os.tmpdir(), `hewn-bulk-${process.pid}.db`);
const queue = await Queue.open(storeArg === "pg" ? PG_URL : `sqlite:${file}`, { ...(storeArg === "pg" && { postgres: { schema } }) });
try {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let first = 0; first < jobs; first += batch) {
    const count = Math.min(batch, jobs - first);
    await queue.enqueueMany(Array.from({ length: count }, (_, k) => ({ name: "bulk", data: { i: first + k } })));
  }
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  console.log(JSON.stringify({ store: storeArg, jobs, batch, jobsPerSecond: Math.round(jobs / (ms / 1000)), clientCpuUsPerJob: Math.round((cpu.user + cpu.system) / jobs) }));
} finally {
  await queue.close();
  if (storeArg === "pg") {
    const client = new pg.Client(PG_URL);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  } else {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
  }
}
