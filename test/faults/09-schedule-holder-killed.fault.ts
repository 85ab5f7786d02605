/**
 * 9. Periodic jobs while the processes taking the slots are killed. Three processes declare one schedule
 * (`{ every: 200 }`, so kills land in and around slot claims) and run its jobs (handlers of 100 to 400 ms,
 * a 1 s lease, so kills also take running slot jobs down). Then:
 * - SIGKILLs at random moments, each process restarted at once (a restarted process is a newcomer: the
 *   slots it finds late still count as live for it, within the grace), the next kill once it runs;
 * - a process caught taking a slot: it holds the lock a claim holds (PostgreSQL: the schedule's row, SQLite:
 *   the write lock) across several slots, and is SIGKILLed holding it.
 * Every slot while the processes ran has exactly one job (none missing, none twice), the slots due
 * during the hold are enqueued once the holder dies, and every slot job completes (orphaned ones after
 * their lease).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Job } from "../../src/index.js";
import { startWorker, type WorkerProcess } from "../process/spawn.js";
import { SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { recordResult } from "./lib/results.js";
import { prepare, seconds, stores } from "./lib/scenario.js";
import { pause, randomBetween, waitFor } from "./lib/wait.js";

const PERIODIC = fileURLToPath(new URL("../fixtures/periodic-process.ts", import.meta.url));
const HOLDER = fileURLToPath(new URL("./fixtures/slot-holder.ts", import.meta.url));
const PROCESSES = 3;
const EVERY = 200;
const KILLS = 4;
const LEASE_MS = 1_000;
/** How long the holder keeps the lock: several slots come due meanwhile. */
const HOLD_MS = 5 * EVERY;
const KEY = "fault-9";

const slotOf = (job: Job): number => Date.parse(job.label?.slice(job.label.indexOf("@") + 1) ?? "");

for (const store of await stores()) {
  describe(`${store.kind}: 9. processes holding or taking a slot killed`, { skip: store.skip }, () => {
    test(`${PROCESSES} processes on { every: ${EVERY} }, ${KILLS} SIGKILLs and a slot-lock holder killed: every slot once`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "periodic");
      const runsFile = path.join(s.dir, "runs.txt");
      const config = { url: s.loc.url, ...s.loc.queueOptions, name: s.name, key: KEY, every: EVERY, runsFile, timeout: LEASE_MS, sleep: [100, 400] };
      const all: WorkerProcess[] = [];
      const spawn = () => {
        const child = startWorker(config, { fixture: PERIODIC });
        all.push(child);
        return child;
      };
      t.after(() => Promise.all(all.map((child) => child.kill())));
      const slotJobs = async () => (await s.queue.list({ name: s.name, limit: 10_000 })).sort((a, b) => slotOf(a) - slotOf(b));

      const members = Array.from({ length: PROCESSES }, spawn);
      await Promise.all(members.map((member) => member.line(/^ready$/, "periodic process ready")));
      const firstReady = Date.now();
      const events: string[] = [];
      const note = (what: string) => events.push(`${what}@${Date.now() - firstReady}`);

      // Random SIGKILLs, each process restarted at once; the next kill comes once it runs again, so two of
      // the three always run (with none running, slots are missed by design: catchUp "none").
      const crashed = new Set<number>();
      for (let kill = 0; kill < KILLS; kill++) {
        await pause(randomBetween(50, 400));
        const index = randomBetween(0, PROCESSES - 1);
        const victim = members[index]!;
        if (victim.child.pid !== undefined) crashed.add(victim.child.pid);
        await victim.kill();
        note(`kill${index}`);
        members[index] = spawn();
        await members[index]!.line(/^ready$/, "restarted process ready");
      }

      // A process caught taking a slot: it holds the claim's lock across several slots, and dies holding it.
      const holder = startWorker({ url: s.loc.url, schema: s.loc.schema, key: KEY }, { fixture: HOLDER });
      all.push(holder);
      await holder.line(/^holding$/, "the holder to take the lock");
      note("holding");
      await pause(HOLD_MS);
      const heldUntil = Date.now();
      await holder.kill();
      note("holder-killed");
      // The slots that came due during the hold are enqueued once it is gone.
      const dueDuringHold = Math.floor(heldUntil / EVERY) * EVERY;
      await waitFor(async () => (await slotJobs()).some((job) => slotOf(job) >= dueDuringHold), "the slots due during the hold", 30_000, 20);
      const recoveryMs = Date.now() - heldUntil;

      // Some more slots, then every slot job older than a lease must have completed (orphans re-run).
      const lastKill = Date.now();
      await waitFor(async () => (await slotJobs()).filter((job) => slotOf(job) > lastKill).length >= 5, "five more slots", 30_000, 20);
      await waitFor(async () => {
        const cutoff = Date.now() - 2 * LEASE_MS;
        return (await slotJobs()).every((job) => slotOf(job) > cutoff || job.status === "completed");
      }, "the slot jobs to complete", 60_000, 50);
      const exits = await Promise.all(members.map((member) => member.stop()));
      const stoppedAt = Date.now();
      assert.deepEqual(exits, Array(PROCESSES).fill(0), members.map((member) => member.stderr()).join("\n"));

      const jobs = await slotJobs();
      const slots = jobs.map(slotOf);
      const duplicated = slots.length - new Set(slots).size;
      const expected: number[] = [];
      for (let slot = (Math.floor(firstReady / EVERY) + 1) * EVERY; slot <= stoppedAt - 5 * EVERY; slot += EVERY) expected.push(slot);
      const have = new Set(slots);
      const missingSlots = expected.filter((slot) => !have.has(slot));
      const missing = missingSlots.length;
      if (missing > 0) t.diagnostic(`missing (ms after the first ready): ${missingSlots.map((slot) => slot - firstReady).join(", ")}; events: ${events.join(", ")}`);
      const gaps = slots.filter((slot, i) => i > 0 && slot - slots[i - 1]! !== EVERY).length;
      const notCompleted = jobs.filter((job) => slotOf(job) <= stoppedAt - 2 * LEASE_MS - 5 * EVERY && job.status !== "completed").length;
      const runs = readFileSync(runsFile, "utf8").split("\n").filter(Boolean).length;
      const measure = `${slots.length} slots in ${Math.round((stoppedAt - firstReady) / 100) / 10} s with ${KILLS} SIGKILLs and a holder killed `
        + `after holding the claim lock ${HOLD_MS} ms: ${missing} missing, ${duplicated} twice; slots due during the hold enqueued `
        + `${recoveryMs} ms after its kill; ${runs} runs to the end, ${runs - new Set(readFileSync(runsFile, "utf8").split("\n").filter(Boolean)).size} of a slot twice`;
      t.diagnostic(`${store.kind}: ${measure}; ${seconds(s)} s`);
      recordResult({
        scenario: "9. periodic: slot takers killed", store: store.kind, runs, jobs: jobs.length,
        lost: missing + gaps + notCompleted, duplicated, measure, seconds: seconds(s),
      });
      assert.equal(duplicated, 0, "no slot twice");
      assert.equal(missing, 0, "no slot missing while the processes ran");
      assert.equal(gaps, 0, "the slots follow each other");
      assert.equal(notCompleted, 0, "every slot job completed");
      assert.ok(crashed.size > 0);
    });
  });
}
