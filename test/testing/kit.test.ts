/**
 * hewn/testing, used as an application's test would use it: drain, the clock driving delays, backoff
 * and leases, assertions on what was enqueued, and the crash helper telling an idempotent handler from
 * one that is not.
 */
import "../leak-check.js";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { AssertionError } from "node:assert";
import { JobError, ValidationError } from "../../src/index.js";
import { createTestQueue, type TestQueue } from "../../src/testing/index.js";

const START = Date.UTC(2030, 0, 1);

async function open(t: TestContext): Promise<TestQueue> {
  const tq = await createTestQueue({ start: START });
  t.after(() => tq.close());
  return tq;
}

test("drain runs due jobs and the jobs they enqueue, then resolves; nothing runs before it", async (t) => {
  const tq = await open(t);
  const sent: string[] = [];
  tq.queue.define<{ user: string }>("signup", async (ctx) => {
    await tq.queue.enqueue("welcome-email", { to: `${ctx.job.data.user}@example.com` });
    return { ok: true };
  });
  tq.queue.define<{ to: string }>("welcome-email", (ctx) => void sent.push(ctx.job.data.to));
  const job = await tq.queue.enqueue("signup", { user: "ada" });
  assert.equal((await tq.queue.get(job.id))?.status, "enqueued", "nothing runs until drain");
  assert.equal(job.createdAt.getTime(), START, "stored times come from the test clock");

  assert.deepEqual(await tq.drain(), { attempts: 2 });
  assert.deepEqual(sent, ["ada@example.com"]);
  assert.equal((await tq.queue.get(job.id))?.status, "completed");
  tq.expectEnqueued("welcome-email", { to: "ada@example.com" });
  tq.expectEnqueued<{ to: string }>("welcome-email", (queued) => queued.data.to.endsWith("@example.com"));
  tq.expectNotEnqueued("password-reset");
  assert.throws(() => tq.expectEnqueued("welcome-email", { to: "bob@example.com" }),
    (error: unknown) => error instanceof AssertionError && /"welcome-email" with data matching .*enqueued:\n.*ada@example\.com/s.test(error.message));
  assert.throws(() => tq.expectNotEnqueued("signup"), AssertionError);
});

test("the clock drives delays and retry backoff; drain({ advance }) jumps to each in turn", async (t) => {
  const tq = await open(t);
  let calls = 0;
  tq.queue.define("flaky", () => {
    calls++;
    if (calls === 1) throw new JobError("upstream busy");
  }, { minDelay: 5_000 });
  const job = await tq.queue.enqueue("flaky", {}, { delay: 60_000 });

  assert.deepEqual(await tq.drain(), { attempts: 0 }, "not due for a minute");
  tq.advance(60_000);
  assert.deepEqual(await tq.drain(), { attempts: 1 });
  const failed = await tq.queue.get(job.id);
  assert.equal(failed?.status, "failed");
  assert.equal(failed?.availableAt.getTime(), START + 60_000 + 5_000, "retried after minDelay, by the test clock");

  tq.advance(4_999);
  assert.deepEqual(await tq.drain(), { attempts: 0 });
  tq.advance(1);
  assert.deepEqual(await tq.drain(), { attempts: 1 });
  assert.equal((await tq.queue.get(job.id))?.status, "completed");

  const later = await tq.queue.enqueue("flaky", {}, { delay: 3_600_000 });
  assert.deepEqual(await tq.drain({ advance: true }), { attempts: 1 });
  assert.equal((await tq.queue.get(later.id))?.status, "completed");
  assert.equal(tq.clock.now(), START + 65_000 + 3_600_000, "the clock moved to the delayed job, no further");
});

test("a handler's plain throw is kept in errors, not printed; retries follow maxAttempts", async (t) => {
  const tq = await open(t);
  tq.queue.define("broken", () => {
    throw new Error("boom");
  }, { maxAttempts: 3, minDelay: 1_000 });
  const job = await tq.queue.enqueue("broken", {});
  assert.deepEqual(await tq.drain({ advance: true }), { attempts: 3 });
  const cancelled = await tq.queue.get(job.id);
  assert.equal(cancelled?.status, "cancelled");
  assert.equal(cancelled?.attempts, 3);
  assert.equal(tq.errors.length, 3);
  assert.match(tq.errors[0]?.error.message ?? "", /boom/);
});

test("crash: the worker dies after the side effect; past the lease the job runs again, and only an idempotent handler counts once", async (t) => {
  const tq = await open(t);
  const charges: string[] = [];
  // Not idempotent: charges again on every run.
  tq.queue.define<{ order: string }>("charge-naive", (ctx) => void charges.push(ctx.job.data.order), { timeout: 30_000 });
  // Idempotent: keyed by the job id, as a payment provider's idempotency key would be.
  const charged = new Map<string, string>();
  tq.queue.define<{ order: string }>("charge", (ctx) => {
    if (!charged.has(ctx.job.id)) charged.set(ctx.job.id, ctx.job.data.order);
    return { charged: charged.size };
  }, { timeout: 30_000 });

  await tq.queue.enqueue("charge-naive", { order: "A" });
  const naive = await tq.crash("charge-naive");
  assert.deepEqual(charges, ["A", "A"], "the naive handler charged twice");
  assert.equal(naive.job.status, "completed");
  assert.equal(naive.job.crashes, 1);
  assert.equal(naive.job.attempts, 2);
  assert.equal(tq.clock.now(), START + 30_000 + 1, "the clock moved just past the lease");

  const job = await tq.queue.enqueue("charge", { order: "B" });
  const { crashed, job: after } = await tq.crash<{ order: string }, { charged: number }>("charge");
  assert.equal(crashed.job.id, job.id);
  assert.deepEqual(crashed.returned, { charged: 1 }, "the attempt that died had done its work");
  assert.equal(after.status, "completed");
  assert.deepEqual(after.result, { charged: 1 });
  assert.equal(charged.size, 1, "the idempotent handler charged once");
  assert.match(after.errors[0]?.message ?? "", /crash|lease/i, "the crashed attempt is on record");

  await assert.rejects(tq.crash("charge"), (error: unknown) => error instanceof ValidationError && /no job of task "charge" is due/.test(error.message));
});

test("drain leaves what the store holds back: a paused task's jobs, and a rate limit's until the clock moves on", async (t) => {
  const tq = await open(t);
  const ran: string[] = [];
  tq.queue.define("held", () => void ran.push("held"));
  tq.queue.define<{ n: number }>("limited", (ctx) => void ran.push(`limited-${ctx.job.data.n}`), { rateLimit: { limit: 1, per: 60_000 } });
  await tq.queue.pause("held");
  await tq.queue.enqueue("held", {});
  await tq.queue.enqueue("limited", { n: 1 });
  await tq.queue.enqueue("limited", { n: 2 });

  assert.deepEqual(await tq.drain(), { attempts: 1 }, "one start per minute, and nothing of a paused task");
  assert.deepEqual(ran, ["limited-1"]);
  tq.advance(60_000);
  await tq.queue.resume("held");
  assert.deepEqual(await tq.drain(), { attempts: 2 });
  assert.deepEqual(ran.sort(), ["held", "limited-1", "limited-2"]);
});
