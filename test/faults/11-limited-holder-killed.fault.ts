/**
 * 11. A process holding every slot of a limited task is SIGKILLed. The task has `concurrency: 3`
 * across all processes; process A takes all 3 slots with slow jobs and is killed while they run. Its
 * leases still count as running (the store cannot tell a dead holder from a slow one), so process B,
 * started right after the kill, claims nothing until they expire; then the capacity returns, B drains
 * every job (the orphans included, each run again once), and at no moment do B's running handlers plus
 * A's unexpired leases exceed 3. Running counts come from live leases, never from counters a crash
 * could leave wrong, so nothing leaks.
 *
 * Measure: how long after the first orphaned lease expired B's first job started (the capacity's way
 * back), and the most slots held at once (live orphan leases + B's running handlers).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./lib/cluster.js";
import { SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { leases } from "./lib/db.js";
import { readEffects, readEffectsFile } from "./lib/effects.js";
import { recordResult } from "./lib/results.js";
import { enqueueAll, prepare, seconds, stores, verify } from "./lib/scenario.js";
import { waitFor } from "./lib/wait.js";

const CONCURRENCY = 3;
const JOBS = 24;
const WORKERS = 5;
const LEASE_MS = 1_500;
/** Long enough that A's jobs are still running when it is killed. */
const HANDLER_MS = 400;
/** B's poll while the limit holds it back is 50 ms; the rest is scheduling on a loaded machine. */
const RECOVERY_BOUND_MS = 1_000;

for (const store of await stores()) {
  describe(`${store.kind}: 11. limited holder killed`, { skip: store.skip }, () => {
    test(`concurrency ${CONCURRENCY}: a process SIGKILLed holding every slot; its capacity returns when its leases expire, never before`,
      { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
        const s = await prepare(t, store, "limited");
        const cluster = new Cluster({
          dir: s.dir,
          base: {
            url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: WORKERS, timeout: LEASE_MS, interval: 100,
            concurrency: CONCURRENCY, sleep: [HANDLER_MS, HANDLER_MS],
          },
        });
        t.after(() => cluster.destroy());
        const ids = await enqueueAll(s.queue, s.name, Array.from({ length: JOBS }, (_, i) => ({ i })));

        // A takes every slot; it is killed while its handlers run.
        const holder = await cluster.spawn(0);
        await waitFor(async () => readEffectsFile(holder.effectsFile).filter((r) => r.kind === "S").length >= CONCURRENCY,
          `${CONCURRENCY} starts in the holder`, SCENARIO_TIMEOUT_MS / 4, 5);
        const victim = await cluster.kill(0);
        const orphans = await leases(s.loc, s.kind);
        const killedStarts = readEffectsFile(victim.effectsFile).filter((r) => r.kind === "S");

        // B starts at once, and must wait for the orphans' leases.
        const taker = await cluster.spawn(1);
        await waitFor(async () => (await s.queue.count(s.name)).completed === JOBS, `${JOBS} completions`, SCENARIO_TIMEOUT_MS / 2, 50);
        const exits = await Promise.all([cluster.stop(1)]);
        assert.deepEqual(exits.map((exit) => exit.code), [0], cluster.members.map((m) => m.proc.stderr()).join("\n"));

        const { summary, jobs } = await verify(s, `${store.kind} limited holder killed`, { ids, cluster });
        const records = readEffects(s.dir).records.filter((r) => r.pid === taker.pid);
        const starts = records.filter((r) => r.kind === "S");
        const ends = new Map(records.filter((r) => r.kind === "C").map((r) => [`${r.id}:${r.attempt}`, r.at]));
        const firstExpiry = Math.min(...orphans.map((lease) => lease.expiresAt));
        const firstStart = Math.min(...starts.map((r) => r.at));
        // At each of B's starts: its handlers running then, plus the orphan leases not yet expired.
        let mostHeld = 0;
        for (const start of starts) {
          const running = starts.filter((r) => r.at <= start.at && (ends.get(`${r.id}:${r.attempt}`) ?? Infinity) > start.at).length;
          const orphaned = orphans.filter((lease) => lease.expiresAt > start.at).length;
          mostHeld = Math.max(mostHeld, running + orphaned);
        }
        const recoveryMs = Math.round(firstStart - firstExpiry);
        const rerun = [...jobs.values()].filter((job) => job.crashes > 0);
        const measure = `${orphans.length} slots orphaned by SIGKILL; capacity back ${recoveryMs} ms after the first orphaned lease expired `
          + `(lease ${LEASE_MS} ms); most slots held at once ${mostHeld} of ${CONCURRENCY}; ${rerun.length} orphans re-run once`;
        t.diagnostic(`${measure}; ${seconds(s)} s`);
        recordResult({
          scenario: "11. limited holder killed", store: store.kind, runs: summary.runs, jobs: ids.length,
          lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
        });

        assert.equal(killedStarts.length, CONCURRENCY, "the holder ran more than the limit");
        assert.equal(orphans.length, CONCURRENCY, "the kill should leave every slot leased");
        assert.ok(recoveryMs >= 0, `B started ${-recoveryMs} ms before any orphaned lease expired: capacity was counted wrong`);
        assert.ok(recoveryMs <= RECOVERY_BOUND_MS, `the capacity came back only ${recoveryMs} ms after the leases expired`);
        assert.ok(mostHeld <= CONCURRENCY, `${mostHeld} slots held at once`);
        assert.equal(mostHeld, CONCURRENCY, "B never used the whole capacity");
        for (const job of rerun) assert.deepEqual([job.crashes, job.attempts, job.status], [1, 2, "completed"], `orphan ${job.id}`);
        assert.equal(rerun.length, CONCURRENCY);
      });
  });
}
