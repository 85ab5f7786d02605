/**
 * Several OS processes on one database: every job completed exactly once, none left behind.
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { Queue } from "../../src/index.js";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { taskName, until } from "../helpers.js";
import { startWorker } from "./spawn.js";

const JOBS = 5_000;
const PROCESSES = 3;

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: several processes`, { skip }, () => {
    test(`${JOBS} jobs, ${PROCESSES} worker processes: each completed exactly once`, async (t) => {
      const loc = await harness.fresh();
      const dir = mkdtempSync(path.join(os.tmpdir(), "hewn-runs-"));
      t.after(async () => {
        await loc.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      const name = taskName("multi");
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      const items = Array.from({ length: JOBS }, (_, i) => ({ name, data: { i } }));
      // Half exist before the workers start, half arrive while they run.
      await queue.enqueueMany(items.slice(0, JOBS / 2));
      // Every handler waits at its process's gate, so a process that has filled its slots stops claiming
      // and cannot starve the others of the SQLite write lock before they have claimed anything.
      const workers = Array.from({ length: PROCESSES }, (_, i) => startWorker({
        url: loc.url, ...loc.queueOptions, name, workers: 8, interval: 50, runsFile: path.join(dir, `runs-${i}.txt`), gate: true,
      }, { stdin: true }));
      t.after(() => Promise.all(workers.map((worker) => worker.stop())));
      await Promise.all(workers.map((worker) => worker.line(/^holding$/, "a handler waiting at the gate")));
      // Every process holds claimed jobs at once: the claims overlapped. Now let them all run.
      for (const worker of workers) worker.closeStdin();
      for (let i = JOBS / 2; i < JOBS; i += 500) await queue.enqueueMany(items.slice(i, i + 500));
      const started = performance.now();
      await until(async () => (await queue.count(name)).completed === JOBS, `${JOBS} completions`, 100);
      const seconds = (performance.now() - started) / 1000;
      const codes = await Promise.all(workers.map((worker) => worker.stop()));
      assert.deepEqual(codes, Array(PROCESSES).fill(0), workers.map((worker) => worker.stderr()).join("\n"));

      const runs = new Map<string, number>();
      const perProcess = workers.map((_, i) => {
        const ids = readFileSync(path.join(dir, `runs-${i}.txt`), "utf8").split("\n").filter(Boolean);
        for (const id of ids) runs.set(id, (runs.get(id) ?? 0) + 1);
        return ids.length;
      });
      const duplicates = [...runs.values()].filter((count) => count > 1).length;
      t.diagnostic(`${harness.kind}: ${JOBS} jobs, ${PROCESSES} processes, runs per process ${perProcess.join("/")}, duplicates ${duplicates}, ${seconds.toFixed(1)} s after the last enqueue`);
      assert.equal(runs.size, JOBS);
      assert.equal(duplicates, 0);
      assert.deepEqual(await queue.count(name), { enqueued: 0, dequeued: 0, completed: JOBS, failed: 0, cancelled: 0 });
      assert.ok(perProcess.every((count) => count > 0), "every process took part");
    });
  });
}

describe("postgres: wake-ups across processes", { skip: (await postgresHarness.skipReason()) ?? false }, () => {
  test("an idle worker in another process starts a job committed in a transaction at once, not at its next poll", async (t) => {
    const loc = await postgresHarness.fresh();
    t.after(() => loc.drop());
    const name = taskName("notify");
    const queue = await Queue.open(loc.url, loc.queueOptions);
    t.after(() => queue.close());
    // A 60 s poll interval: only NOTIFY can start the job within the test's time.
    const worker = startWorker({ url: loc.url, ...loc.queueOptions, name, workers: 1, interval: 60_000, announceStarts: true });
    t.after(() => worker.stop());
    await worker.line(/^ready$/, "worker ready");
    const latencies: number[] = [];
    const client = new pg.Client({ connectionString: loc.url });
    await client.connect();
    t.after(() => client.end());
    for (let round = 0; round < 5; round++) {
      await client.query("BEGIN");
      const { id } = await queue.enqueue(name, { round }, { tx: client });
      const committing = Date.now(); // the NOTIFY can only be delivered after this COMMIT
      await client.query("COMMIT");
      const line = await worker.line(new RegExp(`^start ${id} `), `start of job ${id}`);
      latencies.push(Number(line.split(" ")[2]) - committing);
    }
    latencies.sort((a, b) => a - b);
    t.diagnostic(`commit → handler start in another process: ${latencies.join(", ")} ms`);
    // Generous against a noisy machine; the poll interval (60 s) is far beyond it.
    assert.ok((latencies[2] ?? Infinity) < 1000, `median latency ${latencies[2]} ms`);
  });
});
