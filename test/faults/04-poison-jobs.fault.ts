/**
 * 4. Poison jobs: handlers that take their process down on every run — `process.exit(1)`, and an
 * exception thrown asynchronously from a timer (uncaught). A supervisor restarts crashed workers; after
 * `maxCrashes` crashes the job is quarantined (cancelled, the reason naming the count) instead of killing
 * workers forever, while the other jobs keep completing. Crashes are counted apart from handler errors.
 *
 * The last two tests are about the jobs that share a process with a poison job — running beside it in
 * other slots, or claimed ahead and held in the worker's local buffer (fast tasks): they die with it,
 * their leases expire together with its lease, and they are claimed again together. They must not be
 * quarantined for crashes they did not cause (hewn runs a job that crashed twice alone in its process;
 * after one crash it runs as usual, since a first crash is most often collateral).
 */
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { assertClean } from "./lib/checker.js";
import { Cluster } from "./lib/cluster.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { readEffects, readErrors } from "./lib/effects.js";
import { recordResult } from "./lib/results.js";
import { enqueueAll, prepare, seconds, stores, verify, type Store } from "./lib/scenario.js";
import { waitFor } from "./lib/wait.js";
import type { JobPlan } from "./fixtures/fault-worker.js";

const { normal: NORMAL, maxCrashes: MAX_CRASHES } = SCALE.poison;
const PROCESSES = 2;


interface Shape {
  workers: number;
  processes: number;
  /** Handler duration range (ms); handlers of 5 ms and more keep the task "slow", so no jobs are buffered. */
  sleep: [number, number];
}

async function run(t: TestContext, store: Store, shape: Shape, plans: JobPlan[]) {
  const s = await prepare(t, store, "poison");
  const cluster = new Cluster({
    dir: s.dir,
    supervise: true,
    maxRestarts: 4 * MAX_CRASHES * 2,
    base: {
      url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: shape.workers, timeout: 1_000, interval: 100,
      maxCrashes: MAX_CRASHES, minDelay: 50, maxDelay: 200, sleep: shape.sleep,
    },
  });
  t.after(() => cluster.destroy());
  await cluster.start(shape.processes);
  const ids = await enqueueAll(s.queue, s.name, plans.map((plan, i) => ({ ...plan, i })));
  const poison = ids.filter((_, i) => plans[i]!.b === "exit" || plans[i]!.b === "throwAsync");

  await waitFor(async () => {
    cluster.assertHealthy();
    const counts = await s.queue.count(s.name);
    return counts.completed + counts.cancelled === ids.length;
  }, "every job to complete or be quarantined", SCENARIO_TIMEOUT_MS / 2, 100).catch((error: unknown) => t.diagnostic(String(error)));
  await cluster.settled();
  const exits = await cluster.stopAll();
  assert.ok(exits.every((exit) => exit.code === 0), cluster.members.map((m) => m.proc.stderr()).join("\n"));
  const { summary, jobs } = await verify(s, `${store.kind} poison jobs`, {
    ids, cluster, maxCrashes: MAX_CRASHES, soft: true,
    expect: (job) => (poison.includes(job.id) ? "quarantine" : "complete"),
  });
  const starts = readEffects(s.dir).records.filter((r) => r.kind === "S");
  const collateral = [...jobs.values()].filter((job) => !poison.includes(job.id) && job.crashes > 0);
  return { s, cluster, ids, poison, summary, jobs, starts, collateral };
}

for (const store of await stores()) {
  describe(`${store.kind}: 4. poison jobs`, { skip: store.skip }, () => {
    test(`handlers that exit or throw asynchronously on every run are quarantined after maxCrashes ${MAX_CRASHES}; ${NORMAL} others complete`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const plans: JobPlan[] = Array.from({ length: NORMAL }, () => ({}));
      plans.splice(Math.floor(NORMAL / 4), 0, { b: "exit" });
      plans.splice(Math.floor(NORMAL / 2), 0, { b: "throwAsync" });
      plans.splice(Math.floor((3 * NORMAL) / 4), 0, { b: "fail", bad: 2 }); // fails twice, then completes: handler errors, no crash
      // One slot per process, and handlers slow enough that no jobs are buffered: a poison job takes down
      // only itself (the tests below are about its neighbours).
      const { s, cluster, ids, poison, summary, jobs, starts } = await run(t, store, { workers: 1, processes: PROCESSES, sleep: [10, 60] }, plans);
      assertClean(summary, `${store.kind} poison jobs`);

      for (const id of poison) {
        const job = jobs.get(id)!;
        assert.equal(job.crashes, MAX_CRASHES, `job ${id}: crashes`);
        const runs = starts.filter((r) => r.id === id);
        const all = readEffects(s.dir).records.filter((r) => r.id === id);
        assert.equal(runs.length, MAX_CRASHES, `job ${id}: ran once per crash, then was quarantined without running; `
          + `row ${JSON.stringify(job)}; records ${JSON.stringify(all)}; exits ${cluster.unplannedExits.join("; ")}; `
          + `reports ${JSON.stringify(readErrors(s.dir).filter((e) => e.job === id))}`);
        assert.match(job.reason!, new RegExp(`^quarantined: .*\\b${MAX_CRASHES}\\b`));
      }
      const flaky = jobs.get(ids[plans.findIndex((plan) => plan.b === "fail")]!)!;
      assert.equal(flaky.crashes, 0, "handler errors are not crashes");
      assert.equal(flaky.errors.length, 2, "the flaky job's two handler errors are kept");
      // Every crash restarted a worker, and the poison jobs caused them all.
      const poisonRuns = starts.filter((r) => poison.includes(r.id)).length;
      assert.equal(cluster.unplannedExits.length, poisonRuns, `one restart per poison run: ${cluster.unplannedExits.join("; ")}`);
      assert.ok(cluster.unplannedExits.every((exit) => /exit code 1$/.test(exit)), cluster.unplannedExits.join("; "));
      const measure = `2 poison jobs (exit, async throw) quarantined after ${MAX_CRASHES} crashes each; ${cluster.unplannedExits.length} worker restarts; `
        + `${summary.completed} others completed`;
      t.diagnostic(`${measure}; ${seconds(s)} s`);
      recordResult({
        scenario: "4. poison jobs", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });


    test("jobs running beside a poison job in the same process are not quarantined with it", { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      // One process with 4 slots claims the poison job and 3 others at once; they all die with it, their
      // leases expire together, and the restarted process claims the four together again.
      const plans: JobPlan[] = [{}, { b: "exit" }, {}, {}];
      const { s, cluster, ids, summary, collateral } = await run(t, store, { workers: 4, processes: 1, sleep: [10, 60] }, plans);
      const quarantined = collateral.filter((job) => job.status === "cancelled");
      const measure = `1 poison job + 3 others running in one process with 4 slots: ${collateral.length} crashed with it, ${quarantined.length} of them quarantined`
        + ` (${cluster.unplannedExits.length} restarts)`;
      t.diagnostic(`${measure}; ${seconds(s)} s`);
      recordResult({
        scenario: "4. poison jobs: neighbours running", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
      assertClean(summary, `${store.kind} poison job neighbours`);
    });

    test("jobs buffered behind a poison job by a fast task are not quarantined with it", { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      // Handlers that take no time make the task "fast": the worker claims far more jobs than its one slot
      // and holds them leased in a local buffer. When the poison job kills the process, the whole buffer is
      // orphaned with it; the restarted process buffers them again behind the poison job.
      const plans: JobPlan[] = Array.from({ length: 40 }, () => ({}));
      plans.splice(5, 0, { b: "exit" });
      const { s, cluster, ids, summary, collateral } = await run(t, store, { workers: 1, processes: 1, sleep: [0, 0] }, plans);
      const quarantined = collateral.filter((job) => job.status === "cancelled");
      const measure = `1 poison job among ${plans.length - 1} fast jobs, 1 slot: ${collateral.length} crashed with it unstarted, ${quarantined.length} of them quarantined`
        + ` (${cluster.unplannedExits.length} restarts)`;
      t.diagnostic(`${measure}; ${seconds(s)} s`);
      recordResult({
        scenario: "4. poison jobs: neighbours buffered", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
      assertClean(summary, `${store.kind} poison job buffered neighbours`);
    });
  });
}
