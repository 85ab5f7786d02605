/**
 * Peak memory of a worker draining N jobs, on the compiled package (dist/) in plain Node (no tsx, no
 * TypeScript loader in the process): pre-loads N jobs, drains them with one queue, samples RSS every
 * 25 ms and reads the kernel's high-water mark (VmHWM) at the end. Plain JavaScript so that nothing
 * but hewn and its driver is loaded.
 *
 *   npm run build && node bench/profile/rss.mjs sqlite|pg [jobs=1000000] [workers=10]
 * @module
 */
import os from "node:os";
import path from "node:path";
import { readFileSync, rmSync } from "node:fs";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Queue } from "../../dist/index.js";

const [storeArg = "sqlite", jobsArg = "1000000", workersArg = "10", loadInto] = process.argv.slice(2);
const jobs = Number(jobsArg);
const workers = Number(workersArg);
const PG_URL = process.env.HEWN_BENCH_PG ?? "postgres://root@127.0.0.1:5432/test";
// The backlog is loaded by a child process (this file with a fourth argument), so that the worker's
// high-water mark counts only the drain.
const place = loadInto ?? `hewn_rss_${process.pid}`;
const schema = place;
const file = path.join(os.tmpdir(), `${place}.db`);
const mb = (bytes) => Math.round(bytes / 1024 / 1024 * 10) / 10;
const vmHwmMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN) / 1024;

if (loadInto !== undefined) {
  const loader = await Queue.open(storeArg === "pg" ? PG_URL : `sqlite:${file}`, storeArg === "pg" ? { postgres: { schema } } : {});
  for (let first = 0; first < jobs; first += 10_000) {
    const count = Math.min(10_000, jobs - first);
    await loader.enqueueMany(Array.from({ length: count }, (_, k) => ({ name: "rss", data: { i: first + k } })));
  }
  await loader.close();
  process.exit(0);
}
const loaded = fork(fileURLToPath(import.meta.url), [storeArg, jobsArg, workersArg, place], { stdio: "inherit" });
const loadCode = await new Promise((resolve) => loaded.on("exit", resolve));
if (loadCode !== 0) throw new Error(`loading the backlog failed (exit ${loadCode})`);
const queue = await Queue.open(storeArg === "pg" ? PG_URL : `sqlite:${file}`, storeArg === "pg" ? { postgres: { schema } } : {});
try {
  const rssBeforeDrain = process.memoryUsage.rss();
  let done = 0;
  let finish;
  const drained = new Promise((resolve) => (finish = resolve));
  let peak = rssBeforeDrain;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 25);
  queue.define("rss", () => {
    if (++done === jobs) finish();
    return null;
  }, { workers });
  const started = performance.now();
  await queue.start();
  await drained;
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({
    store: storeArg, jobs, workers, jobsPerSecond: Math.round(jobs / seconds),
    rssBeforeDrainMb: mb(rssBeforeDrain), peakRssDuringDrainMb: mb(peak), vmHwmMb: Math.round(vmHwmMb() * 10) / 10,
  }));
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
