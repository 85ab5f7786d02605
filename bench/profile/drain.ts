/**
 * A drain to profile: pre-loads N jobs, then drains them with one queue in this process and prints
 * jobs/s and the CPU spent per job (µs) by this process and, on PostgreSQL, by the server's processes
 * (all `postgres` processes on the machine, so run it on a quiet one). Run it under `node --cpu-prof` to see where that CPU goes
 * (bench/profile/top-frames.ts summarises the profile). Not part of `npm run bench`: no peers, one process.
 *
 *   node --import tsx bench/profile/drain.ts sqlite 40000 50
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile/drain.ts pg 40000 50
 *   npm run build && HEWN_FROM=dist node --cpu-prof --import tsx bench/profile/drain.ts pg 40000 50
 * @module
 */
import { readFileSync, readdirSync } from "node:fs";
import { openPlace } from "./place.js";

const [storeArg = "sqlite", jobsArg = "40000", workersArg = "50"] = process.argv.slice(2);
const jobs = Number(jobsArg);
const workers = Number(workersArg);

/** CPU time (µs) of every `postgres` process on this machine, from /proc (Linux); the server's share of a drain. */
function serverCpuUs(): number {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      if (!stat.slice(stat.indexOf("(") + 1, close).startsWith("postgres")) continue;
      const fields = stat.slice(close + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return (ticks * 1e6) / 100;
}

// HEWN_FROM=dist profiles the compiled package (npm run build first): what users run, with real line numbers.
const place = await openPlace(storeArg, "profile");
const { queue } = place;
try {
  for (let first = 0; first < jobs; first += 5_000) {
    const count = Math.min(5_000, jobs - first);
    await queue.enqueueMany(Array.from({ length: count }, (_, k) => ({ name: "bench", data: { i: first + k } })));
  }
  let done = 0;
  let finish!: () => void;
  const drained = new Promise<void>((resolve) => (finish = resolve));
  queue.define<{ i: number }>("bench", () => {
    if (++done === jobs) finish();
    return null;
  }, { workers });
  const cpuBefore = process.cpuUsage();
  const serverBefore = serverCpuUs();
  const started = performance.now();
  await queue.start();
  await drained;
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const server = serverCpuUs() - serverBefore;
  console.log(JSON.stringify({
    store: storeArg, jobs, workers, jobsPerSecond: Math.round(jobs / (ms / 1000)),
    clientCpuUsPerJob: Math.round((cpu.user + cpu.system) / jobs), cores: +((cpu.user + cpu.system) / 1000 / ms).toFixed(2),
    ...(storeArg === "pg" && { serverCpuUsPerJob: Math.round(server / jobs) }),
  }));
} finally {
  await place.close();
}
