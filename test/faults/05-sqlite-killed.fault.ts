/**
 * 5. SQLite: several processes on one file under load (tiny handlers, so every process is nearly always
 * inside a claim or completion transaction), one of them SIGKILLed at random moments and restarted, while
 * jobs keep arriving. The file stays consistent (`PRAGMA integrity_check` = ok) and no job is lost.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./lib/cluster.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { integrityCheck } from "./lib/db.js";
import { recordResult } from "./lib/results.js";
import { prepare, seconds, stores, verify } from "./lib/scenario.js";
import { pause, randomBetween, waitFor } from "./lib/wait.js";

const { minJobs: MIN_JOBS, kills: KILLS, processes: PROCESSES, workers: WORKERS } = SCALE.sqliteKill;
/** Feeding rate: FEED_BATCH jobs every FEED_EVERY_MS (about 2 000 jobs/s: near what the processes can do, so they are nearly always inside a transaction). */
const FEED_BATCH = 100;
const FEED_EVERY_MS = 50;
/** hewn's default. */
const MAX_CRASHES = 5;

for (const store of await stores(["sqlite"])) {
  describe("sqlite: 5. processes killed mid-transaction", { skip: store.skip }, () => {
    test(`${PROCESSES} processes on one file, ${KILLS} SIGKILLs under load: integrity_check ok, no job lost`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "sqlkill");
      const file = s.loc.url.slice("sqlite:".length);
      const cluster = new Cluster({
        dir: s.dir,
        base: { url: s.loc.url, name: s.name, workers: WORKERS, timeout: 1_000, interval: 20, sleep: [0, 2] },
      });
      t.after(() => cluster.destroy());
      await cluster.start(PROCESSES);

      // Jobs arrive at a steady rate while the kills go on (and at least MIN_JOBS in all).
      const ids: string[] = [];
      let killing = true;
      const feeder = (async () => {
        while (killing || ids.length < MIN_JOBS) {
          const jobs = await s.queue.enqueueMany(Array.from({ length: FEED_BATCH }, (_, k) => ({ name: s.name, data: { i: ids.length + k } })));
          ids.push(...jobs.map((job) => job.id));
          await pause(FEED_EVERY_MS);
        }
      })();
      const started = performance.now();
      for (let kill = 0; kill < KILLS; kill++) {
        await pause(randomBetween(20, 400));
        const index = randomBetween(0, PROCESSES - 1);
        await cluster.kill(index);
        await cluster.spawn(index);
      }
      killing = false;
      await feeder;
      await waitFor(async () => (await s.queue.count(s.name)).completed === ids.length, `${ids.length} completions`, SCENARIO_TIMEOUT_MS / 2, 100)
        .catch((error: unknown) => t.diagnostic(String(error)));
      const rate = ids.length / ((performance.now() - started) / 1000);
      const exits = await cluster.stopAll();
      assert.deepEqual(exits.map((exit) => exit.code), Array(PROCESSES).fill(0), cluster.members.map((m) => m.proc.stderr()).join("\n"));

      const integrity = integrityCheck(file);
      assert.equal(integrity, "ok", "PRAGMA integrity_check");
      // Killed at random, a job may lose its worker maxCrashes times (with the workers' local buffers, many
      // jobs go down with each process): then its policy is to be quarantined.
      const { summary } = await verify(s, "sqlite killed mid-transaction", { ids, cluster, expect: () => "policy", maxCrashes: MAX_CRASHES });
      const measure = `integrity_check ok after ${cluster.crashedPids.size} SIGKILLs; ${Math.round(rate)} jobs/s meanwhile; `
        + `${summary.crashes} orphaned attempts re-run; ${summary.quarantined} jobs quarantined (maxCrashes ${MAX_CRASHES})`;
      t.diagnostic(`${measure}; runs ${summary.runs}, repeated side-effects ${summary.repeatedEffects}; ${seconds(s)} s`);
      recordResult({
        scenario: "5. SQLite processes killed mid-transaction", store: "sqlite", runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });
  });
}
