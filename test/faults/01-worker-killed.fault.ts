/**
 * 1. Worker killed: three worker processes drain the jobs while one of them, chosen at random, is
 * SIGKILLed at random moments and restarted. Its in-flight jobs run again once their lease expires and
 * complete exactly once. Recovery time = the re-run's claim (startedAt) − the killed attempt's lease expiry.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./lib/cluster.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { leases, type Lease } from "./lib/db.js";
import { readEffects, readEffectsFile } from "./lib/effects.js";
import { recordResult } from "./lib/results.js";
import { prepare, seconds, stores, verify } from "./lib/scenario.js";
import { pause, percentile, randomBetween, waitFor } from "./lib/wait.js";

const { jobs: JOBS, kills: KILLS, processes: PROCESSES, workers: WORKERS, sleep: SLEEP } = SCALE.kill;
const LEASE_MS = 1_500;
/** Jobs kept waiting ahead of the workers: enough to keep every slot busy, few enough that recovery is not a backlog drain. */
const BACKLOG = 50;

for (const store of await stores()) {
  describe(`${store.kind}: 1. worker killed`, { skip: store.skip }, () => {
    test(`${JOBS} jobs, ${PROCESSES} processes, ${KILLS} SIGKILLs at random moments: every job completed exactly once`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "kill");
      const cluster = new Cluster({
        dir: s.dir,
        base: { url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: WORKERS, timeout: LEASE_MS, interval: 100, sleep: SLEEP },
      });
      t.after(() => cluster.destroy());
      await cluster.start(PROCESSES);

      // Jobs arrive while the workers run, keeping a bounded backlog.
      const ids: string[] = [];
      let feeding = true;
      const feeder = (async () => {
        while (ids.length < JOBS) {
          const counts = await s.queue.count(s.name);
          if (counts.enqueued < BACKLOG) {
            const size = Math.min(BACKLOG, JOBS - ids.length);
            const jobs = await s.queue.enqueueMany(Array.from({ length: size }, (_, k) => ({ name: s.name, data: { i: ids.length + k } })));
            ids.push(...jobs.map((job) => job.id));
          } else {
            await pause(20);
          }
        }
        feeding = false;
      })();

      // The killed attempts' leases, read right after each kill: nothing renews them any more.
      const orphans: Lease[] = [];
      for (let kill = 0; kill < KILLS; kill++) {
        await pause(randomBetween(200, 1_000));
        if (!feeding && (await s.queue.count(s.name)).completed > JOBS - 2 * PROCESSES * WORKERS) {
          t.diagnostic(`the jobs ran out after ${kill} kills`);
          break;
        }
        const index = randomBetween(0, PROCESSES - 1);
        const victim = await cluster.kill(index);
        const started = new Set(readEffectsFile(victim.effectsFile).filter((r) => r.kind === "S").map((r) => `${r.id}:${r.attempt}`));
        orphans.push(...(await leases(s.loc, s.kind)).filter((lease) => started.has(`${lease.id}:${lease.attempts}`)));
        await cluster.spawn(index);
      }
      await feeder;
      await waitFor(async () => (await s.queue.count(s.name)).completed === JOBS, `${JOBS} completions`, SCENARIO_TIMEOUT_MS / 2, 100)
        .catch((error: unknown) => t.diagnostic(String(error))); // the check below says which jobs are stuck
      const exits = await cluster.stopAll();
      assert.deepEqual(exits.map((exit) => exit.code), Array(PROCESSES).fill(0), cluster.members.map((m) => m.proc.stderr()).join("\n"));

      const { summary, jobs } = await verify(s, `${store.kind} worker killed`, { ids, cluster });

      // Every orphaned attempt ran again, and was counted as a crash.
      const starts = new Map(readEffects(s.dir).records.filter((r) => r.kind === "S").map((r) => [`${r.id}:${r.attempt}`, r.at]));
      const recovery: number[] = [];
      // A statement the victim had sent before it died may still commit after (PostgreSQL finishes it):
      // such an attempt completed after all, and was not orphaned.
      const landed = orphans.filter((orphan) => {
        const job = jobs.get(orphan.id)!;
        return job.attempts === orphan.attempts && job.status === "completed";
      });
      for (const orphan of orphans.filter((o) => !landed.includes(o))) {
        const job = jobs.get(orphan.id)!;
        assert.ok(job.attempts > orphan.attempts, `job ${orphan.id}: the killed attempt ${orphan.attempts} was never re-run`);
        assert.ok(job.crashes >= 1, `job ${orphan.id}: the killed attempt was not counted as a crash`);
        const reclaimedAt = job.attempts === orphan.attempts + 1 ? job.startedAt!.getTime() : starts.get(`${orphan.id}:${orphan.attempts + 1}`);
        if (reclaimedAt !== undefined) recovery.push(reclaimedAt - orphan.expiresAt);
      }
      // Jobs claimed by a victim that had not started their handler yet crash too, without being seen as orphans.
      const orphaned = new Set(orphans.map((o) => o.id));
      const otherCrashes = [...jobs.values()].filter((job) => job.crashes > 0 && !orphaned.has(job.id)).length;
      // A crash of an attempt whose process was alive would mean a live worker let its lease lapse.
      const killed = cluster.crashedPids;
      // (No handler fails here, so an attempt that is not a job's last was re-run.)
      const liveLapses = readEffects(s.dir).records.filter((r) => r.kind === "S" && !killed.has(r.pid) && jobs.get(r.id)!.attempts > r.attempt);
      const p50 = percentile(recovery, 50);
      const max = Math.max(...recovery);
      const measure = `recovery after lease expiry p50 ${Math.round(p50)} ms, max ${Math.round(max)} ms (${orphans.length - landed.length} orphaned attempts, lease ${LEASE_MS} ms, backlog ≤ ${BACKLOG})`;
      t.diagnostic(`${store.kind}: ${measure}; runs ${summary.runs}, completed by the victim after its death ${landed.length}, other crashed jobs ${otherCrashes}, lapsed leases of live processes ${liveLapses.length}, repeated side-effects ${summary.repeatedEffects}, ${seconds(s)} s`);
      assert.ok(orphans.length > 0, "the kills orphaned no attempt: nothing was tested");
      recordResult({
        scenario: "1. worker killed (SIGKILL ×" + cluster.crashedPids.size + ")",
        store: store.kind, runs: summary.runs, jobs: ids.length, lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });
  });
}
