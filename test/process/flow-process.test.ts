/**
 * Flow limits across real processes, on each store: the global concurrency measured from the handlers'
 * own start and end times, and the rate limit's sliding window measured from the starts the store
 * recorded. The figures are printed as diagnostics (docs/flow-control.md quotes them).
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../../src/index.js";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { taskName, until } from "../helpers.js";
import { startWorker, type WorkerProcess } from "./spawn.js";

const FIXTURE = new URL("../fixtures/flow-worker.ts", import.meta.url).pathname;

/** One handler run, from a worker's `run` line. */
interface Run {
  id: string;
  group: string | null;
  start: number;
  end: number;
}

function runsOf(workers: WorkerProcess[]): Run[] {
  return workers.flatMap((worker) => worker.lines().filter((line) => line.startsWith("run ")).map((line) => {
    const [, id, group, start, end] = line.split(" ");
    return { id: id!, group: group === "-" ? null : group!, start: Number(start), end: Number(end) };
  }));
}

/** The most intervals open at one moment (an end at the same instant as a start closes first). */
export function maxOverlap(runs: Run[]): number {
  const events = runs.flatMap((run) => [[run.start, 1], [run.end, -1]] as const);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, delta] of events) max = Math.max(max, (open += delta));
  return max;
}

/** The most times in any half-open window [t, t + width). */
export function maxInWindow(times: number[], width: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! >= width) first++;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: flow limits across processes`, { skip }, () => {
    async function cluster(t: { after(fn: () => Promise<unknown>): void }, count: number, config: Record<string, unknown>) {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      const name = taskName("flow");
      const workers = Array.from({ length: count }, () => startWorker({ url: loc.url, ...loc.queueOptions, name, ...config }, { fixture: FIXTURE }));
      t.after(() => Promise.all(workers.map((worker) => worker.stop())));
      await Promise.all(workers.map((worker) => worker.line(/^ready$/, "worker ready")));
      return { queue, name, workers };
    }

    test("3 processes × workers 5, concurrency 3: at most 3 handlers run at once, and 3 do", async (t) => {
      const JOBS = 90;
      const { queue, name, workers } = await cluster(t, 3, { workers: 5, concurrency: 3, workMs: 20 });
      await queue.enqueueMany(Array.from({ length: JOBS }, (_, i) => ({ name, data: { i } })));
      await until(async () => (await queue.count(name)).completed === JOBS, `${JOBS} completions`, 50);
      const codes = await Promise.all(workers.map((worker) => worker.stop()));
      assert.deepEqual(codes, [0, 0, 0], workers.map((worker) => worker.stderr()).join("\n"));
      const runs = runsOf(workers);
      const perProcess = workers.map((worker) => worker.lines().filter((line) => line.startsWith("run ")).length);
      const max = maxOverlap(runs);
      t.diagnostic(`${harness.kind}: ${runs.length} runs (per process ${perProcess.join("/")}), most handlers at once ${max}`);
      assert.equal(runs.length, JOBS);
      assert.equal(max, 3);
    });

    test("rateLimit { limit: 20, per: 1000 } over 5 s in 2 processes: no 1,000 ms window holds more than 20 starts; ≥ 90 starts", async (t) => {
      const RUN_MS = 5_000;
      const { queue, name, workers } = await cluster(t, 2, { workers: 5, rateLimit: { limit: 20, per: 1000 }, workMs: 1 });
      // Before the enqueue: workers may start the first jobs while enqueueMany returns.
      const begun = Date.now();
      await queue.enqueueMany(Array.from({ length: 400 }, (_, i) => ({ name, data: { i } })));
      // Runs while the limit holds the backlog back; the store's startedAt is each start.
      await until(async () => Date.now() - begun >= RUN_MS, "the run's duration", 100);
      await Promise.all(workers.map((worker) => worker.stop()));
      const started = (await queue.list({ name, limit: 1000 })).filter((job) => job.startedAt !== null);
      const storeStarts = started.map((job) => job.startedAt!.getTime());
      const inRun = storeStarts.filter((at) => at < begun + RUN_MS).length;
      const windowMax = maxInWindow(storeStarts, 1000);
      const handlerMax = maxInWindow(runsOf(workers).map((run) => run.start), 1000);
      const byId = new Map(started.map((job) => [job.id, job.startedAt!.getTime()]));
      const lags = runsOf(workers).map((run) => run.start - (byId.get(run.id) ?? run.start)).sort((x, y) => x - y);
      t.diagnostic(`lag claim→handler: median ${lags[lags.length >> 1]?.toFixed(1)} max ${lags.at(-1)?.toFixed(1)} min ${lags[0]?.toFixed(1)}`);
      t.diagnostic(`${harness.kind}: ${inRun} starts in ${RUN_MS} ms (${storeStarts.length} in all); most starts in a 1,000 ms window: ${windowMax} by the store's clock, ${handlerMax} by the handlers'`);
      assert.ok(windowMax <= 20, `a window held ${windowMax} starts`);
      assert.ok(inRun >= 90, `only ${inRun} starts in ${RUN_MS} ms`);
      // A job the shutdown handed back may be claimed again by the other process: only waiting jobs are checked.
      const waiting = (await queue.list({ name, limit: 1000 })).filter((job) => job.startedAt === null);
      assert.ok(waiting.length > 0 && waiting.every((job) => job.attempts === 0), "held jobs' attempts grew");
    });
  });
}
