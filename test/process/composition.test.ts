/**
 * Composition across real processes: a fan-out/fan-in graph run by three worker processes, and
 * job-scoped transactions surviving a SIGKILL before their commit.
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "../../src/index.js";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { taskName, within } from "../helpers.js";
import { startWorker } from "./spawn.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/compose-worker.ts", import.meta.url));
const MIDDLE = 100;
const PROCESSES = 3;

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: composition across processes`, { skip }, () => {
    test(`a 1 → ${MIDDLE} → 1 graph over ${PROCESSES} processes: each job runs once, the join after all ${MIDDLE}`, async (t) => {
      const loc = await harness.fresh();
      const dir = mkdtempSync(path.join(os.tmpdir(), "hewn-graph-"));
      t.after(async () => {
        await loc.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      const prefix = taskName("graph");
      const runsFile = path.join(dir, "runs.txt");
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      const workers = Array.from({ length: PROCESSES }, () =>
        startWorker({ url: loc.url, ...loc.queueOptions, prefix, mode: "graph", runsFile }, { fixture: FIXTURE }));
      t.after(() => Promise.all(workers.map((worker) => worker.stop())));
      await Promise.all(workers.map((worker) => worker.line(/^ready$/, "worker ready")));

      const started = performance.now();
      const jobs = await queue.enqueueMany([
        { name: `${prefix}-root` },
        ...Array.from({ length: MIDDLE }, () => ({ name: `${prefix}-mid`, after: [0] })),
        { name: `${prefix}-final`, after: Array.from({ length: MIDDLE }, (_, i) => i + 1) },
      ]);
      const final = await within(queue.waitFor(jobs[MIDDLE + 1]!.id), "the final job");
      const seconds = (performance.now() - started) / 1000;
      assert.deepEqual(final.result, { parents: MIDDLE, allCompleted: true });

      const runs = readFileSync(runsFile, "utf8").split("\n").filter(Boolean).map((line) => line.split(" "));
      const perJob = new Map<string, number>();
      for (const [id] of runs) perJob.set(id!, (perJob.get(id!) ?? 0) + 1);
      const pids = new Set(runs.filter(([, task]) => task === "mid").map(([, , pid]) => pid));
      t.diagnostic(`${harness.kind}: ${MIDDLE + 2} jobs in ${seconds.toFixed(2)} s, middle jobs ran in ${pids.size} processes, ${runs.length} runs`);
      assert.equal(perJob.size, MIDDLE + 2, "every job ran");
      assert.ok([...perJob.values()].every((count) => count === 1), "no job ran twice");
      const stored = await Promise.all(jobs.map((job) => queue.get(job.id)));
      assert.ok(stored.every((job) => job?.status === "completed" && job.attempts === 1));
      // Order is checked by cause, not by stored times: each handler read its parents when it started.
      // (PostgreSQL's now() is taken when a statement arrives, before its snapshot, so under load a claim
      // that saw a parent's commit can still carry an earlier started_at than that parent's finished_at.)
      const early = runs.filter(([, , , order]) => order !== "after-parents");
      assert.deepEqual(early, [], "every job started after all its parents had completed");
    });
  });
}

const KILLS = 3;

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: job-scoped transactions and SIGKILL`, { skip }, () => {
    test(`SIGKILL inside ctx.transaction before commit ×${KILLS}: another process re-runs each job; each row exists exactly once`, async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const table = harness.kind === "postgres" ? `"${loc.schema}".tx_effects` : "tx_effects";
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      await loc.exec(`CREATE TABLE ${table} (job_id TEXT NOT NULL)`);
      const prefix = taskName("tx");
      const config = { url: loc.url, ...loc.queueOptions, prefix, mode: "tx", timeout: 1_000 };
      const ids: string[] = [];
      for (let round = 0; round < KILLS; round++) {
        const doomed = startWorker(config, { fixture: FIXTURE });
        t.after(() => doomed.kill());
        await doomed.line(/^ready$/, "worker ready");
        const { id } = await queue.enqueue(`${prefix}-tx`, { hang: true });
        ids.push(id);
        await doomed.line(new RegExp(`^in-tx ${id}$`), `job ${id} inside its transaction`);
        assert.equal((await doomed.kill()).signal, "SIGKILL");
      }
      const survivor = startWorker(config, { fixture: FIXTURE });
      t.after(() => survivor.stop());
      const done = await within(Promise.all(ids.map((id) => queue.waitFor(id))), "every job re-run");
      const rows = await loc.exec(`SELECT job_id FROM ${table} ORDER BY job_id`);
      const perJob = new Map<string, number>();
      for (const row of rows) perJob.set(String(row.job_id), (perJob.get(String(row.job_id)) ?? 0) + 1);
      t.diagnostic(`${harness.kind}: ${KILLS} SIGKILLs inside the transaction → ${rows.length} rows for ${ids.length} jobs; attempts ${done.map((job) => job.attempts).join("/")}`);
      assert.deepEqual([...perJob.keys()].sort(), [...ids].sort());
      assert.ok([...perJob.values()].every((count) => count === 1), "exactly one row per job");
      for (const job of done) {
        assert.equal(job.status, "completed");
        assert.deepEqual(job.result, { wrote: job.id });
        assert.ok(job.crashes >= 1, "the killed attempt counts as a crash");
      }
    });
  });
}
