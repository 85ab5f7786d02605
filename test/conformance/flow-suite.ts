/**
 * Flow control, per store: pause/resume, global and per-group concurrency from live leases, rate limits,
 * fair order across groups. Store-level cases drive `jobClaim` directly; queue-level cases run handlers
 * in several queues on one location (each its own connections, as separate processes would be).
 * The multi-process proofs are in test/process/flow-process.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { ValidationError, type Queue } from "../../src/index.js";
import type { FlowLimits } from "../../src/flow/limits.js";
import type { ClaimResult, Store } from "../../src/store/store.js";
import { Signal, newJob, setup, taskName, until, within } from "../helpers.js";

const LONG = 3_600_000;

function claimLimited(store: Store, name: string, limit: number, flow: FlowLimits): Promise<ClaimResult> {
  return store.jobClaim({ requests: [{ name, limit, leaseMs: LONG, flow }] });
}

/** Simulated work of a handler: a short wait, so that jobs overlap. */
function work(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Tracks how many handlers run at once, overall and per key. */
class Overlap {
  running = 0;
  max = 0;
  readonly byKey = new Map<string, number>();
  maxPerKey = 0;

  async around<T>(key: string, fn: () => Promise<T>): Promise<T> {
    this.running++;
    this.max = Math.max(this.max, this.running);
    const mine = (this.byKey.get(key) ?? 0) + 1;
    this.byKey.set(key, mine);
    this.maxPerKey = Math.max(this.maxPerKey, mine);
    try {
      return await fn();
    } finally {
      this.running--;
      this.byKey.set(key, (this.byKey.get(key) ?? 1) - 1);
    }
  }
}

export function flowSuite(harness: StoreHarness): void {
  async function fresh(t: { after(fn: () => Promise<void>): void }) {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    return { loc, store: await loc.openStore() };
  }

  test("concurrency counts live leases: a full task is held back; an expired lease gives its capacity back", async (t) => {
    const { loc, store } = await fresh(t);
    await store.jobInsertMany({ jobs: Array.from({ length: 5 }, () => newJob("a")) });
    const first = await claimLimited(store, "a", 5, { concurrency: 2 });
    assert.equal(first.claimed.length, 2);
    assert.deepEqual(first.heldBack, [{ name: "a", paused: false, retryInMs: null }]);
    assert.equal((await claimLimited(store, "a", 5, { concurrency: 2 })).claimed.length, 0, "full");
    const [done, crashed] = first.claimed;
    assert.ok(done && crashed);
    await store.jobCompleteMany({ items: [{ id: done.id, attempt: 1, result: "null" }] });
    assert.equal((await claimLimited(store, "a", 5, { concurrency: 2 })).claimed.length, 1, "a completion frees a place");
    // A crashed worker's lease runs out: its job no longer counts, and is itself due again (first in line).
    await loc.makeAvailableNow(crashed.id);
    const again = await claimLimited(store, "a", 5, { concurrency: 2 });
    assert.deepEqual(again.claimed.map((job) => [job.id, job.attempts, job.crashes]), [[crashed.id, 2, 1]]);
    assert.equal((await store.jobCountByStatus({ name: "a" })).dequeued, 2);
  });

  test("fair order: priority first, then round-robin across groups (no group is a group), then age", async (t) => {
    const { store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [
      ...["A", "A", "A", "A"].map((group) => newJob("a", { group })),
      ...["B", "B"].map((group) => newJob("a", { group })),
      newJob("a"), newJob("a"),
      newJob("a", { group: "A", priority: 5 }),
    ] });
    const [a1, a2, a3, a4, b1, b2, n1, n2, urgent] = jobs.map((job) => job.id);
    assert.equal(jobs[0]?.group, "A");
    assert.equal(jobs[6]?.group, null);
    const { claimed } = await claimLimited(store, "a", 8, { concurrency: 100 });
    assert.deepEqual(claimed.map((job) => job.id), [urgent, a1, b1, n1, a2, b2, n2, a3]);
    assert.deepEqual((await claimLimited(store, "a", 8, { concurrency: 100 })).claimed.map((job) => job.id), [a4]);
  });

  test("groupConcurrency limits each group apart; other groups still run", async (t) => {
    const { store } = await fresh(t);
    await store.jobInsertMany({ jobs: [newJob("a", { group: "x" }), newJob("a", { group: "x" }), newJob("a", { group: "y" }), newJob("a", { group: "x" })] });
    const first = await claimLimited(store, "a", 10, { groupConcurrency: 1 });
    assert.deepEqual(first.claimed.map((job) => job.group), ["x", "y"]);
    assert.equal(first.heldBack?.length, 1, "x's other jobs were held back");
    assert.equal((await claimLimited(store, "a", 10, { groupConcurrency: 1 })).claimed.length, 0);
    const [x] = first.claimed;
    await store.jobCompleteMany({ items: [{ id: x!.id, attempt: 1, result: "null" }] });
    assert.deepEqual((await claimLimited(store, "a", 10, { groupConcurrency: 1 })).claimed.map((job) => job.group), ["x"]);
  });

  test("rateLimit: at most `limit` starts per window, whatever completes; held jobs keep their attempts", async (t) => {
    const { store } = await fresh(t);
    await store.jobInsertMany({ jobs: Array.from({ length: 5 }, () => newJob("a")) });
    const flow: FlowLimits = { rateLimit: { limit: 2, per: LONG, byGroup: false } };
    const first = await claimLimited(store, "a", 5, flow);
    assert.equal(first.claimed.length, 2);
    await store.jobCompleteMany({ items: first.claimed.map((job) => ({ id: job.id, attempt: 1, result: "null" })) });
    const held = await claimLimited(store, "a", 5, flow);
    assert.equal(held.claimed.length, 0);
    const retry = held.heldBack?.[0]?.retryInMs;
    assert.ok(retry !== undefined && retry !== null && retry > LONG - 60_000 && retry <= LONG, `retry in ${retry} ms`);
    const counts = await store.jobCountByStatus({ name: "a" });
    assert.deepEqual([counts.completed, counts.enqueued], [2, 3]);
    const waiting = await store.jobList({ name: "a", status: "enqueued", limit: 10 });
    assert.ok(waiting.every((job) => job.attempts === 0));
    // byGroup: a window per group.
    await store.jobInsertMany({ jobs: [newJob("b", { group: "x" }), newJob("b", { group: "x" }), newJob("b", { group: "y" })] });
    const byGroup: FlowLimits = { rateLimit: { limit: 1, per: LONG, byGroup: true } };
    assert.deepEqual((await claimLimited(store, "b", 5, byGroup)).claimed.map((job) => job.group), ["x", "y"]);
    assert.equal((await claimLimited(store, "b", 5, byGroup)).claimed.length, 0);
  });

  test("pause: nothing of a paused task is claimed (plain, limited or directly), others are; resume; the list", async (t) => {
    const { store } = await fresh(t);
    await store.jobInsertMany({ jobs: [newJob("a"), newJob("a"), newJob("b")] });
    assert.equal(await store.taskSetPaused({ name: "a", paused: true }), true);
    assert.equal(await store.taskSetPaused({ name: "a", paused: true }), false, "already paused");
    assert.deepEqual(await store.taskListPaused(), ["a"]);
    const round = await store.jobClaim({ requests: [{ name: "a", limit: 5, leaseMs: LONG }, { name: "b", limit: 5, leaseMs: LONG }] });
    assert.deepEqual(round.claimed.map((job) => job.name), ["b"]);
    assert.deepEqual(round.heldBack, [{ name: "a", paused: true, retryInMs: null }]);
    assert.equal((await claimLimited(store, "a", 5, { concurrency: 5 })).claimed.length, 0);
    const [direct] = await store.jobInsertClaimed({ items: [{ job: newJob("a"), leaseMs: LONG }] });
    assert.deepEqual([direct?.status, direct?.attempts], ["enqueued", 0], "a paused task's job is stored unclaimed");
    assert.equal(await store.taskSetPaused({ name: "a", paused: false }), true);
    assert.equal(await store.taskSetPaused({ name: "a", paused: false }), false, "not paused");
    assert.deepEqual(await store.taskListPaused(), []);
    assert.equal((await store.jobClaim({ requests: [{ name: "a", limit: 5, leaseMs: LONG }] })).claimed.length, 3);
  });

  test("bad flow options and groups are ValidationErrors naming the field", async (t) => {
    const { queue } = await setup(t, harness);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ concurrency: 0 }, "taskOptions.concurrency"],
      [{ concurrency: 1.5 }, "taskOptions.concurrency"],
      [{ concurrency: "3" }, "taskOptions.concurrency"],
      [{ groupConcurrency: -1 }, "taskOptions.groupConcurrency"],
      [{ rateLimit: 5 }, "taskOptions.rateLimit"],
      [{ rateLimit: { limit: 0, per: 1000 } }, "taskOptions.rateLimit.limit"],
      [{ rateLimit: { limit: 1, per: 9 } }, "taskOptions.rateLimit.per"],
      [{ rateLimit: { limit: 1 } }, "taskOptions.rateLimit.per"],
      [{ rateLimit: { limit: 1, per: 1000, every: 1 } }, "taskOptions.rateLimit.every"],
      [{ rateLimit: { limit: 1, per: 1000, byGroup: "yes" } }, "taskOptions.rateLimit.byGroup"],
    ];
    for (const [options, field] of cases) {
      assert.throws(() => queue.define(taskName(), () => null, options), (error: unknown) =>
        error instanceof ValidationError && error.field === field, JSON.stringify(options));
    }
    const name = taskName();
    for (const [group, field] of [[5, "group"], ["", "group"], ["g".repeat(256), "group"]] as const) {
      await assert.rejects(queue.enqueue(name, {}, { group: group as string }), (error: unknown) =>
        error instanceof ValidationError && error.field === field);
    }
    await assert.rejects(queue.enqueueMany([{ name, group: 7 as unknown as string }]), (error: unknown) =>
      error instanceof ValidationError && error.field === "items[0].group");
    await assert.rejects(queue.pause(5 as unknown as string), (error: unknown) => error instanceof ValidationError && error.field === "name");
    assert.equal((await queue.enqueue(name, {}, { group: "tenant-1" })).group, "tenant-1");
    assert.equal((await queue.enqueue(name, {}, { group: "tenant-2", label: "unique" })).group, "tenant-2", "a labelled job keeps its group");
    assert.equal(await queue.pause("defined-nowhere"), true, "a task defined elsewhere may be paused");
    assert.deepEqual(await queue.paused(), ["defined-nowhere"]);
  });

  test("concurrency across queues: 3 queues × workers 5, concurrency 3: at most 3 handlers at once, and 3 reached", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName("conc");
    const overlap = new Overlap();
    const queues: Queue[] = [queue, await another(), await another()];
    for (const q of queues) q.define(name, () => overlap.around("", () => work(20)), { workers: 5, concurrency: 3, interval: 50 });
    await queue.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ name, data: { i } })));
    await Promise.all(queues.map((q) => q.start()));
    await until(async () => (await queue.count(name)).completed === 30, "30 completions");
    assert.equal(overlap.max, 3);
  });

  test("pause from another queue: nothing starts after pause() plus one claim round; resume drains the rest", async (t) => {
    const { queue: worker, another } = await setup(t, harness);
    const operator = await another();
    const name = taskName("paused");
    const sentinel = taskName("sentinel");
    const starts: number[] = [];
    const gate = new Signal();
    worker.define(name, async () => {
      starts.push(Date.now());
      await gate.promise;
    }, { workers: 2, interval: 50 });
    worker.define(sentinel, () => null, { interval: 50 });
    await operator.enqueueMany(Array.from({ length: 10 }, () => ({ name })));
    await worker.start();
    await until(() => starts.length === 2, "two running");
    assert.equal(await operator.pause(name), true);
    assert.deepEqual(await operator.paused(), [name]);
    // One claim round of the worker after the pause: it claims the sentinel (and nothing of the paused task).
    const { id } = await operator.enqueue(sentinel);
    await until(async () => (await operator.get(id))?.status === "completed", "the sentinel");
    gate.resolve();
    await until(async () => (await operator.count(name)).completed === 2, "running jobs finish");
    const sentinelStart = (await operator.get(id))!.startedAt!.getTime();
    const after = (await operator.list({ name, limit: 100 })).filter((job) => job.startedAt && job.startedAt.getTime() >= sentinelStart);
    assert.deepEqual(after, [], "no job of the paused task started after the round that saw the pause");
    assert.equal((await operator.count(name)).enqueued, 8);
    assert.equal(await operator.resume(name), true);
    await until(async () => (await operator.count(name)).completed === 10, "the rest, after resume");
  });

  test("groupConcurrency 1 over 10 groups in 2 queues: no two jobs of a group overlap; every group progresses", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName("groups");
    const overlap = new Overlap();
    const queues: Queue[] = [queue, await another()];
    for (const q of queues) {
      q.define<{ g: string }>(name, (ctx) => overlap.around(ctx.job.data.g, () => work(5)), { workers: 5, groupConcurrency: 1, interval: 50 });
    }
    const items = Array.from({ length: 40 }, (_, i) => ({ name, data: { g: `g${i % 10}` }, group: `g${i % 10}` }));
    await queue.enqueueMany(items);
    await Promise.all(queues.map((q) => q.start()));
    await until(async () => (await queue.count(name)).completed === 40, "40 completions");
    assert.equal(overlap.maxPerKey, 1, "two jobs of one group overlapped");
    assert.ok(overlap.max > 1, "groups ran side by side");
  });

  test("fairness: 2,000 jobs of group A, then 10 of B, concurrency 2: B's last starts within 40 starts of B's enqueue", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName("fair");
    const order: string[] = [];
    const started = new Signal();
    queue.define<{ g: string }>(name, async (ctx) => {
      order.push(ctx.job.data.g);
      if (order.length === 5) started.resolve();
      await work(1);
    }, { workers: 2, concurrency: 2 });
    for (let i = 0; i < 2000; i += 1000) {
      await queue.enqueueMany(Array.from({ length: 1000 }, () => ({ name, data: { g: "A" }, group: "A" })));
    }
    await queue.start();
    await within(started.promise, "A's first starts");
    const before = order.length;
    await queue.enqueueMany(Array.from({ length: 10 }, () => ({ name, data: { g: "B" }, group: "B" })));
    await until(() => order.filter((g) => g === "B").length === 10, "B's 10 starts");
    const position = order.lastIndexOf("B") + 1 - before;
    t.diagnostic(`${harness.kind}: B's last job started ${position} starts after B's enqueue`);
    assert.ok(position <= 40, `B's last start came ${position} starts after its enqueue`);
  });
}
