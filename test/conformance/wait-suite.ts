/**
 * Waiting for jobs (`queue.waitFor`) and dead letters re-run (`queue.retry`, `queue.delete`), on every store.
 * "Another process" is a second queue on the same location: its own connections, its own listener.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { JobCancelledError, JobError, JobNotFoundError, JobStateError, QueueClosedError, WaitTimeoutError } from "../../src/index.js";
import { Signal, nextEvent, setup, taskName, within } from "../helpers.js";

export function waitSuite(harness: StoreHarness): void {
  test("waitFor resolves with the completed job and its result, also for a job already completed", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    queue.define<{ x: number }>(name, (ctx) => ({ doubled: ctx.job.data.x * 2 }));
    await queue.start();
    const job = await queue.enqueue(name, { x: 21 });
    const done = await within(queue.waitFor(job.id), "waitFor");
    assert.equal(done.status, "completed");
    assert.deepEqual(done.result, { doubled: 42 });
    const again = await within(queue.waitFor(job.id), "waitFor on a completed job");
    assert.deepEqual(again.result, { doubled: 42 });
  });

  test("waitFor sees a job finished by another process; thousands of waiters share batched reads", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const jobs = await queue.enqueueMany(Array.from({ length: 2000 }, (_, i) => ({ name, data: { i } })));
    const started = performance.now();
    const waits = jobs.map((job) => queue.waitFor(job.id));
    const worker = await another();
    worker.define<{ i: number }>(name, (ctx) => ctx.job.data.i, { workers: 20 });
    await worker.start();
    const results = await within(Promise.all(waits), "2000 waiters");
    t.diagnostic(`${harness.kind}: 2000 waiters settled ${(performance.now() - started).toFixed(0)} ms after they began waiting`);
    assert.deepEqual(results.map((job) => job.result), jobs.map((_, i) => i));
  });

  test("waitFor rejects with JobCancelledError carrying the job when it ends cancelled", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const job = await queue.enqueue(name);
    // The assertion holds the waiter's rejection from the start: it may reject while the cancel is awaited.
    const rejected = assert.rejects(within(queue.waitFor(job.id), "the cancel"), (error: unknown) => {
      assert.ok(error instanceof JobCancelledError);
      assert.equal(error.code, "cancelled");
      assert.equal(error.reason, "not needed");
      assert.equal(error.job?.id, job.id);
      assert.equal(error.job?.status, "cancelled");
      return true;
    });
    const operator = await another();
    assert.equal(await operator.cancel(job.id, "not needed"), true);
    await rejected;
    // A handler's JobError without retry, in this process.
    queue.define(name + "-x", () => {
      throw new JobError("bad input", { retry: false });
    });
    await queue.start();
    const failing = await queue.enqueue(name + "-x");
    await assert.rejects(within(queue.waitFor(failing.id), "the handler's cancel"), { name: "JobCancelledError", reason: "bad input" });
  });

  test("waitFor: an unknown id rejects at once; timeout and abort reject without touching the job", async (t) => {
    const { queue } = await setup(t, harness);
    await assert.rejects(within(queue.waitFor("987654321"), "unknown id", 2_000), JobNotFoundError);
    await assert.rejects(within(queue.waitFor("not-an-id"), "malformed id", 2_000), JobNotFoundError);
    const job = await queue.enqueue(taskName());
    await assert.rejects(queue.waitFor(job.id, { timeout: 50 }), (error: unknown) => {
      assert.ok(error instanceof WaitTimeoutError);
      assert.equal(error.timeout, 50);
      return true;
    });
    const controller = new AbortController();
    const aborted = queue.waitFor(job.id, { signal: controller.signal });
    controller.abort(new Error("user went away"));
    await assert.rejects(aborted, /user went away/);
    assert.equal((await queue.get(job.id))?.status, "enqueued");
    await assert.rejects(async () => queue.waitFor(job.id, { timeout: -1 }), { name: "ValidationError", field: "options.timeout" });
    const pending = assert.rejects(queue.waitFor(job.id), QueueClosedError);
    await queue.close();
    await pending;
  });

  test("retry sends a dead letter back: enqueued, available now, history kept, crash count reset; it runs again", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    let fail = true;
    queue.define(name, (ctx) => {
      if (fail) throw new Error(`broken on attempt ${ctx.job.attempt}`);
      return "fixed";
    }, { maxAttempts: 1 });
    await queue.start();
    const job = await queue.enqueue(name);
    await assert.rejects(within(queue.waitFor(job.id), "the dead letter"), JobCancelledError);
    const [dead] = await queue.list({ name, status: "cancelled" });
    assert.equal(dead?.id, job.id);
    await loc.exec("UPDATE {table} SET crashes = 3 WHERE id = " + (harness.kind === "postgres" ? "$1" : "?"), [job.id]);
    fail = false;
    const before = Date.now();
    const retried = await queue.retry(job.id);
    assert.equal(retried.status, "enqueued");
    assert.equal(retried.crashes, 0);
    assert.equal(retried.attempts, 1, "attempts are history, kept");
    assert.equal(retried.errors.length, 1);
    assert.equal(retried.finishedAt, null);
    assert.ok(Math.abs(retried.availableAt.getTime() - before) < 5_000, "available now");
    const done = await within(queue.waitFor(job.id), "the retried job");
    assert.equal(done.result, "fixed");
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.errors.map((e) => e.message), ["gave up after 1 attempts (maxAttempts 1): broken on attempt 1"]);
  });

  test("retry and delete refuse live and unknown jobs with typed errors", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const running = new Signal();
    const release = new Signal();
    queue.define(name, async () => {
      running.resolve();
      await release.promise;
    });
    const job = await queue.enqueue(name);
    await assert.rejects(queue.retry(job.id), (error: unknown) => error instanceof JobStateError && error.status === "enqueued");
    await assert.rejects(queue.delete(job.id), (error: unknown) => error instanceof JobStateError && error.status === "enqueued");
    await queue.start();
    await within(running.promise, "the handler");
    await assert.rejects(queue.retry(job.id), (error: unknown) => error instanceof JobStateError && error.status === "dequeued");
    await assert.rejects(queue.delete(job.id), (error: unknown) => error instanceof JobStateError && error.status === "dequeued");
    release.resolve();
    await within(queue.waitFor(job.id), "completion");
    await assert.rejects(queue.retry(job.id), (error: unknown) => error instanceof JobStateError && error.status === "completed");
    await assert.rejects(queue.retry("987654321"), JobNotFoundError);
    await assert.rejects(queue.delete("987654321"), JobNotFoundError);
    await assert.rejects(async () => queue.retry({ name, bogus: 1 } as never), { name: "ValidationError", field: "filter.bogus" });
    await queue.delete(job.id);
    assert.equal(await queue.get(job.id), null);
  });

  test("retry and delete by filter; two operators retrying at once change each job once", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const other = taskName();
    const jobs = await queue.enqueueMany([...Array.from({ length: 5 }, () => ({ name })), { name: other }]);
    for (const job of jobs) await queue.cancel(job.id, "dead");
    const rival = await another();
    const [mine, theirs] = await Promise.allSettled([queue.retry(jobs[0]!.id), rival.retry(jobs[0]!.id)]);
    assert.equal([mine, theirs].filter((outcome) => outcome.status === "fulfilled").length, 1, "exactly one retry wins");
    const loser = [mine, theirs].find((outcome) => outcome.status === "rejected");
    assert.ok(loser?.status === "rejected" && loser.reason instanceof JobStateError);
    assert.equal(await queue.retry({ name, limit: 2 }), 2);
    assert.equal(await queue.retry({ name }), 2);
    assert.equal(await queue.retry({ name }), 0);
    assert.deepEqual(await queue.count(name), { enqueued: 5, dequeued: 0, completed: 0, failed: 0, cancelled: 0 });
    assert.equal(await queue.delete({ name: other }), 1);
    assert.equal(await queue.delete({ name, status: "completed" }), 0);
    await assert.rejects(async () => queue.delete({ status: "enqueued" } as never), { name: "ValidationError", field: "filter.status" });
    assert.equal((await queue.count(other)).cancelled, 0);
  });

  test("retry gives a labelled dead letter its label back, never making two live jobs of one label", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const first = await queue.enqueue(name, {}, { label: "nightly" });
    await queue.cancel(first.id, "dead");
    const second = await queue.enqueue(name, {}, { label: "nightly" });
    assert.equal(second.duplicate, false, "a cancelled job does not stand");
    // While the second job stands, the first cannot come back: it would be a second live "nightly".
    await assert.rejects(queue.retry(first.id), (error: unknown) => error instanceof JobStateError && /label/.test(error.message));
    assert.equal(await queue.retry({ name }), 0);
    assert.equal((await queue.get(first.id))?.status, "cancelled");
    // Both dead: a retry by filter sends back one of them (the oldest), which holds the label again.
    await queue.cancel(second.id, "dead too");
    assert.equal(await queue.retry({ name }), 1);
    assert.equal((await queue.get(first.id))?.status, "enqueued");
    assert.equal((await queue.get(second.id))?.status, "cancelled");
    const third = await queue.enqueue(name, {}, { label: "nightly" });
    assert.equal(third.duplicate, true);
    assert.equal(third.id, first.id);
  });

  test("a retried dead letter is seen by an idle worker of this process at once", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    queue.define(name, () => "ok", { interval: 60_000 });
    const job = await queue.enqueue(name, {}, { delay: 60_000 });
    await queue.cancel(job.id, "dead");
    await queue.start();
    const done = nextEvent(queue, "job:complete");
    await queue.retry(job.id);
    assert.equal((await done).job.id, job.id);
  });
}
