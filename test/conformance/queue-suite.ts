/**
 * Queue-level conformance: axe's pool tests and the fixes of its known bugs, through the public API.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { JobCancelledError, JobError, LeaseLostError, LifetimeExceededError, ShutdownError, type Job } from "../../src/index.js";
import { CRASH_MESSAGE } from "../../src/job.js";
import { Signal, abortOf, newJob, nextEvent, setup, taskName, until, within, type Setup } from "../helpers.js";

/** Fast retries for tests that go through several attempts. */
const QUICK = { minDelay: 1, maxDelay: 5 } as const;

export function queueSuite(harness: StoreHarness): void {
  test("a job runs and completes with the handler's result", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    queue.define<{ x: number }>(name, async (ctx) => ({ doubled: ctx.job.data.x * 2, attempt: ctx.job.attempt }));
    await queue.start();
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name, { x: 21 });
    assert.equal((await done).job.id, job.id);
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "completed");
    assert.equal(stored?.attempts, 1);
    assert.deepEqual(stored?.result, { doubled: 42, attempt: 1 });
    assert.ok(stored?.finishedAt instanceof Date);
  });

  test("a delayed job runs once due, not before", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => "ok");
    await queue.start();
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name, {}, { delay: 150 });
    await done;
    const stored = await queue.get(job.id);
    assert.ok(stored?.startedAt);
    assert.ok(stored.startedAt.getTime() - stored.createdAt.getTime() >= 150, "started no earlier than the delay");
  });

  test("JobError with retry: failed, retried, then completed (attempts 2); not reported", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async (ctx) => {
      if (ctx.job.attempt === 1) throw new JobError("foo");
      return "bar";
    }, QUICK);
    await queue.start();
    const failed = nextEvent(queue, "job:fail");
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name);
    assert.equal((await failed).job.reason, "foo");
    await done;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "completed");
    assert.equal(stored?.attempts, 2);
    assert.equal(stored?.reason, null, "a completed job carries no failure reason; history is in errors");
    assert.deepEqual(stored?.errors.map((e) => [e.attempt, e.message]), [[1, "foo"]]);
    assert.deepEqual(errors.entries, []);
  });

  test("a plain error is reported to onError, retried, then completed", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    const boom = new Error("EOF");
    queue.define(name, async (ctx) => {
      if (ctx.job.attempt === 1) throw boom;
      return null;
    }, QUICK);
    await queue.start();
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name);
    await done;
    assert.equal((await queue.get(job.id))?.attempts, 2);
    assert.deepEqual(errors.entries.map((e) => [e.error, e.context.source, e.context.job?.id]), [[boom, "handler", job.id]]);
  });

  test("JobError without retry: cancelled after 1 attempt with its reason", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => {
      throw new JobError("cancelled", { retry: false });
    });
    await queue.start();
    const cancelled = nextEvent(queue, "job:cancel");
    const job = await queue.enqueue(name);
    await cancelled;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "cancelled");
    assert.equal(stored?.attempts, 1);
    assert.equal(stored?.reason, "cancelled");
    assert.ok(stored?.finishedAt);
    assert.deepEqual(errors.entries, []);
  });

  test("retry, then no retry: cancelled after 2 attempts", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async (ctx) => {
      throw new JobError(`attempt ${ctx.job.attempt}`, { retry: ctx.job.attempt < 2 });
    }, QUICK);
    await queue.start();
    const cancelled = nextEvent(queue, "job:cancel");
    const job = await queue.enqueue(name);
    await cancelled;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "cancelled");
    assert.equal(stored?.attempts, 2);
    assert.equal(stored?.reason, "attempt 2");
  });

  test("plain errors with maxAttempts 2: cancelled after 2 attempts, reported twice, reason says why", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => {
      throw new Error("foo");
    }, { ...QUICK, maxAttempts: 2 });
    await queue.start();
    const cancelled = nextEvent(queue, "job:cancel");
    const job = await queue.enqueue(name);
    await cancelled;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "cancelled");
    assert.equal(stored?.attempts, 2);
    assert.match(stored?.reason ?? "", /gave up after 2 attempts \(maxAttempts 2\): foo/);
    assert.deepEqual(errors.sources(), ["handler", "handler"]);
    assert.equal(stored?.errors.length, 2);
  });

  test("a JobError wrapped as a cause is recognised", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => {
      throw new Error("outer", { cause: new Error("middle", { cause: new JobError("inner", { retry: false }) }) });
    });
    await queue.start();
    const cancelled = nextEvent(queue, "job:cancel");
    const job = await queue.enqueue(name);
    await cancelled;
    assert.equal((await queue.get(job.id))?.reason, "inner");
    assert.deepEqual(errors.entries, []);
  });

  test("retry delays follow clamp(minDelay · factor^(attempt−1), minDelay, maxDelay) exactly", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => {
      throw new JobError("again");
    }, { minDelay: 5_000, maxDelay: 60_000, delayFactor: 3 });
    await queue.start();
    const job = await queue.enqueue(name);
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const failed = nextEvent(queue, "job:fail", (event) => event.job.attempts === attempt);
      if (attempt > 1) await loc.makeAvailableNow(job.id);
      const { job: row } = await failed;
      assert.ok(row.endedAt);
      delays.push(row.availableAt.getTime() - row.endedAt.getTime());
    }
    assert.deepEqual(delays, [5_000, 15_000, 45_000, 60_000]);
  });

  test("jobs that existed before start() are all processed, each exactly once (axe lost them)", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const jobs = await queue.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ name, data: { i } })));
    const runs = new Map<string, number>();
    const all = new Signal();
    queue.define(name, async (ctx) => {
      runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
    }, { workers: 8 });
    let completed = 0;
    queue.on("job:complete", () => {
      if (++completed === jobs.length) all.resolve();
    });
    await queue.start();
    await within(all.promise, "300 completions");
    assert.equal(runs.size, 300);
    assert.ok([...runs.values()].every((count) => count === 1));
    assert.deepEqual(await queue.count(name), { enqueued: 0, dequeued: 0, completed: 300, failed: 0, cancelled: 0 });
  });

  test("a job whose worker died runs again once its lease expires", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const job = await queue.enqueue(name, { survives: true });
    // A "dead" worker: it claimed the job with a short lease and will never write an outcome.
    const deadWorker = await loc.openStore();
    assert.equal(((await deadWorker.jobClaim({ requests: [{ name, limit: 1, leaseMs: 200 }] })).claimed).length, 1);
    queue.define(name, async (ctx) => ctx.job.attempt);
    const done = nextEvent(queue, "job:complete");
    await queue.start();
    await done;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "completed");
    assert.equal(stored?.attempts, 2);
    assert.equal(stored?.result, 2);
  });

  test("a job whose worker keeps dying is quarantined after maxCrashes, counted apart from errors", async (t) => {
    const { queue, loc, errors } = await setup(t, harness);
    const name = taskName();
    const job = await queue.enqueue(name);
    // Three workers in a row "die" holding it: each claims, then its lease runs out with no outcome.
    const dying = await loc.openStore();
    for (let i = 0; i < 3; i++) {
      assert.equal(((await dying.jobClaim({ requests: [{ name, limit: 1, leaseMs: 3_600_000 }] })).claimed).length, 1);
      await loc.makeAvailableNow(job.id);
    }
    let ran = false;
    queue.define(name, async () => {
      ran = true;
    }, { maxCrashes: 3 });
    const cancelled = nextEvent(queue, "job:cancel");
    await queue.start();
    await cancelled;
    const stored = await queue.get(job.id);
    assert.equal(ran, false);
    assert.equal(stored?.status, "cancelled");
    assert.equal(stored?.crashes, 3);
    assert.equal(stored?.attempts, 4);
    assert.match(stored?.reason ?? "", /^quarantined: its lease expired 3 times with no outcome/);
    assert.deepEqual(errors.sources(), ["quarantine"]);
  });

  test("failure detail: a crash and a handler error are both kept in errors, the handler error with its stack, cut", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const job = await queue.enqueue(name);
    await crashTimes(loc, name, job.id, 1);
    const frames = "    at frame (file.js:1:1)\n".repeat(200);
    queue.define(name, async (ctx) => {
      if (ctx.job.attempt === 2) {
        const error = new Error("boom");
        error.stack = `Error: boom\n${frames}`;
        throw error;
      }
      if (ctx.job.attempt === 3) throw new JobError("not yet");
      return "ok";
    }, QUICK);
    const done = nextEvent(queue, "job:complete");
    await queue.start();
    await done;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "completed");
    assert.deepEqual(stored?.errors.map((e) => [e.attempt, e.message]), [[1, CRASH_MESSAGE], [2, "boom"], [3, "not yet"]],
      "the completion keeps the history, the crash included");
    const [crash, thrown, expected] = stored?.errors ?? [];
    assert.equal(crash?.stack, undefined);
    assert.equal(expected?.stack, undefined, "a JobError is an expected outcome: no stack");
    assert.ok(thrown?.stack?.startsWith("Error: boom\n    at frame (file.js:1:1)\n"), thrown?.stack?.slice(0, 100));
    assert.equal(thrown?.stack?.length, 2001, "the first 2 000 characters, and an ellipsis");
  });

  test("a job that crashed twice runs alone; the jobs claimed beside it go back with their claims undone", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const suspect = await queue.enqueue(name, { suspect: true });
    await crashTimes(loc, name, suspect.id, 2);
    const others = await queue.enqueueMany(Array.from({ length: 5 }, () => ({ name })));
    const running = new Set<string>();
    const overlaps: string[] = [];
    queue.define(name, async (ctx) => {
      if (running.size > 0 && ((ctx.job.data as { suspect?: boolean }).suspect || running.has(suspect.id))) {
        overlaps.push(`${ctx.job.id} started while ${[...running].join(", ")} ran`);
      }
      running.add(ctx.job.id);
      // The suspect yields a few times: anything started beside it would start now.
      if (ctx.job.id === suspect.id) for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      running.delete(ctx.job.id);
    }, { workers: 4 });
    const events = recordEvents(queue);
    const all = new Signal();
    let completed = 0;
    queue.on("job:complete", () => ++completed === 6 && all.resolve());
    await queue.start();
    await within(all.promise, "6 completions");
    assert.deepEqual(overlaps, []);
    const stored = await queue.get(suspect.id);
    assert.deepEqual([stored?.attempts, stored?.crashes], [3, 2]);
    assert.ok(events.count("job:unclaim") >= 1, "jobs claimed beside the suspect were handed back");
    assert.equal(events.count("job:release"), 0, "a hand-back for isolation is no release");
    for (const job of others) assert.equal((await queue.get(job.id))?.attempts, 1, "a handed-back claim does not count");
  });

  test("a job that crashed once runs beside the others", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const once = await queue.enqueue(name);
    await crashTimes(loc, name, once.id, 1);
    await queue.enqueueMany(Array.from({ length: 3 }, () => ({ name })));
    const started = new Set<string>();
    const proceed = new Signal();
    queue.define(name, async (ctx) => {
      started.add(ctx.job.id);
      await proceed.promise;
    }, { workers: 4 });
    const events = recordEvents(queue);
    const all = new Signal();
    let completed = 0;
    queue.on("job:complete", () => ++completed === 4 && all.resolve());
    await queue.start();
    // Only if the job that crashed once runs beside the others can all four run at once.
    await until(() => started.size === 4, "4 handlers running at once");
    proceed.resolve();
    await within(all.promise, "4 completions");
    assert.equal((await queue.get(once.id))?.crashes, 1);
    assert.equal(events.count("job:unclaim"), 0);
  });

  test("lifetime: the signal aborts at the limit; a handler that ignores it is abandoned, failed and retried", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    const reasons: unknown[] = [];
    queue.define(name, async (ctx) => {
      const mode = (ctx.job.data as { mode: string }).mode;
      if (ctx.job.attempt > 1) return `done on attempt ${ctx.job.attempt}`;
      if (mode === "obedient") {
        await abortOf(ctx.signal);
        reasons.push(ctx.signal.reason);
        throw ctx.signal.reason;
      }
      await new Promise(() => undefined); // stalls forever, deaf to its signal
    }, { ...QUICK, lifetime: 100, workers: 1 });
    await queue.start();
    const completions = new Map<string, unknown>();
    const both = new Signal();
    queue.on("job:complete", ({ job, result }) => {
      completions.set(job.id, result);
      if (completions.size === 2) both.resolve();
    });
    // One slot: the second job can only run if the stalled first one gave its slot back.
    const stalled = await queue.enqueue(name, { mode: "deaf" });
    const obedient = await queue.enqueue(name, { mode: "obedient" });
    await within(both.promise, "both jobs completed");
    assert.equal(completions.get(stalled.id), "done on attempt 2");
    assert.equal(completions.get(obedient.id), "done on attempt 2");
    assert.ok(reasons[0] instanceof LifetimeExceededError);
    const stalledJob = await queue.get(stalled.id);
    assert.match(stalledJob?.errors[0]?.message ?? "", /lifetime of 100 ms and ignored its signal/);
    assert.equal(stalledJob?.crashes, 0);
    assert.ok(errors.entries.every((e) => e.error instanceof LifetimeExceededError && e.context.source === "handler"));
    assert.equal(errors.entries.length, 2);
  });

  test("leases are renewed while a handler runs, so a slow job is not taken by another worker", async (t) => {
    const { queue, loc, another } = await setup(t, harness);
    const rival = await another();
    const name = taskName();
    const LEASE_MS = 200;
    const started = new Signal();
    const finish = new Signal();
    const runs: Array<[string, string]> = [];
    // One slot, held by the slow job: this queue claims nothing else, so every other job is the rival's.
    queue.define(name, async (ctx) => {
      runs.push(["queue", ctx.job.id]);
      started.resolve();
      await finish.promise;
      return "slow";
    }, { timeout: LEASE_MS, workers: 1 });
    rival.define(name, async (ctx) => {
      runs.push(["rival", ctx.job.id]);
      return "probe";
    }, { timeout: LEASE_MS, interval: 20 });
    await queue.start();
    const job = await queue.enqueue(name);
    await within(started.promise, "the slow handler to start");
    await rival.start();
    // A renewal set the lease to end more than 4 leases after the start, so it was sent more than 3
    // leases in: without renewals the job would have been claimable for 2 leases by then.
    await until(async () => {
      const row = await queue.get(job.id);
      assert.equal(row?.attempts, 1, "the job was claimed again");
      return row.availableAt.getTime() - (row.startedAt?.getTime() ?? Infinity) > 4 * LEASE_MS;
    }, "the lease to be renewed past 4 lease lengths");
    // The rival claims a probe inserted now. Claims take the oldest available job first, so had the
    // slow job's lease run out, the rival would have taken that one in the same claim.
    const probeDone = nextEvent(rival, "job:complete");
    const inserter = await loc.openStore();
    const [probe] = await inserter.jobInsertMany({ jobs: [newJob(name)] });
    assert.equal((await probeDone).job.id, probe?.id);
    const done = nextEvent(queue, "job:complete");
    finish.resolve();
    await done;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "completed");
    assert.equal(stored?.attempts, 1);
    assert.equal(stored?.result, "slow");
    assert.deepEqual(runs, [["queue", job.id], ["rival", probe?.id]]);
  });

  test("a stale worker's outcome is refused and reported; the newer attempt's result stands", async (t) => {
    const { queue, loc, errors } = await setup(t, harness);
    const name = taskName();
    const started = new Signal();
    const proceed = new Signal();
    queue.define(name, async () => {
      started.resolve();
      await proceed.promise;
      return "stale result";
    }, { workers: 1 }); // no free slot: only the "thief" below can take the job over
    await queue.start();
    const job = await queue.enqueue(name);
    await within(started.promise, "handler start");
    // Another worker takes the job over, as if this one's lease had expired.
    await loc.makeAvailableNow(job.id);
    const thief = await loc.openStore();
    const [stolen] = (await thief.jobClaim({ requests: [{ name, limit: 1, leaseMs: 3_600_000 }] })).claimed;
    assert.equal(stolen?.attempts, 2);
    const lost = nextEvent(queue, "job:lease-lost");
    proceed.resolve();
    assert.ok((await lost).error instanceof LeaseLostError);
    assert.ok(errors.entries.some((e) => e.error instanceof LeaseLostError && e.context.source === "lease"));
    assert.equal((await queue.get(job.id))?.status, "dequeued", "the stale complete changed nothing");
    assert.equal((await thief.jobCompleteMany({ items: [{ id: job.id, attempt: 2, result: '"fresh result"' }] })).size, 1);
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "completed");
    assert.equal(stored?.result, "fresh result");
  });

  test("the handler's signal aborts when a lease renewal finds the lease lost", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const started = new Signal();
    const aborted = new Signal<unknown>();
    queue.define(name, async (ctx) => {
      started.resolve();
      await abortOf(ctx.signal);
      aborted.resolve(ctx.signal.reason);
      return "ignored";
    }, { timeout: 300, workers: 1 });
    await queue.start();
    const job = await queue.enqueue(name);
    await within(started.promise, "handler start");
    const thief = await loc.openStore();
    // A renewal landing between the two statements would put the lease back: try again then.
    await until(async () => {
      await loc.makeAvailableNow(job.id);
      return ((await thief.jobClaim({ requests: [{ name, limit: 1, leaseMs: 3_600_000 }] })).claimed).length === 1;
    }, "the thief's claim");
    assert.ok((await within(aborted.promise, "abort")) instanceof LeaseLostError);
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "dequeued");
    assert.equal(stored?.attempts, 2);
  });

  test("a payload that fails validation is cancelled at once, never retried", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    let ran = false;
    queue.define<{ to: string }>(name, async () => {
      ran = true;
    }, {
      validate: (data) => {
        const to = (data as { to?: unknown }).to;
        if (typeof to !== "string") throw new TypeError("to must be a string");
        return { to };
      },
    });
    await queue.start();
    const cancelled = nextEvent(queue, "job:cancel");
    const job = await queue.enqueue(name, { to: 42 });
    await cancelled;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "cancelled");
    assert.equal(stored?.attempts, 1);
    assert.equal(stored?.reason, "invalid payload: to must be a string");
    assert.equal(ran, false);
    assert.deepEqual(errors.sources(), ["payload"]);
  });

  test("a payload that cannot be decoded is cancelled, not looped", {
    skip: harness.kind === "postgres" ? "a PostgreSQL json column cannot hold undecodable data" : false,
  }, async (t) => {
    const { queue, loc, errors } = await setup(t, harness);
    const name = taskName();
    const job = await queue.enqueue(name, { fine: true });
    await loc.exec("UPDATE {table} SET data = ? WHERE id = ?", ["{not json", Number(job.id)]);
    queue.define(name, async () => "never");
    const cancelled = nextEvent(queue, "job:cancel");
    await queue.start();
    await cancelled;
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "cancelled");
    assert.match(stored?.reason ?? "", /^payload could not be decoded/);
    assert.deepEqual(errors.sources(), ["payload"]);
  });

  test("progress and extend are written while the handler runs", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    let seen: Job | null = null;
    queue.define(name, async (ctx) => {
      await ctx.progress(0.5);
      await ctx.extend(3_600_000);
      seen = await queue.get(ctx.job.id);
    }, { timeout: 60_000 });
    await queue.start();
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name);
    await done;
    const during = seen as Job | null;
    assert.equal(during?.progress, 0.5);
    assert.ok(during && during.startedAt && during.availableAt.getTime() - during.startedAt.getTime() >= 3_500_000);
    assert.equal((await queue.get(job.id))?.progress, 0.5);
  });

  test("an operator's cancel stops a waiting job and aborts a running one; its outcome is not written", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    const waiting = await queue.enqueue(name, {}, { delay: 3_600_000 });
    assert.equal(await queue.cancel(waiting.id, "not needed"), true);
    assert.equal(await queue.cancel(waiting.id, "again"), false);
    assert.equal((await queue.get(waiting.id))?.reason, "not needed");

    const started = new Signal();
    const returned = new Signal<unknown>();
    queue.define(name, async (ctx) => {
      started.resolve();
      await abortOf(ctx.signal);
      returned.resolve(ctx.signal.reason);
      return "too late";
    });
    await queue.start();
    const running = await queue.enqueue(name);
    await within(started.promise, "handler start");
    const events: string[] = [];
    for (const event of ["job:cancel", "job:lease-lost", "job:release", "job:unclaim", "job:complete", "job:fail"] as const) {
      queue.on(event, ({ job }) => job.id === running.id && events.push(event));
    }
    assert.equal(await queue.cancel(running.id, "stop it"), true);
    const reason = await within(returned.promise, "the handler to see its signal abort");
    assert.ok(reason instanceof JobCancelledError, `the signal's reason is the cancel: ${String(reason)}`);
    assert.equal(reason.code, "cancelled");
    assert.equal(reason.reason, "stop it");
    const stored = await queue.get(running.id);
    assert.equal(stored?.status, "cancelled");
    assert.equal(stored?.reason, "stop it");
    assert.equal(stored?.result, null);
    // Closing waits for the attempt to end: by then its dropped outcome would have been reported, if at all.
    await within(queue.close(), "close");
    assert.deepEqual(events, ["job:cancel"], "exactly one event: the cancel");
    assert.deepEqual(errors.entries, [], "a cancel is not reported");
  });

  test("close() waits for running handlers within the grace period", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const started = new Signal();
    const proceed = new Signal();
    const order: string[] = [];
    queue.define(name, async () => {
      started.resolve();
      await proceed.promise;
      order.push("handler returned");
      return "finished";
    });
    queue.on("job:complete", () => order.push("completion written"));
    await queue.start();
    const job = await queue.enqueue(name);
    await within(started.promise, "handler start");
    const closing = queue.close({ grace: 30_000 }).then(() => order.push("closed"));
    assert.equal(queue.close(), queue.close(), "idempotent: the same promise");
    proceed.resolve();
    await within(closing, "close");
    assert.deepEqual(order, ["handler returned", "completion written", "closed"]);
    await assert.rejects(queue.enqueue(name), /closed/);
    const stored = await (await another()).get(job.id);
    assert.equal(stored?.status, "completed");
    assert.equal(stored?.result, "finished");
  });

  test("after the grace period, close() aborts handlers and releases their jobs for another worker at once", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const started = new Signal();
    const aborted = new Signal<unknown>();
    queue.define(name, async (ctx) => {
      started.resolve();
      ctx.signal.addEventListener("abort", () => aborted.resolve(ctx.signal.reason));
      await new Promise(() => undefined); // ignores its signal and never settles
    });
    await queue.start();
    const job = await queue.enqueue(name);
    await within(started.promise, "handler start");
    const released = nextEvent(queue, "job:release");
    await within(queue.close({ grace: 50 }), "close");
    await released;
    assert.ok((await aborted.promise) instanceof ShutdownError);

    const successor = await another();
    const stored = await successor.get(job.id);
    assert.equal(stored?.status, "enqueued");
    assert.ok(stored && stored.availableAt.getTime() <= Date.now() + 1000, "available at once");
    successor.define(name, async (ctx) => `attempt ${ctx.job.attempt}`);
    const done = nextEvent(successor, "job:complete");
    await successor.start();
    assert.equal((await done).result, "attempt 2");
  });

  test("close() before start() and twice is fine", async (t) => {
    const { queue } = await setup(t, harness);
    await queue.close();
    await queue.close();
    assert.throws(() => queue.define(taskName(), async () => null), /closed/);
  });

  test("retention deletes completed and cancelled jobs after removeAfter, never other statuses", async (t) => {
    const { another } = await setup(t, harness);
    const queue = await another({ removeAfter: 1 });
    const name = taskName();
    queue.define(name, async (ctx) => {
      const kind = (ctx.job.data as { kind: string }).kind;
      if (kind === "cancel") throw new JobError("no", { retry: false });
      if (kind === "fail") throw new JobError("later");
      return "ok";
    }, { minDelay: 3_600_000, maxDelay: 3_600_000 });
    const kinds = ["complete", "cancel", "fail"];
    const jobs = await queue.enqueueMany(kinds.map((kind) => ({ name, data: { kind } })));
    const waiting = await queue.enqueue(name, { kind: "complete" }, { delay: 3_600_000 });
    let deleted = 0;
    const cleaned = new Signal();
    queue.on("queue:cleanup", (event) => {
      deleted += event.deleted;
      if (deleted >= 2) cleaned.resolve();
    });
    const failedOnce = nextEvent(queue, "job:fail");
    await queue.start();
    await within(cleaned.promise, "retention to delete 2 jobs");
    await failedOnce;
    assert.equal(deleted, 2);
    const [completed, cancelled, failed] = await Promise.all(jobs.map((job) => queue.get(job.id)));
    assert.equal(completed, null);
    assert.equal(cancelled, null);
    assert.equal(failed?.status, "failed");
    assert.equal((await queue.get(waiting.id))?.status, "enqueued");
  });

  test("transactional enqueue: rolled back → never visible nor run; committed → runs", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    const ran: string[] = [];
    queue.define(name, async (ctx) => {
      ran.push((ctx.job.data as { which: string }).which);
    });
    await queue.start();
    let rolledBack: Job | undefined;
    await loc.transaction(false, async (tx) => {
      rolledBack = await queue.enqueue(name, { which: "rolled back" }, { tx });
    });
    assert.ok(rolledBack);
    assert.equal(await queue.get(rolledBack.id), null);
    const done = nextEvent(queue, "job:complete");
    await loc.transaction(true, async (tx) => {
      await queue.enqueue(name, { which: "committed" }, { tx });
    });
    await done;
    assert.deepEqual(ran, ["committed"]);
    assert.deepEqual((await queue.list({ name })).map((job) => (job.data as { which: string }).which), ["committed"]);
  });

  test("concurrent enqueues are coalesced, yet each call gets its own job, and one bad input fails alone", async (t) => {
    const { queue } = await setup(t, harness);
    const calls = Array.from({ length: 500 }, (_, i) => queue.enqueue("many", { i }));
    const bad = assert.rejects(queue.enqueue("many", { n: 1n } as unknown), /data\.n/);
    const jobs = await Promise.all(calls);
    await bad;
    assert.deepEqual(jobs.map((job) => (job.data as { i: number }).i), Array.from({ length: 500 }, (_, i) => i));
    assert.equal(new Set(jobs.map((job) => job.id)).size, 500);
    assert.equal((await queue.count("many")).enqueued, 500);
  });

  test("close() hands buffered jobs back at once and lets running ones finish", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const runs: string[] = [];
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = new Signal();
    queue.define(name, async (ctx) => {
      runs.push(ctx.job.id);
      if ((ctx.job.data as { slow?: boolean }).slow) {
        slow.resolve();
        await gate;
      }
    }, { workers: 2 });
    await queue.enqueueMany(Array.from({ length: 20 }, () => ({ name })));
    await queue.start();
    // Fast jobs make the worker buffer extra ones; then two slow ones hold both slots.
    await until(async () => (await queue.count(name)).completed >= 20, "20 fast completions");
    await queue.enqueueMany([{ name, data: { slow: true } }, { name, data: { slow: true } }, ...Array.from({ length: 6 }, () => ({ name }))]);
    await within(slow.promise, "a slow job to start");
    const closing = queue.close({ grace: 30_000 });
    release?.();
    await within(closing, "close");
    const reader = await another();
    const counts = await reader.count(name);
    assert.equal(counts.dequeued, 0, "nothing left leased");
    assert.equal(counts.completed + counts.enqueued, 28);
    assert.equal(new Set(runs).size, runs.length, "no job ran twice");
  });

  test("a job cancelled while it waits in the local buffer never runs", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const ran = new Set<string>();
    let block: Signal | undefined;
    queue.define(name, async (ctx) => {
      ran.add(ctx.job.id);
      await block?.promise;
    }, { workers: 1 });
    await queue.enqueueMany(Array.from({ length: 10 }, () => ({ name })));
    await queue.start();
    await until(async () => (await queue.count(name)).completed >= 10, "warm-up completions");
    block = new Signal();
    const started = nextEvent(queue, "job:start");
    const [holder, waiting] = await queue.enqueueMany([{ name }, { name }]);
    assert.equal((await started).job.id, holder?.id);
    assert.ok(holder && waiting);
    // Held in the local buffer: claimed (leased) by this process, but its handler not started.
    await until(async () => (await queue.get(waiting.id))?.status === "dequeued", "the second job claimed into the buffer");
    assert.equal(await queue.cancel(waiting.id, "not any more"), true);
    const done = nextEvent(queue, "job:complete", (event) => event.job.id === holder.id);
    block.resolve();
    await done;
    await queue.close();
    assert.equal(ran.has(waiting.id), false);
  });

  test("an idle local worker takes a job in the insert itself; a busy one leaves it enqueued", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const proceed = new Signal();
    queue.define(name, async () => {
      await proceed.promise;
    }, { workers: 1 });
    await queue.start();
    const started = nextEvent(queue, "job:start");
    const first = await queue.enqueue(name);
    assert.equal(first.status, "dequeued", "claimed by the insert");
    assert.equal(first.attempts, 1);
    assert.ok(first.startedAt);
    assert.equal((await started).job.id, first.id);
    const second = await queue.enqueue(name);
    assert.equal(second.status, "enqueued", "the only slot is busy");
    const delayed = await queue.enqueue(name, {}, { delay: 3_600_000 });
    assert.equal(delayed.status, "enqueued");
    const both = new Signal();
    let completed = 0;
    queue.on("job:complete", () => ++completed === 2 && both.resolve());
    proceed.resolve();
    await within(both.promise, "both completions");
    assert.equal((await queue.get(second.id))?.attempts, 1);
  });

  test("the opt-in fast durability mode runs jobs the same way", async (t) => {
    const { another } = await setup(t, harness);
    const queue = await another({ durability: "fast" });
    const name = taskName();
    queue.define(name, async (ctx) => ctx.job.attempt);
    await queue.start();
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name);
    await done;
    assert.equal((await queue.get(job.id))?.result, 1);
  });

  test("list, get and count read what was stored", async (t) => {
    const { queue } = await setup(t, harness);
    const [a, b, c] = await queue.enqueueMany([{ name: "x", data: { n: 1 } }, { name: "y" }, { name: "x", priority: 3 }]);
    assert.ok(a && b && c);
    assert.deepEqual(b.data, {});
    assert.equal(c.priority, 3);
    assert.deepEqual((await queue.list({ name: "x" })).map((job) => job.id), [a.id, c.id]);
    assert.deepEqual((await queue.list({ limit: 1, afterId: a.id })).map((job) => job.id), [b.id]);
    assert.equal((await queue.list({ status: "completed" })).length, 0);
    assert.equal((await queue.count()).enqueued, 3);
    assert.equal(await queue.get("999999"), null);
  });

  test("lifecycle events come in order, and a throwing listener is reported, not fatal", async (t) => {
    const { queue, errors } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => "ok");
    const seen: string[] = [];
    queue.on("job:enqueue", () => seen.push("enqueue"));
    queue.on("job:start", () => {
      seen.push("start");
      throw new Error("listener bug");
    });
    const done = nextEvent(queue, "job:complete");
    queue.on("job:complete", () => seen.push("complete"));
    await queue.start();
    await queue.enqueue(name);
    await done;
    await until(() => seen.length === 3, "three events");
    assert.deepEqual(seen, ["enqueue", "start", "complete"]);
    assert.deepEqual(errors.sources(), ["listener"]);
  });
}

/**
 * Makes job `id` (the first in line of task `name`) crash `times` times before a worker sees it: a dead
 * worker claims it, and its lease runs out with no outcome; the next claim counts the last crash.
 */
async function crashTimes(loc: Setup["loc"], name: string, id: string, times: number): Promise<void> {
  const dead = await loc.openStore();
  for (let i = 0; i < times; i++) {
    const claimed = (await dead.jobClaim({ requests: [{ name, limit: 1, leaseMs: 3_600_000 }] })).claimed;
    assert.deepEqual(claimed.map((job) => job.id), [id]);
    await loc.makeAvailableNow(id);
  }
}

/** Counts the release-like events of a queue. */
function recordEvents(queue: Setup["queue"]): { count(event: "job:unclaim" | "job:release"): number } {
  const counts = { "job:unclaim": 0, "job:release": 0 };
  queue.on("job:unclaim", () => counts["job:unclaim"]++);
  queue.on("job:release", () => counts["job:release"]++);
  return { count: (event) => counts[event] };
}
