/**
 * Bulk enqueue as S2 of `npm run bench` does it (enqueueMany in awaited batches), in one process, for
 * profiling: prints jobs/s and client CPU per job.
 *
 *   node --import tsx bench/profile/bulk.ts pg|sqlite [jobs=50000] [batch=1000]
 * @module
 */
import { openPlace } from "./place.js";

const [storeArg = "sqlite", jobsArg = "50000", batchArg = "1000"] = process.argv.slice(2);
const jobs = Number(jobsArg);
const batch = Number(batchArg);
const place = await openPlace(storeArg, "bulk");
const { queue } = place;
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
  await place.close();
}
