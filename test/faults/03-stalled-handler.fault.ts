/**
 * 3. Stalled handlers.
 * (a) Handlers that ignore their signal past `lifetime`: never settling, or returning long after. The
 *     attempt is failed and retried, another run completes the job, the late result is never written,
 *     and the process keeps its slots (2 slots, many stalls) and does not retain abandoned handlers.
 * (b) A handler that blocks the event loop for longer than its lease: another process takes the job over
 *     once the lease expires and completes it; when the blocked process wakes, its late completion is
 *     fenced out and reported (a LeaseLostError through onError).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./lib/cluster.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { readEffects, readErrors } from "./lib/effects.js";
import { recordResult } from "./lib/results.js";
import { enqueueAll, mb, prepare, seconds, stores, verify } from "./lib/scenario.js";
import { waitFor } from "./lib/wait.js";
import type { JobPlan } from "./fixtures/fault-worker.js";

const { stalls: STALLS, late: LATE, normal: NORMAL, leakStalls: LEAK_STALLS, leakMb: LEAK_MB } = SCALE.stall;
const LIFETIME_MS = 300;
/** hewn gives a handler this long after its signal aborted before abandoning it (src/worker/attempt.ts). */
const ABANDON_MS = 1_000;
const LATE_MS = LIFETIME_MS + ABANDON_MS + 1_500;

for (const store of await stores()) {
  describe(`${store.kind}: 3. stalled handler`, { skip: store.skip }, () => {
    test(`(a) ${STALLS} handlers that never settle and ${LATE} that return late, lifetime ${LIFETIME_MS} ms, workers: 2`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "stall");
      const cluster = new Cluster({
        dir: s.dir,
        base: {
          url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: 2, timeout: 2_000, lifetime: LIFETIME_MS,
          interval: 50, minDelay: 50, maxDelay: 200, sleep: [2, 10],
        },
      });
      t.after(() => cluster.destroy());
      await cluster.start(1);
      const plans: JobPlan[] = [];
      for (let i = 0; i < STALLS + LATE; i++) {
        plans.push(i < STALLS ? { b: "stall", bad: 1 } : { b: "late", bad: 1, ms: LATE_MS });
        for (let k = 0; k < Math.ceil(NORMAL / (STALLS + LATE)); k++) plans.push({});
      }
      const ids = await enqueueAll(s.queue, s.name, plans.map((plan, i) => ({ ...plan, i })));
      const misbehaving = ids.filter((_, i) => plans[i]!.b !== undefined);
      const late = ids.filter((_, i) => plans[i]!.b === "late");

      // Only one process with two slots: every job completing means abandoned handlers gave their slot back.
      await waitFor(async () => (await s.queue.count(s.name)).completed === ids.length, `${ids.length} completions`, 60_000, 50)
        .catch(async (error: unknown) => {
          t.diagnostic(String(error));
          await verify(s, "after the timeout", { ids, cluster });
        });
      // The late handlers have returned their results (recorded as "A": after the abort) …
      await waitFor(() => {
        const returned = new Set(readEffects(s.dir).records.filter((r) => r.kind === "A").map((r) => r.id));
        return late.every((id) => returned.has(id));
      }, "the late handlers to return", 15_000, 50);
      // … and once the process has closed, anything it was writing has landed.
      const exits = await cluster.stopAll();
      assert.equal(exits[0]?.code, 0, cluster.members[0]!.proc.stderr());

      const { summary, jobs } = await verify(s, `${store.kind} stalled handler`, { ids, cluster });
      const starts = readEffects(s.dir).records.filter((r) => r.kind === "S");
      for (const id of misbehaving) {
        const job = jobs.get(id)!;
        assert.equal(job.attempts, 2, `job ${id}: stalled once, then completed`);
        assert.equal(job.crashes, 0, `job ${id}: a lifetime failure is a handler failure, not a crash`);
        assert.match(job.errors[0]?.message ?? "", /lifetime/, `job ${id}: the failure names the lifetime`);
        assert.equal((job.result as { attempt: number }).attempt, 2, `job ${id}: the late result of attempt 1 was not written`);
      }
      const stalledRuns = starts.filter((r) => r.attempt === 1 && misbehaving.includes(r.id)).length;
      assert.equal(stalledRuns, STALLS + LATE, "every misbehaving handler ran in the one process");
      const measure = `${STALLS + LATE} stalls on 2 slots, all abandoned and retried; ${ids.length - STALLS - LATE} other jobs completed; 0 late results written`;
      t.diagnostic(`${measure}; ${seconds(s)} s`);
      recordResult({
        scenario: "3a. stalled handler (lifetime)", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });

    test(`(a) ${LEAK_STALLS} abandoned handlers holding ${LEAK_MB} MB each are not retained`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "leak");
      const heap: number[] = [];
      const cluster = new Cluster({
        dir: s.dir,
        nodeArgs: ["--expose-gc"],
        base: {
          url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: 10, timeout: 2_000, lifetime: 100,
          interval: 50, minDelay: 20, maxDelay: 100,
        },
        onLine: (_, line) => {
          if (line.startsWith("heap ")) heap.push(Number(line.slice(5)));
        },
      });
      t.after(() => cluster.destroy());
      const worker = await cluster.spawn(0);
      const measureHeap = async () => {
        const count = heap.length;
        worker.proc.child.kill("SIGUSR2");
        await waitFor(() => heap.length > count, "a heap measurement", 10_000, 10);
        return heap[heap.length - 1]!;
      };
      // Warm up (connections, compiled code), then measure, stall many times, measure again.
      const ids = await enqueueAll(s.queue, s.name, Array.from({ length: 100 }, (_, i) => ({ i })));
      await waitFor(async () => (await s.queue.count(s.name)).completed === ids.length, "warm-up", 60_000, 50);
      const before = await measureHeap();
      ids.push(...await enqueueAll(s.queue, s.name, Array.from({ length: LEAK_STALLS }, (_, i) => ({ i, b: "stall", bad: 1, mb: LEAK_MB }))));
      await waitFor(async () => (await s.queue.count(s.name)).completed === ids.length, `${LEAK_STALLS} stalled jobs retried and completed`, SCENARIO_TIMEOUT_MS / 2, 50);
      const after = await measureHeap();
      const exits = await cluster.stopAll();
      assert.equal(exits[0]?.code, 0, worker.proc.stderr());
      const { summary } = await verify(s, `${store.kind} abandoned handlers`, { ids, cluster });

      const growth = after - before;
      const held = LEAK_STALLS * LEAK_MB * 1024 * 1024;
      const measure = `heap + buffers after GC ${mb(before)} → ${mb(after)} after ${LEAK_STALLS} abandoned handlers holding ${mb(held)} in all`;
      t.diagnostic(measure);
      assert.ok(growth < held / 4, `abandoned handlers are retained: ${measure}`);
      recordResult({
        scenario: "3a. abandoned handlers' memory", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });

    test("(b) a handler blocking the event loop past its lease: taken over, and its late completion fenced out", { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "busy");
      const LEASE_MS = 1_500;
      const BUSY_MS = 8_000;
      const cluster = new Cluster({
        dir: s.dir,
        base: { url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: 2, timeout: LEASE_MS, interval: 100, sleep: [5, 30], announce: true },
      });
      t.after(() => cluster.destroy());
      const blocked = await cluster.spawn(0);
      // Blocks only in member 0 ("w0.*"), so the takeover elsewhere runs normally.
      const [busyId] = await enqueueAll(s.queue, s.name, [{ b: "busy", ms: BUSY_MS, tag: "w0" }]);
      await blocked.proc.line(new RegExp(`^start ${busyId} 1$`), "the busy handler to start");
      const claimedAt = (await s.queue.get(busyId!))!.startedAt!.getTime();
      const rescuer = await cluster.spawn(1);
      const readyAfter = (await s.queue.get(busyId!))!.startedAt!.getTime() === claimedAt ? Date.now() - claimedAt : 0;
      assert.ok(readyAfter < BUSY_MS - 1_000, `the second process took ${readyAfter} ms to start: too slow to test a takeover`);
      const ids = [busyId!, ...await enqueueAll(s.queue, s.name, Array.from({ length: 20 }, (_, i) => ({ i })))];

      await waitFor(async () => (await s.queue.get(busyId!))?.status === "completed", "the other process to complete the blocked job", 30_000, 20);
      const rescued = (await s.queue.get(busyId!))!;
      await waitFor(() => readErrors(s.dir).some((e) => e.pid === blocked.pid && e.error === "LeaseLostError" && e.job === busyId),
        "the blocked process to report its lost lease once it wakes", 30_000, 50);
      // The woken process still works: with the other one gone, it alone completes these.
      assert.equal((await cluster.stop(1)).code, 0, rescuer.proc.stderr());
      ids.push(...await enqueueAll(s.queue, s.name, Array.from({ length: 10 }, (_, i) => ({ i: 100 + i }))));
      await waitFor(async () => (await s.queue.count(s.name)).completed === ids.length, "the woken process to complete new jobs", 30_000, 50);
      const exits = await cluster.stopAll();
      assert.ok(exits.every((exit) => exit.code === 0), cluster.all.map((m) => m.proc.stderr()).join("\n"));

      const { summary, jobs } = await verify(s, `${store.kind} blocked event loop`, { ids, cluster });
      const job = jobs.get(busyId!)!;
      assert.equal(job.attempts, 2);
      assert.equal(job.crashes, 1, "the stalled attempt's expired lease counts as a crash");
      assert.equal((job.result as { pid: number }).pid, rescuer.pid, "the rescuer's result is the one stored");
      const lost = readErrors(s.dir).filter((e) => e.pid === blocked.pid && e.job === busyId);
      const takeoverMs = rescued.startedAt!.getTime() - claimedAt;
      const measure = `taken over ${takeoverMs} ms after the claim (lease ${LEASE_MS} ms, loop blocked ${BUSY_MS} ms); late completion fenced out, reported: ${lost.map((e) => e.source).join(", ")}`;
      t.diagnostic(`${measure}; ${lost.map((e) => e.message).join(" | ")}`);
      assert.ok(takeoverMs >= LEASE_MS - 50 && takeoverMs < BUSY_MS, `takeover after ${takeoverMs} ms`);
      recordResult({
        scenario: "3b. event loop blocked past the lease", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });
  });
}
