/**
 * Unique jobs: `label` as a deduplication key among live jobs, `isolation` after completion,
 * `onDuplicate: "replace"`, per-item deduplication in batches, transactions and retention.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { ValidationError, type Queue } from "../../src/index.js";
import type { Store } from "../../src/store/store.js";
import { Signal, asSqlTransaction, insertOne, newJob, nextEvent, setup, taskName, within } from "../helpers.js";

const LONG = 3_600_000;

const rejectsWith = (field: string) => (error: unknown) => error instanceof ValidationError && error.field === field;

/** Resolves once job `id` completes in `queue` (subscribe before it can complete). */
async function completeOne(queue: Queue, id: string): Promise<void> {
  await nextEvent(queue, "job:complete", ({ job }) => job.id === id);
}

export function uniqueSuite(harness: StoreHarness): void {
  test("a second enqueue of a live label stores nothing and returns the standing job, flagged", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const enqueued: string[] = [];
    queue.on("job:enqueue", ({ jobs }) => enqueued.push(...jobs.map((job) => job.id)));
    const first = await queue.enqueue(name, { n: 1 }, { label: "L" });
    const second = await queue.enqueue(name, { n: 2 }, { label: "L" });
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.id, first.id);
    assert.deepEqual(second.data, { n: 1 }, "the standing job is kept as it was");
    // Another label, another task, or no label: new jobs.
    assert.equal((await queue.enqueue(name, {}, { label: "M" })).duplicate, false);
    assert.equal((await queue.enqueue(taskName(), {}, { label: "L" })).duplicate, false);
    assert.equal((await queue.enqueue(name)).duplicate, false);
    const listed = await queue.list({ name, label: "L" });
    assert.deepEqual(listed.map((job) => job.id), [first.id]);
    assert.equal((await queue.count(name)).enqueued, 3);
    assert.equal(enqueued.filter((id) => id === first.id).length, 1, "job:enqueue only for the job stored");
  });

  test("failed and running jobs stand; completed and cancelled ones free the label", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const running = new Signal<string>();
    const release = new Signal();
    queue.define<{ mode?: string }>(name, async (ctx) => {
      if (ctx.job.data.mode === "hold") {
        running.resolve(ctx.job.id);
        await release.promise;
      }
      if (ctx.job.data.mode === "fail" && ctx.job.attempt === 1) throw new Error("once");
      return null;
    }, { minDelay: 60_000, maxDelay: 60_000 });
    await queue.start();

    const held = await queue.enqueue(name, { mode: "hold" }, { label: "hold" });
    await within(running.promise, "the handler to start");
    const again = await queue.enqueue(name, { mode: "hold" }, { label: "hold", onDuplicate: "replace" });
    assert.equal(again.id, held.id, "a dequeued job stands");
    assert.equal(again.status, "dequeued");
    const done = completeOne(queue, held.id);
    release.resolve();
    await done;
    const after = await queue.enqueue(name, { mode: "plain" }, { label: "hold" });
    assert.equal(after.duplicate, false, "a completed job frees the label (no isolation)");
    assert.notEqual(after.id, held.id);

    const failing = await queue.enqueue(name, { mode: "fail" }, { label: "fail" });
    await nextEvent(queue, "job:fail", ({ job }) => job.id === failing.id);
    const standing = await queue.enqueue(name, {}, { label: "fail" });
    assert.equal(standing.id, failing.id, "a failed job (waiting for its retry) stands");
    assert.equal(standing.status, "failed");

    assert.equal(await queue.cancel(failing.id, "stop"), true);
    const fresh = await queue.enqueue(name, {}, { label: "fail", delay: LONG });
    assert.equal(fresh.duplicate, false, "a cancelled job frees the label");
  });

  test("isolation: a job completed less than `isolation` ago stands; an older one does not", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => "done");
    await queue.start();
    const first = await queue.enqueue(name, {}, { label: "L", isolation: 60_000 });
    await completeOne(queue, first.id);
    const within60 = await queue.enqueue(name, {}, { label: "L", isolation: 60_000 });
    assert.equal(within60.id, first.id);
    assert.equal(within60.duplicate, true);
    assert.equal(within60.status, "completed");
    // The window is the call's own: a call with a shorter one does not see it.
    await loc.backdateFinished(first.id, 30_000);
    const stillWithin = await queue.enqueue(name, {}, { label: "L", isolation: 60_000 });
    assert.equal(stillWithin.id, first.id);
    const shorter = await queue.enqueue(name, {}, { label: "L", isolation: 10_000, delay: LONG });
    assert.equal(shorter.duplicate, false);
    assert.notEqual(shorter.id, first.id);
  });

  test('onDuplicate "replace": the last call wins while the job waits; "keep" changes nothing', async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const first = await queue.enqueue(name, { v: 1 }, { label: "L", delay: LONG });
    const replaced = await queue.enqueue(name, { v: 2 }, { label: "L", onDuplicate: "replace", priority: 5 });
    assert.equal(replaced.id, first.id);
    assert.equal(replaced.duplicate, true);
    assert.deepEqual(replaced.data, { v: 2 });
    assert.equal(replaced.priority, 5);
    assert.ok(replaced.availableAt.getTime() < first.availableAt.getTime() - LONG / 2, "its delay replaced too");
    const kept = await queue.enqueue(name, { v: 3 }, { label: "L" });
    assert.deepEqual(kept.data, { v: 2 }, "keep (the default) changes nothing");
    const stored = await queue.get(first.id);
    assert.deepEqual(stored?.data, { v: 2 });
  });

  test("enqueueMany deduplicates per item: duplicates never fail or drop the others", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const standing = await queue.enqueue(name, { s: true }, { label: "A" });
    const jobs = await queue.enqueueMany([
      { name, data: { i: 0 }, label: "A" },
      { name, data: { i: 1 } },
      { name, data: { i: 2 }, label: "B" },
      { name, data: { i: 3 }, label: "B" },
      { name, data: { i: 4 }, label: "C", onDuplicate: "replace" },
      { name, data: { i: 5 }, label: "C", onDuplicate: "replace" },
      { name, data: { i: 6 } },
    ]);
    assert.deepEqual(jobs.map((job) => job.duplicate), [true, false, false, true, false, true, false]);
    assert.equal(jobs[0]?.id, standing.id);
    assert.equal(jobs[2]?.id, jobs[3]?.id, "one job per label within a batch");
    assert.equal(jobs[4]?.id, jobs[5]?.id);
    assert.deepEqual((await queue.get(jobs[4]!.id))?.data, { i: 5 }, "the last replacing item wins within a batch");
    assert.deepEqual(jobs.map((job) => (job.data as { i?: number }).i ?? "s"), ["s", 1, 2, 2, 5, 5, 6]);
    assert.equal((await queue.count(name)).enqueued, 5);
  });

  test("concurrent single enqueues of one label (coalesced into one batch) get one job, one of them new", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const other = taskName();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      queue.enqueue(i % 2 === 0 ? name : other, { i }, { label: "same" })));
    for (const task of [name, other]) {
      const mine = results.filter((job) => job.name === task);
      assert.equal(new Set(mine.map((job) => job.id)).size, 1);
      assert.equal(mine.filter((job) => !job.duplicate).length, 1);
      assert.equal((await queue.count(task)).enqueued, 1);
    }
  });

  test("inside a transaction: a rollback leaves the label free; a commit makes later calls duplicates", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    let rolledBack = "";
    await loc.transaction(false, async (tx) => {
      const job = await queue.enqueue(name, { n: 1 }, { label: "L", tx });
      assert.equal(job.duplicate, false);
      rolledBack = job.id;
    });
    assert.equal(await queue.get(rolledBack), null);
    let committed = "";
    await loc.transaction(true, async (tx) => {
      const job = await queue.enqueue(name, { n: 2 }, { label: "L", tx });
      assert.equal(job.duplicate, false, "the rolled-back job left the label free");
      const again = await queue.enqueue(name, { n: 3 }, { label: "L", tx });
      assert.equal(again.id, job.id, "a duplicate inside the same transaction");
      committed = job.id;
    });
    await loc.transaction(true, async (tx) => {
      const job = await queue.enqueue(name, { n: 4 }, { label: "L", tx });
      assert.equal(job.duplicate, true);
      assert.equal(job.id, committed);
    });
    assert.deepEqual((await queue.list({ name, label: "L" })).map((job) => job.id), [committed]);
  });

  test("through an ORM's transaction (SqlTransaction) labels deduplicate, replace and fold as on the driver's connection", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const standing = await queue.enqueue(name, { n: 1 }, { label: "L" });
    const cancelled = await queue.enqueue(name, { n: 1 }, { label: "C" });
    await queue.cancel(cancelled.id, "gone");
    let fresh = "";
    await loc.transaction(true, async (handle) => {
      const tx = asSqlTransaction(harness.kind, handle);
      const dup = await queue.enqueue(name, { n: 2 }, { label: "L", tx });
      assert.equal(dup.duplicate, true);
      assert.equal(dup.id, standing.id);
      assert.deepEqual(dup.data, { n: 1 }, "kept as it was");
      const replaced = await queue.enqueue(name, { n: 3 }, { label: "L", onDuplicate: "replace", tx });
      assert.equal(replaced.id, standing.id);
      assert.deepEqual(replaced.data, { n: 3 }, "replaced while it waits");
      const freed = await queue.enqueue(name, {}, { label: "C", tx });
      assert.equal(freed.duplicate, false, "a cancelled holder frees the label");
      // One batch: two items of one new key fold into one job; unlabelled items keep their order.
      const batch = await queue.enqueueMany([
        { name, data: { k: 1 }, label: "M" }, { name, data: { k: 2 } }, { name, data: { k: 3 }, label: "M" }, { name, data: { k: 4 } },
        { name, data: { k: 5 }, label: "L" },
      ], { tx });
      assert.deepEqual(batch.map((job) => job.duplicate), [false, false, true, false, true]);
      assert.equal(batch[2]?.id, batch[0]?.id);
      assert.equal(batch[4]?.id, standing.id);
      assert.deepEqual(batch.map((job) => job.data), [{ k: 1 }, { k: 2 }, { k: 1 }, { k: 4 }, { n: 3 }]);
      assert.ok(Number(batch[1]?.id) < Number(batch[3]?.id));
      const again = await queue.enqueue(name, {}, { label: "M", tx });
      assert.equal(again.id, batch[0]?.id, "a duplicate inside the same transaction");
      fresh = again.id;
    });
    assert.deepEqual((await queue.get(standing.id))?.data, { n: 3 });
    assert.deepEqual((await queue.list({ name, label: "M" })).map((job) => job.id), [fresh]);

    let rolledBack = "";
    await loc.transaction(false, async (handle) => {
      const job = await queue.enqueue(name, {}, { label: "R", tx: asSqlTransaction(harness.kind, handle) });
      assert.equal(job.duplicate, false);
      rolledBack = job.id;
    });
    assert.equal(await queue.get(rolledBack), null);
    assert.equal((await queue.enqueue(name, {}, { label: "R" })).duplicate, false, "the rolled-back job left the label free");
  });

  test("through an ORM's transaction (SqlTransaction) a completed holder stands for its isolation window", async (t) => {
    const { queue, loc, another } = await setup(t, harness);
    const name = taskName();
    const isolated = await queue.enqueue(name, {}, { label: "iso", isolation: LONG });
    const plain = await queue.enqueue(name, {}, { label: "plain" });
    // Run by a queue that is closed again: no worker writes while the transaction holds SQLite's write lock.
    const runner = await another();
    runner.define(name, () => null);
    await runner.start();
    await within(Promise.all([runner.waitFor(isolated.id), runner.waitFor(plain.id)]), "both jobs");
    await runner.close();
    await loc.transaction(true, async (handle) => {
      const tx = asSqlTransaction(harness.kind, handle);
      const held = await queue.enqueue(name, {}, { label: "iso", isolation: LONG, tx });
      assert.equal(held.duplicate, true);
      assert.equal(held.id, isolated.id);
      assert.equal(held.status, "completed");
      const next = await queue.enqueue(name, {}, { label: "plain", tx });
      assert.equal(next.duplicate, false, "no isolation: a completed holder frees the label");
    });
    assert.equal((await queue.list({ name, label: "plain" })).length, 2);
  });

  test("retention keeps a completed job while its isolation window is open", async (t) => {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const store: Store = await loc.openStore();
    const name = taskName();
    const isolated = await insertOne(store, newJob(name, { label: "iso", isolationMs: LONG }));
    const plain = await insertOne(store, newJob(name, { label: "plain" }));
    const { claimed } = await store.jobClaim({ requests: [{ name, limit: 2, leaseMs: LONG }] });
    assert.equal(claimed.length, 2);
    await store.jobCompleteMany({ items: claimed.map((job) => ({ id: job.id, attempt: job.attempts, result: "null" })) });
    for (const id of [isolated.id, plain.id]) await loc.backdateFinished(id, 60_000);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: 1_000, limit: 10 }), 1);
    assert.equal(await store.jobGet({ id: plain.id }), null);
    assert.ok(await store.jobGet({ id: isolated.id }), "kept: its window is open");
    await loc.backdateFinished(isolated.id, LONG);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: 1_000, limit: 10 }), 1);
  });

  test("bad unique options: ValidationError naming the field", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    await assert.rejects(queue.enqueue(name, {}, { label: 7 as unknown as string }), rejectsWith("label"));
    await assert.rejects(queue.enqueue(name, {}, { label: "x".repeat(256) }), rejectsWith("label"));
    await assert.rejects(queue.enqueue(name, {}, { label: "L", isolation: -1 }), rejectsWith("isolation"));
    await assert.rejects(queue.enqueue(name, {}, { label: "L", isolation: Number.NaN }), rejectsWith("isolation"));
    await assert.rejects(queue.enqueue(name, {}, { isolation: 10 }), rejectsWith("isolation"));
    await assert.rejects(queue.enqueue(name, {}, { label: "L", onDuplicate: "merge" as "replace" }), rejectsWith("onDuplicate"));
    await assert.rejects(queue.enqueue(name, {}, { onDuplicate: "replace" }), rejectsWith("onDuplicate"));
    await assert.rejects(queue.enqueueMany([{ name, label: "L" }, { name, label: "L", isolation: -5 }]), rejectsWith("items[1].isolation"));
    assert.equal((await queue.count(name)).enqueued, 0);
  });
}
