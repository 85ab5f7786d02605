/**
 * Periodic jobs across processes: three processes declare `{ every: 1000 }` and run; one is SIGKILLed
 * mid-way. Every slot while at least one process ran has exactly one job, and each ran once.
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, type Job } from "../../src/index.js";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { taskName, until } from "../helpers.js";
import { startWorker } from "./spawn.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/periodic-process.ts", import.meta.url));
const PROCESSES = 3;
const EVERY = 1000;
/** Slots to see with all processes, then with one killed: 6 s in all. */
const SLOTS_BEFORE_KILL = 3;
const SLOTS_AFTER_KILL = 3;

const slotOf = (job: Job): number => Date.parse(job.label?.slice(job.label.indexOf("@") + 1) ?? "");

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: periodic jobs across processes`, { skip }, () => {
    test(`${PROCESSES} processes, { every: ${EVERY} }, one SIGKILLed mid-way: one job per slot, none missing, none twice`, async (t) => {
      const loc = await harness.fresh();
      const dir = mkdtempSync(path.join(os.tmpdir(), "hewn-periodic-"));
      t.after(async () => {
        await loc.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      const name = taskName("periodic");
      const runsFile = path.join(dir, "runs.txt");
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      const slotJobs = async () => (await queue.list({ name, limit: 10_000 })).sort((a, b) => slotOf(a) - slotOf(b));

      const processes = Array.from({ length: PROCESSES }, () => startWorker({
        url: loc.url, ...loc.queueOptions, name, key: "every-second", every: EVERY, runsFile,
      }, { fixture: FIXTURE }));
      t.after(() => Promise.all(processes.map((p) => p.kill())));
      await Promise.all(processes.map((p) => p.line(/^ready$/, "periodic process ready")));
      const allReady = Date.now();
      await until(async () => (await slotJobs()).filter((job) => slotOf(job) > allReady).length >= SLOTS_BEFORE_KILL, `${SLOTS_BEFORE_KILL} slots`, 50);
      const victim = processes[PROCESSES - 1]!;
      await victim.kill();
      const killedAt = Date.now();
      await until(async () => (await slotJobs()).filter((job) => slotOf(job) > killedAt).length >= SLOTS_AFTER_KILL, `${SLOTS_AFTER_KILL} slots after the kill`, 50);
      const codes = await Promise.all(processes.slice(0, -1).map((p) => p.stop()));
      const stoppedAt = Date.now();
      assert.deepEqual(codes, [0, 0], processes.map((p) => p.stderr()).join("\n"));

      const jobs = await slotJobs();
      const slots = jobs.map(slotOf);
      const elapsed = slots.filter((slot) => slot > allReady && slot <= stoppedAt - EVERY);
      const expected: number[] = [];
      for (let slot = (Math.floor(allReady / EVERY) + 1) * EVERY; slot <= stoppedAt - EVERY; slot += EVERY) expected.push(slot);
      const duplicates = slots.length - new Set(slots).size;
      const runs = readFileSync(runsFile, "utf8").split("\n").filter(Boolean);
      const runsTwice = runs.length - new Set(runs).size;
      t.diagnostic(`${harness.kind}: ${PROCESSES} processes, { every: ${EVERY} }, one killed after ${SLOTS_BEFORE_KILL} slots: `
        + `${expected.length} slots elapsed, ${elapsed.length} jobs for them (${jobs.length} in all), ${duplicates} duplicates, `
        + `${runs.length} runs, ${runsTwice} run twice`);
      assert.equal(duplicates, 0, "no slot twice");
      assert.deepEqual(elapsed, expected, "one job for every slot that elapsed while the processes ran");
      // Contiguous from the first slot to the last: none missing around the kill either.
      slots.forEach((slot, i) => i === 0 || assert.equal(slot - slots[i - 1]!, EVERY));
      assert.equal(runsTwice, 0, "no slot's job ran twice");
    });
  });
}
