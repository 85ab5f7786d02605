/**
 * Dependencies (`after`), on every store: a job runs only once all its parents completed, reads their
 * results with `ctx.parents()`, and is cancelled (with its own descendants) when a parent is cancelled.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { JobCancelledError, JobNotFoundError, ValidationError, type Job } from "../../src/index.js";
import { WAITING_FOR_PARENTS_AT } from "../../src/job.js";
import { Signal, asSqlTransaction, setup, taskName, within } from "../helpers.js";

const LONG_DELAY = 3_600_000;

export function afterSuite(harness: StoreHarness): void {
  test("a job after another waits (enqueued, never available by itself), then runs with its parents' results", async (t) => {
    const { queue } = await setup(t, harness);
    const parentName = taskName("parent");
    const childName = taskName("child");
    const gate = new Signal();
    queue.define(parentName, async () => {
      await gate.promise;
      return { made: 42 };
    });
    queue.define(childName, async (ctx) => (await ctx.parents()).map((parent) => [parent.id, parent.status, parent.result]));
    const parent = await queue.enqueue(parentName);
    const child = await queue.enqueue(childName, {}, { after: [parent.id] });
    assert.equal(child.status, "enqueued");
    assert.equal(child.availableAt.getTime(), WAITING_FOR_PARENTS_AT);
    await queue.start();
    const parentDone = queue.waitFor(parent.id);
    assert.equal((await queue.get(child.id))?.startedAt, null, "the child did not start while its parent ran");
    gate.resolve();
    await within(parentDone, "the parent");
    const done = await within(queue.waitFor(child.id), "the child");
    assert.deepEqual(done.result, [[parent.id, "completed", { made: 42 }]]);
    assert.ok(done.startedAt && (await queue.get(parent.id))!.finishedAt! <= done.startedAt);
    // After a parent that has already completed: available at once.
    const late = await queue.enqueue(childName, {}, { after: [parent.id] });
    assert.notEqual(late.availableAt.getTime(), WAITING_FOR_PARENTS_AT);
    await within(queue.waitFor(late.id), "a child of a completed parent");
  });

  test("enqueueMany declares a graph by index; the join runs once, after every branch", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const order: string[] = [];
    queue.define<{ step: string }>(name, async (ctx) => {
      order.push(ctx.job.data.step);
      return { step: ctx.job.data.step, parents: (await ctx.parents()).map((parent) => (parent.result as { step: string }).step) };
    }, { workers: 4 });
    const jobs = await queue.enqueueMany([
      { name, data: { step: "root" } },
      { name, data: { step: "left" }, after: [0] },
      { name, data: { step: "right" }, after: [0] },
      { name, data: { step: "join" }, after: [1, 2, 1] },
    ]);
    await queue.start();
    const join = await within(queue.waitFor(jobs[3]!.id), "the join");
    assert.deepEqual((join.result as { parents: string[] }).parents.sort(), ["left", "right"]);
    assert.equal(order[0], "root");
    assert.equal(order[3], "join");
    assert.equal(order.length, 4);
  });

  test("a cancelled parent cancels exactly its descendants, each with a reason naming its parent", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const other = taskName("other");
    // a → b → c, a → d, and e after both d and x; x and y are not descendants of a.
    const [a, b, c, d, x, e, y] = await queue.enqueueMany([
      { name }, { name, after: [0] }, { name, after: [1] }, { name, after: [0] }, { name: other }, { name, after: [3, 4] }, { name, after: [4] },
    ]);
    // The assertion holds the waiter's rejection from the start: it may reject while the cancel is awaited.
    const rejected = assert.rejects(within(queue.waitFor(c!.id), "the grandchild's cancel"), (error: unknown) => {
      assert.ok(error instanceof JobCancelledError);
      assert.equal(error.reason, `parent job ${b!.id} was cancelled`);
      return true;
    });
    const operator = await another();
    assert.equal(await operator.cancel(a!.id, "changed my mind"), true);
    await rejected;
    const reasons = new Map((await queue.list({ status: "cancelled", limit: 100 })).map((job: Job) => [job.id, job.reason]));
    assert.deepEqual(reasons, new Map([
      [a!.id, "changed my mind"],
      [b!.id, `parent job ${a!.id} was cancelled`],
      [c!.id, `parent job ${b!.id} was cancelled`],
      [d!.id, `parent job ${a!.id} was cancelled`],
      [e!.id, `parent job ${d!.id} was cancelled`],
    ]));
    assert.equal((await queue.get(x!.id))?.status, "enqueued");
    assert.equal((await queue.get(y!.id))?.status, "enqueued");
    // A handler's own cancel (JobError without retry) reaches the children the same way.
    queue.define(other, () => {
      throw new Error("no");
    }, { maxAttempts: 1 });
    await queue.start();
    await assert.rejects(within(queue.waitFor(y!.id), "y"), { name: "JobCancelledError", reason: `parent job ${x!.id} was cancelled` });
  });

  test("after: unknown or cancelled parents, cycles and bad indexes are ValidationErrors; nothing is stored", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const isField = (field: string) => (error: unknown) => error instanceof ValidationError && error.field === field;
    await assert.rejects(queue.enqueue(name, {}, { after: ["987654321"] }), isField("after"));
    await assert.rejects(queue.enqueue(name, {}, { after: ["nope"] }), isField("after"));
    await assert.rejects(async () => queue.enqueue(name, {}, { after: "1" as never }), isField("after"));
    const dead = await queue.enqueue(name);
    await queue.cancel(dead.id, "gone");
    await assert.rejects(queue.enqueue(name, {}, { after: [dead.id] }), isField("after"));
    await assert.rejects(async () => queue.enqueueMany([{ name, after: [1] }, { name, after: [2] }, { name, after: [0] }]), isField("items[2].after"));
    await assert.rejects(async () => queue.enqueueMany([{ name, after: [0] }]), isField("items[0].after[0]"));
    await assert.rejects(async () => queue.enqueueMany([{ name, after: [5] }]), isField("items[0].after[0]"));
    await assert.rejects(queue.enqueueMany([{ name }, { name, after: [0, "987654321"] }]), isField("after"));
    assert.equal((await queue.count(name)).enqueued, 0);
  });

  test("a retried dead letter waits again for parents that have not completed", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const [parent, child] = await queue.enqueueMany([{ name }, { name, after: [0] }]);
    await queue.cancel(parent!.id, "oops");
    assert.equal((await queue.get(child!.id))?.status, "cancelled");
    const retriedChild = await queue.retry(child!.id);
    assert.equal(retriedChild.availableAt.getTime(), WAITING_FOR_PARENTS_AT, "its parent is still cancelled");
    await queue.retry(parent!.id);
    queue.define(name, (ctx) => ctx.job.id);
    await queue.start();
    assert.equal((await within(queue.waitFor(child!.id), "the child")).result, child!.id);
  });

  test("queue.dependencies reads both sides of a job's edges, with their statuses; an unknown id is JobNotFoundError", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const [root, left, right, join] = await queue.enqueueMany([
      { name, data: { step: "root" } }, { name, after: [0] }, { name, after: [0] }, { name, after: [1, 2] },
    ]);
    const ids = (jobs: Job[]) => jobs.map((job) => job.id);
    const rootGraph = await queue.dependencies(root!.id);
    assert.deepEqual(rootGraph.parents, []);
    assert.deepEqual(ids(rootGraph.children), [left!.id, right!.id]);
    assert.deepEqual(rootGraph.children.map((job) => job.status), ["enqueued", "enqueued"]);
    const joinGraph = await queue.dependencies(join!.id);
    assert.deepEqual(ids(joinGraph.parents), [left!.id, right!.id]);
    assert.deepEqual(joinGraph.children, []);
    const leftGraph = await queue.dependencies(left!.id);
    assert.deepEqual(ids(leftGraph.parents), [root!.id]);
    assert.deepEqual(leftGraph.parents[0]?.data, { step: "root" });
    assert.equal("dataError" in leftGraph.parents[0]!, false, "public jobs, not store rows");
    assert.deepEqual(ids(leftGraph.children), [join!.id]);
    await queue.cancel(root!.id, "stop");
    assert.deepEqual((await queue.dependencies(join!.id)).parents.map((job) => job.status), ["cancelled", "cancelled"]);
    const alone = await queue.enqueue(name);
    assert.deepEqual(await queue.dependencies(alone.id), { parents: [], children: [] });
    await assert.rejects(queue.dependencies("987654321"), JobNotFoundError);
    await assert.rejects(async () => queue.dependencies({} as never), ValidationError);
  });

  test("after through an ORM's transaction (SqlTransaction): parents recorded as on the driver's connection, the child waits", async (t) => {
    const { queue, loc, another } = await setup(t, harness);
    const name = taskName();
    const isField = (field: string) => (error: unknown) => error instanceof ValidationError && error.field === field;
    const parent = await queue.enqueue(name, { step: "parent" });
    const dead = await queue.enqueue(name, { step: "dead" }, { delay: LONG_DELAY });
    await queue.cancel(dead.id, "gone");
    // A completed parent, run by another queue that is closed again: no worker writes while the
    // transaction below holds SQLite's write lock.
    const doneName = taskName("done");
    const done = await queue.enqueue(doneName);
    const runner = await another();
    runner.define(doneName, () => null);
    await runner.start();
    await within(runner.waitFor(done.id), "the completed parent");
    await runner.close();

    let child: Job | undefined;
    let graph: Job[] = [];
    await loc.transaction(true, async (handle) => {
      const tx = asSqlTransaction(harness.kind, handle);
      child = await queue.enqueue(name, { step: "child" }, { after: [parent.id, done.id], tx });
      assert.equal(child.status, "enqueued");
      assert.equal(child.availableAt.getTime(), WAITING_FOR_PARENTS_AT, "one parent is still to complete");
      // In the same transaction: a graph by index, and a child of a completed parent (available at once).
      graph = await queue.enqueueMany([
        { name, data: { step: "root" }, after: [parent.id] }, { name, data: { step: "leaf" }, after: [0, done.id] },
      ], { tx });
      assert.deepEqual(graph.map((job) => job.availableAt.getTime()), [WAITING_FOR_PARENTS_AT, WAITING_FOR_PARENTS_AT]);
      const ready = await queue.enqueue(name, { step: "ready" }, { after: [done.id], tx });
      assert.notEqual(ready.availableAt.getTime(), WAITING_FOR_PARENTS_AT);
      // A bad parent fails the call and stores nothing, though the transaction goes on and commits.
      await assert.rejects(queue.enqueueMany([{ name, data: { step: "orphan" } }, { name, after: [0, "987654321"] }], { tx }), isField("after"));
      await assert.rejects(queue.enqueue(name, { step: "orphan" }, { after: [dead.id], tx }), isField("after"));
    });
    const ids = (jobs: Job[]) => jobs.map((job) => job.id);
    const byId = (a: string, b: string) => Number(a) - Number(b);
    assert.deepEqual((await queue.list({ name, limit: 100 })).filter((job) => (job.data as { step: string }).step === "orphan"), [], "nothing of the failed calls");
    assert.deepEqual(ids((await queue.dependencies(child!.id)).parents), [parent.id, done.id]);
    assert.deepEqual(ids((await queue.dependencies(graph[1]!.id)).parents), [done.id, graph[0]!.id].sort(byId));
    assert.deepEqual(ids((await queue.dependencies(parent.id)).children), [child!.id, graph[0]!.id]);

    const gate = new Signal();
    queue.define<{ step: string }>(name, async (ctx) => {
      if (ctx.job.data.step === "parent") await gate.promise;
      return { step: ctx.job.data.step, parents: (await ctx.parents()).map((job) => job.id) };
    }, { workers: 4 });
    await queue.start();
    const parentDone = queue.waitFor(parent.id);
    assert.equal((await queue.get(child!.id))?.startedAt, null, "the child did not start while its parent ran");
    gate.resolve();
    await within(parentDone, "the parent");
    const finished = await within(queue.waitFor(child!.id), "the child");
    assert.deepEqual((finished.result as { parents: string[] }).parents.sort(byId), [parent.id, done.id]);
    assert.ok(finished.startedAt! >= (await queue.get(parent.id))!.finishedAt!);
    await within(queue.waitFor(graph[1]!.id), "the leaf");
  });

  test("after through an ORM's transaction that rolls back leaves neither the child nor its edges", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const parent = await queue.enqueue(name);
    let rolledBack = "";
    await loc.transaction(false, async (handle) => {
      rolledBack = (await queue.enqueue(name, {}, { after: [parent.id], tx: asSqlTransaction(harness.kind, handle) })).id;
    });
    assert.equal(await queue.get(rolledBack), null);
    assert.deepEqual(await queue.dependencies(parent.id), { parents: [], children: [] });
  });

  test("in a batch that folds two items of one label, after indexes still name input items (plain and through an ORM's transaction)", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    // Items 0 and 1 are one job; item 2 runs after item 1 (that job), item 3 after items 0 and 2.
    const items = (label: string) => [{ name, label }, { name, label }, { name, after: [1] }, { name, after: [0, 2] }];
    const check = async (jobs: Job[]) => {
      const [first, second, third, fourth] = jobs;
      assert.equal(second!.id, first!.id);
      assert.deepEqual((await queue.dependencies(third!.id)).parents.map((job) => job.id), [first!.id]);
      assert.deepEqual((await queue.dependencies(fourth!.id)).parents.map((job) => job.id), [first!.id, third!.id]);
    };
    await check(await queue.enqueueMany(items("plain")));
    let jobs: Job[] = [];
    await loc.transaction(true, async (handle) => {
      jobs = await queue.enqueueMany(items("orm"), { tx: asSqlTransaction(harness.kind, handle) });
    });
    await check(jobs);
  });

  test("after an item that turned out a duplicate of a completed job: no waiting, the child runs (plain and through an ORM's transaction)", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const parentName = taskName("parent");
    const childName = taskName("child");
    queue.define(parentName, () => "done");
    queue.define(childName, async (ctx) => (await ctx.parents()).map((parent) => parent.status));
    await queue.start();
    // A completed job keeps its label for its isolation window, so an item with the label is that job.
    const standing = await queue.enqueue(parentName, {}, { label: "once", isolation: LONG_DELAY });
    await within(queue.waitFor(standing.id), "the labelled parent");
    const items = [{ name: parentName, label: "once", isolation: LONG_DELAY }, { name: childName, after: [0] }];
    const check = async ([parent, child]: Job[]) => {
      assert.equal(parent!.id, standing.id);
      assert.equal(parent!.status, "completed");
      assert.notEqual(child!.availableAt.getTime(), WAITING_FOR_PARENTS_AT, "a completed parent is nothing to wait for");
      assert.deepEqual((await within(queue.waitFor(child!.id), "the child")).result, ["completed"]);
    };
    await check(await queue.enqueueMany(items));
    let jobs: Job[] = [];
    await loc.transaction(true, async (handle) => {
      jobs = await queue.enqueueMany(items, { tx: asSqlTransaction(harness.kind, handle) });
    });
    await check(jobs);
  });
}
