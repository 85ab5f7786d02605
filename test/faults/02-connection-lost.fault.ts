/**
 * 2. Database connection lost (PostgreSQL): the workers' backends are terminated several times mid-run
 * (found by an application_name only this scenario's processes carry), and PostgreSQL is restarted once.
 * Workers report through onError, reconnect with backoff, and finish the work; their LISTEN connections
 * come back too (the poll interval is 30 s, so only a NOTIFY can start the last batch in time).
 */
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./lib/cluster.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { ensurePostgresRunning, restartPostgres, terminateBackends, urlWithApplicationName } from "./lib/db.js";
import { errorSummary, readErrors } from "./lib/effects.js";
import { recordResult } from "./lib/results.js";
import { enqueueAll, prepare, seconds, stores, verify } from "./lib/scenario.js";
import { pause, randomBetween, waitFor } from "./lib/wait.js";

const { jobs: JOBS, terminations: TERMINATIONS, processes: PROCESSES, workers: WORKERS, sleep: SLEEP } = SCALE.connection;
const LEASE_MS = 2_000;
/** Idle workers look for jobs this rarely: within the test, only a NOTIFY (a live LISTEN) wakes them. */
const POLL_MS = 30_000;
const LAST_BATCH = 20;

for (const store of await stores(["postgres"])) {
  describe(`${store.kind}: 2. database connection lost`, { skip: store.skip }, () => {
    test(`${JOBS} jobs, ${PROCESSES} processes: ${TERMINATIONS} backend terminations and a PostgreSQL restart mid-run`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      t.after(ensurePostgresRunning); // whatever happened, PostgreSQL is left running (and up before the schema is dropped)
      const s = await prepare(t, store, "conn");
      const appName = `hewn-faults-${randomBytes(4).toString("hex")}`;
      const cluster = new Cluster({
        dir: s.dir,
        base: {
          url: urlWithApplicationName(s.loc.url, appName), ...s.loc.queueOptions, name: s.name,
          workers: WORKERS, timeout: LEASE_MS, interval: POLL_MS, sleep: SLEEP,
        },
      });
      t.after(() => cluster.destroy());
      await cluster.start(PROCESSES);
      // All enqueued before the faults: an enqueue cut by a restart could not tell whether it committed.
      const ids = await enqueueAll(s.queue, s.name, Array.from({ length: JOBS }, (_, i) => ({ i })));

      const terminated: number[] = [];
      let downMs = 0;
      for (let round = 0; round < TERMINATIONS; round++) {
        await pause(randomBetween(400, 1_200));
        terminated.push(await terminateBackends(appName));
        if (round === Math.floor(TERMINATIONS / 2) - 1) {
          await pause(randomBetween(200, 800));
          const before = performance.now();
          await restartPostgres();
          downMs = performance.now() - before;
        }
      }
      const faultsOver = performance.now();
      await waitFor(async () => (await s.queue.count(s.name)).completed === JOBS, `${JOBS} completions`, SCENARIO_TIMEOUT_MS / 2, 100)
        .catch((error: unknown) => t.diagnostic(String(error)));
      const recoveredMs = performance.now() - faultsOver;

      // The workers are idle now: only a NOTIFY on a re-established LISTEN can start these in time.
      const last = await enqueueAll(s.queue, s.name, Array.from({ length: LAST_BATCH }, (_, i) => ({ i: JOBS + i })));
      ids.push(...last);
      await waitFor(async () => (await s.queue.count(s.name)).completed === ids.length,
        `the last ${LAST_BATCH} jobs, enqueued after the faults, to be started by NOTIFY (poll interval ${POLL_MS} ms)`, 10_000, 50)
        .catch((error: unknown) => t.diagnostic(String(error)));

      const exits = await cluster.stopAll();
      assert.deepEqual(exits.map((exit) => exit.code), Array(PROCESSES).fill(0), cluster.members.map((m) => m.proc.stderr()).join("\n"));
      const { summary } = await verify(s, "postgres connection lost", { ids, cluster });

      const errors = readErrors(s.dir);
      t.diagnostic(`backends terminated per round: ${terminated.join(", ")}; restart took ${Math.round(downMs)} ms; onError: ${errorSummary(errors)}`);
      assert.ok(terminated.every((n) => n > 0), "every round found worker backends to terminate");
      assert.deepEqual(cluster.unplannedExits, [], "no worker process died");
      assert.ok(errors.length > 0, "the lost connections were reported through onError");
      assert.ok(errors.some((e) => e.source === "listen"), "the LISTEN connection's loss was reported");
      // Backoff, not a hot loop: a bounded number of reports per process and fault.
      const perProcessAndFault = errors.length / PROCESSES / (TERMINATIONS + 1);
      assert.ok(perProcessAndFault < 100, `${errors.length} errors reported: a retry loop without backoff?`);

      const measure = `${TERMINATIONS} terminations (${terminated.reduce((a, b) => a + b, 0)} backends) + 1 restart (${(downMs / 1000).toFixed(1)} s); `
        + `all done ${(recoveredMs / 1000).toFixed(1)} s after the last fault; onError: ${errorSummary(errors)}`;
      t.diagnostic(`${measure}; runs ${summary.runs}, crashes ${summary.crashes}, repeated side-effects ${summary.repeatedEffects}`);
      recordResult({
        scenario: "2. database connection lost", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });
  });
}
