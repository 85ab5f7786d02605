/**
 * The operator's API on every store: filtered listings paged both ways, stats, reschedule, bulk cancel,
 * and opening a queue for admin use (no tasks defined, and with `migrate: false`, no schema change).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { Queue, StoreError, ValidationError, type Job } from "../../src/index.js";
import { Signal, nextEvent, setup, taskName, within } from "../helpers.js";

export function adminSuite(harness: StoreHarness): void {
  /** Sets a job's createdAt (the store keeps epoch ms on SQLite, timestamptz on PostgreSQL). */
  const setCreated = (loc: TestLocation, id: string, at: Date) =>
    harness.kind === "sqlite"
      ? loc.exec("UPDATE {table} SET created_at = ? WHERE id = ?", [at.getTime(), id])
      : loc.exec("UPDATE {table} SET created_at = $1 WHERE id = $2", [at, id]);
  const ids = (jobs: Job[]) => jobs.map((job) => job.id);

  test("list: filters by name, status(es), label and creation time", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const [a, b] = [taskName(), taskName()];
    const [a1, a2, b1, b2] = await queue.enqueueMany([
      { name: a, label: "x" }, { name: a, group: "tenant-1" }, { name: b, label: "x" }, { name: b, group: "tenant-1" },
    ]);
    assert.ok(a1 && a2 && b1 && b2);
    assert.equal(await queue.cancel(a2.id, "stop"), true);
    const base = Date.parse("2030-01-01T00:00:00Z");
    for (const [i, job] of [a1, a2, b1, b2].entries()) await setCreated(loc, job.id, new Date(base + i * 60_000));

    assert.deepEqual(ids(await queue.list({ name: a })), [a1.id, a2.id]);
    assert.deepEqual(ids(await queue.list({ status: "cancelled" })), [a2.id]);
    assert.deepEqual(ids(await queue.list({ status: ["cancelled", "enqueued"], name: b })), [b1.id, b2.id]);
    assert.deepEqual(ids(await queue.list({ status: [] })), []);
    assert.deepEqual(ids(await queue.list({ label: "x" })), [a1.id, b1.id]);
    assert.deepEqual(ids(await queue.list({ label: "x", name: b })), [b1.id]);
    assert.deepEqual(ids(await queue.list({ group: "tenant-1" })), [a2.id, b2.id]);
    assert.deepEqual(ids(await queue.list({ group: "tenant-1", status: "enqueued" })), [b2.id]);
    assert.deepEqual(ids(await queue.list({ createdFrom: new Date(base + 60_000), createdBefore: new Date(base + 180_000) })), [a2.id, b1.id]);
    assert.deepEqual(ids(await queue.list({ createdFrom: new Date(base + 180_000) })), [b2.id]);

    await assert.rejects(queue.list({ status: "done" as "completed" }), (e: unknown) => e instanceof ValidationError && e.field === "options.status");
    await assert.rejects(queue.list({ createdFrom: "yesterday" as unknown as Date }), (e: unknown) => e instanceof ValidationError && e.field === "options.createdFrom");
    await assert.rejects(queue.list({ order: "newest" as "desc" }), (e: unknown) => e instanceof ValidationError && e.field === "options.order");
    await assert.rejects(queue.list({ label: 5 as unknown as string }), (e: unknown) => e instanceof ValidationError && e.field === "options.label");
    await assert.rejects(queue.list({ beforeId: "" }), (e: unknown) => e instanceof ValidationError && e.field === "options.beforeId");
  });

  test("list: keyset pages in both directions, oldest or newest first", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const all = ids(await queue.enqueueMany(Array.from({ length: 7 }, () => ({ name }))));
    const newest = [...all].reverse();

    // Newest first, paging to older jobs and back.
    const p1 = ids(await queue.list({ name, order: "desc", limit: 3 }));
    assert.deepEqual(p1, newest.slice(0, 3));
    const p2 = ids(await queue.list({ name, order: "desc", limit: 3, beforeId: p1.at(-1) }));
    assert.deepEqual(p2, newest.slice(3, 6));
    const p3 = ids(await queue.list({ name, order: "desc", limit: 3, beforeId: p2.at(-1) }));
    assert.deepEqual(p3, newest.slice(6));
    assert.deepEqual(ids(await queue.list({ name, order: "desc", limit: 3, afterId: p3[0] })), p2, "back one page");
    assert.deepEqual(ids(await queue.list({ name, order: "desc", limit: 3, afterId: p2[0] })), p1, "back to the first page");

    // Oldest first, forward and back.
    const q1 = ids(await queue.list({ name, limit: 3 }));
    assert.deepEqual(q1, all.slice(0, 3));
    const q2 = ids(await queue.list({ name, limit: 3, afterId: q1.at(-1) }));
    assert.deepEqual(q2, all.slice(3, 6));
    assert.deepEqual(ids(await queue.list({ name, limit: 3, beforeId: q2[0] })), q1);
    // A window between two cursors, in either order.
    assert.deepEqual(ids(await queue.list({ name, afterId: all[1], beforeId: all[5] })), all.slice(2, 5));
    assert.deepEqual(ids(await queue.list({ name, afterId: all[1], beforeId: all[5], order: "desc" })), all.slice(2, 5).reverse());
  });

  test("stats: counts per task and status, running jobs, the oldest ready job's age", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const [a, b] = [taskName(), taskName()].sort();
    assert.ok(a && b);
    const running = new Signal<void>();
    const release = new Signal<void>();
    queue.define(b, async () => {
      running.resolve();
      await release.promise;
    });
    const [a1] = await queue.enqueueMany([{ name: a }, { name: a }, { name: a, delay: 3_600_000 }]);
    assert.ok(a1);
    await loc.makeAvailableNow(a1.id);
    const { id: gone } = await queue.enqueue(a);
    await queue.cancel(gone, "no");
    await queue.enqueue(b);
    await queue.start();
    await within(running.promise, "b's handler to start");

    const stats = await queue.stats();
    assert.ok(stats.at instanceof Date);
    assert.deepEqual(stats.tasks.map((task) => task.name).filter((n) => n === a || n === b), [a, b]);
    const ta = stats.tasks.find((task) => task.name === a);
    const tb = stats.tasks.find((task) => task.name === b);
    assert.deepEqual(ta?.counts, { enqueued: 3, dequeued: 0, completed: 0, failed: 0, cancelled: 1 });
    assert.equal(ta?.total, 4);
    assert.ok(ta.oldestReadyAgeMs !== null && ta.oldestReadyAgeMs >= 900, `a waited about a second: ${ta.oldestReadyAgeMs}`);
    assert.deepEqual(tb?.counts, { enqueued: 0, dequeued: 1, completed: 0, failed: 0, cancelled: 0 });
    assert.equal(tb.oldestReadyAgeMs, null, "b's only job is running");
    assert.equal(stats.running, 1);
    assert.equal(stats.totals.enqueued, 3);
    assert.equal(stats.oldestReadyAgeMs, ta.oldestReadyAgeMs);
    assert.deepEqual(stats.paused, []);
    assert.equal(ta.paused, false);

    const idle = taskName();
    await queue.pause(a);
    await queue.pause(idle);
    const paused = await queue.stats();
    assert.deepEqual(paused.paused, [a, idle].sort(), "paused tasks, with jobs or without");
    assert.equal(paused.tasks.find((task) => task.name === a)?.paused, true);
    assert.equal(paused.tasks.find((task) => task.name === b)?.paused, false);
    release.resolve();
  });

  test("reschedule: a waiting job moves (delay or at); running, finished and unknown jobs do not", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const job = await queue.enqueue(name, {}, { delay: 3_600_000 });
    const at = new Date(Date.now() + 7_200_000);
    assert.equal(await queue.reschedule(job.id, { at }), true);
    assert.equal((await queue.get(job.id))?.availableAt.getTime(), at.getTime());

    // Delay 0 runs it now: a started worker picks it up.
    const ran = new Signal<string>();
    queue.define(name, (ctx) => ran.resolve(ctx.job.id));
    await queue.start();
    const completed = nextEvent(queue, "job:complete");
    assert.equal(await queue.reschedule(job.id, { delay: 0 }), true);
    assert.equal(await within(ran.promise, "the rescheduled job to run"), job.id);
    await completed;
    assert.equal(await queue.reschedule(job.id, { delay: 10 }), false, "completed: not moved");
    assert.equal(await queue.reschedule("999999999", { delay: 0 }), false, "unknown id");

    const bad: Array<[unknown, string]> = [
      [{}, "options"], [{ delay: 1, at }, "options"], [{ delay: Number.NaN }, "options.delay"],
      [{ at: new Date("nope") }, "options.at"], [{ at: "2030-01-01" }, "options.at"], [{ when: 1 }, "options.when"],
    ];
    for (const [options, field] of bad) {
      await assert.rejects(queue.reschedule(job.id, options as { delay: number }), (e: unknown) => e instanceof ValidationError && e.field === field, field);
    }
  });

  test("cancel(filter): cancels the unfinished jobs matching, in batches, and reports progress", async (t) => {
    const { queue: admin, another } = await setup(t, harness);
    const [a, b] = [taskName(), taskName()];
    const worker = await another();
    worker.define(a, () => null);
    const completed = nextEvent(worker, "job:complete");
    const { id: finished } = await admin.enqueue(a);
    await worker.start();
    await completed;
    await worker.close();

    const many = await admin.enqueueMany(Array.from({ length: 1203 }, () => ({ name: a })));
    const other = await admin.enqueue(b);
    const events: string[] = [];
    admin.on("job:cancel", ({ job }) => events.push(job.id));
    const progress: number[] = [];
    const count = await admin.cancel({ name: a }, "clearing the backlog", { onProgress: (n) => progress.push(n) });
    assert.equal(count, 1203);
    assert.deepEqual(progress, [500, 1000, 1203]);
    assert.equal(events.length, 1203);
    assert.equal((await admin.count(a)).cancelled, 1203);
    assert.equal((await admin.get(finished))?.status, "completed", "finished jobs are left alone");
    assert.equal((await admin.get(other.id))?.status, "enqueued", "other tasks are left alone");
    assert.equal((await admin.get(many[0]?.id ?? ""))?.reason, "clearing the backlog");
    assert.equal(await admin.cancel({ name: a, status: "completed" }, "x"), 0);

    await assert.rejects(admin.cancel({}, "all"), (e: unknown) => e instanceof ValidationError && e.field === "filter");
    await assert.rejects(admin.cancel({ nme: a } as object, "x"), (e: unknown) => e instanceof ValidationError && e.field === "filter.nme");
    await assert.rejects(admin.cancel({ name: b }, ""), (e: unknown) => e instanceof ValidationError && e.field === "reason");
    assert.equal((await admin.get(other.id))?.status, "enqueued", "bad input changed nothing");
  });

  test("an admin queue needs no tasks; migrate: false never changes the schema", async (t) => {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const tables = async () => harness.kind === "sqlite"
      ? (await loc.exec("SELECT name FROM sqlite_master WHERE type = 'table'")).length
      : Number((await loc.exec("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1", [loc.schema]))[0]?.n);
    await assert.rejects(Queue.open(loc.url, { ...loc.queueOptions, migrate: false }), (e: unknown) =>
      e instanceof StoreError && /lacks migrations 1, /.test(e.message) && /hewn migrate/.test(e.message));
    assert.equal(await tables(), 0, "nothing was created");
    await assert.rejects(Queue.open(loc.url, { ...loc.queueOptions, migrate: "no" as unknown as boolean }),
      (e: unknown) => e instanceof ValidationError && e.field === "options.migrate");
    if (harness.kind === "sqlite") {
      await assert.rejects(Queue.open(`${loc.url}.missing`, { migrate: false }), /does not exist/);
    }

    const producer = await Queue.open(loc.url, loc.queueOptions);
    const name = taskName();
    const { id } = await producer.enqueue(name, { n: 1 });
    await producer.close();
    const before = await tables();

    const admin = await Queue.open(loc.url, { ...loc.queueOptions, migrate: false });
    t.after(() => admin.close());
    assert.deepEqual(ids(await admin.list({ name })), [id]);
    assert.equal((await admin.stats()).tasks.find((task) => task.name === name)?.counts.enqueued, 1);
    assert.equal(await admin.cancel(id, "by an operator"), true);
    assert.equal(await tables(), before);
  });
}

