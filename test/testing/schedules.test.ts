/**
 * hewn/testing drives periodic schedules with the test clock: `drain()` runs the round a started queue's
 * periodic enqueuer would, on the test clock, so each slot that came due is enqueued once and run; the
 * catch-up rules are production's, with the test queue as a process that ran all along unless the test
 * moves the clock `offline`.
 */
import "../leak-check.js";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { ValidationError } from "../../src/index.js";
import { createTestQueue, type TestQueue } from "../../src/testing/index.js";

/** A whole hour (so a minute's slots fall on whole minutes from here). */
const START = Date.UTC(2030, 0, 1);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

async function open(t: TestContext): Promise<{ tq: TestQueue; ran: number[] }> {
  const tq = await createTestQueue({ start: START });
  t.after(() => tq.close());
  const ran: number[] = [];
  // Records the test clock at each run: a slot's job runs when the clock is at (or past) its slot.
  tq.queue.define("tick", () => void ran.push(tq.clock.now()));
  return { tq, ran };
}

/** The slot times of the jobs enqueued for `name`, ascending. */
function slotsOf(tq: TestQueue, name = "tick"): number[] {
  return tq.enqueued.filter((job) => job.name === name).map((job) => job.availableAt.getTime()).sort((a, b) => a - b);
}

test("an { every } schedule fires once per elapsed slot as the clock advances, and nothing before the first slot", async (t) => {
  const { tq, ran } = await open(t);
  await tq.queue.schedule("minutely", "tick", { every: MINUTE });

  assert.deepEqual(await tq.drain(), { attempts: 0 }, "declared now: no slot is due yet");
  tq.advance(MINUTE - 1);
  assert.deepEqual(await tq.drain(), { attempts: 0 }, "one ms before the first slot");
  tq.expectNotEnqueued("tick");

  tq.advance(1);
  assert.deepEqual(await tq.drain(), { attempts: 1 }, "the first slot");
  assert.deepEqual(await tq.drain(), { attempts: 0 }, "a slot is enqueued once, however often drain runs");
  tq.advance(3 * MINUTE);
  assert.deepEqual(await tq.drain(), { attempts: 3 }, "one job per slot that elapsed");
  assert.deepEqual(slotsOf(tq), [1, 2, 3, 4].map((n) => START + n * MINUTE));
  assert.deepEqual(ran, [START + MINUTE, ...Array(3).fill(START + 4 * MINUTE)]);
  const [first] = await tq.queue.list({ name: "tick", label: `minutely@${new Date(START + MINUTE).toISOString()}` });
  assert.equal(first?.status, "completed", "the slot's job carries the slot's label and ran");
});

test("a cron schedule fires at its slots in its time zone", async (t) => {
  const { tq } = await open(t);
  // 03:00 in Berlin is 02:00 UTC in January.
  await tq.queue.schedule("nightly", "tick", { cron: "0 3 * * *", tz: "Europe/Berlin" });
  tq.advance(2 * HOUR - 1);
  assert.deepEqual(await tq.drain(), { attempts: 0 });
  tq.advance(1);
  assert.deepEqual(await tq.drain(), { attempts: 1 });
  tq.advance(48 * HOUR);
  assert.deepEqual(await tq.drain(), { attempts: 2 });
  assert.deepEqual(slotsOf(tq), [0, 1, 2].map((day) => START + 2 * HOUR + day * 24 * HOUR));
});

test("a large advance: every slot since the declaration is live (the test queue ran all along), whatever catchUp says", async (t) => {
  const { tq } = await open(t);
  await tq.queue.schedule("minutely", "tick", { every: MINUTE }, { catchUp: "none" });
  tq.advance(HOUR + 30_000);
  assert.deepEqual(await tq.drain(), { attempts: 60 });
  assert.deepEqual(slotsOf(tq), Array.from({ length: 60 }, (_, i) => START + (i + 1) * MINUTE));
});

test("a large advance offline: missed slots follow the schedule's catchUp, as after an outage in production", async (t) => {
  const { tq } = await open(t);
  tq.queue.define("latest", () => {});
  tq.queue.define("bounded", () => {});
  await tq.queue.schedule("none", "tick", { every: MINUTE });
  await tq.queue.schedule("latest", "latest", { every: MINUTE }, { catchUp: "latest" });
  await tq.queue.schedule("bounded", "bounded", { every: MINUTE }, { catchUp: 10 * MINUTE });
  tq.advance(HOUR + 30_000, { offline: true });
  await tq.drain();
  assert.deepEqual(slotsOf(tq, "tick"), [], "none: every missed slot skipped");
  assert.deepEqual(slotsOf(tq, "latest"), [START + HOUR], "latest: only the most recent missed slot");
  assert.deepEqual(slotsOf(tq, "bounded"), Array.from({ length: 10 }, (_, i) => START + (51 + i) * MINUTE), "10 min: the missed slots within 10 min");

  // Back online: the next slots are live again.
  tq.advance(2 * MINUTE);
  await tq.drain();
  assert.deepEqual(slotsOf(tq, "tick"), [START + 61 * MINUTE, START + 62 * MINUTE]);
});

test("unschedule stops the slots; jobs already enqueued stay", async (t) => {
  const { tq } = await open(t);
  await tq.queue.schedule("minutely", "tick", { every: MINUTE });
  tq.advance(2 * MINUTE);
  await tq.queue.unschedule("minutely");
  tq.advance(MINUTE);
  // Removed before the drain that would have enqueued its slots.
  assert.deepEqual(await tq.drain(), { attempts: 0 });

  await tq.queue.schedule("again", "tick", { every: MINUTE });
  tq.advance(MINUTE);
  assert.deepEqual(await tq.drain(), { attempts: 1 });
  await tq.queue.unschedule("again");
  tq.advance(10 * MINUTE);
  assert.deepEqual(await tq.drain({ advance: true }), { attempts: 0 });
  assert.equal(slotsOf(tq).length, 1);
});

test("drain({ advance }) stops at slots before pending jobs but never runs a schedule forward on its own; until bounds it", async (t) => {
  const { tq, ran } = await open(t);
  await tq.queue.schedule("minutely", "tick", { every: MINUTE });

  assert.deepEqual(await tq.drain({ advance: true }), { attempts: 0 }, "a schedule alone does not move the clock");
  assert.equal(tq.clock.now(), START);

  tq.queue.define("report", () => void ran.push(-tq.clock.now()));
  await tq.queue.enqueue("report", {}, { delay: 3 * MINUTE + 1 });
  assert.deepEqual(await tq.drain({ advance: true }), { attempts: 4 });
  assert.deepEqual(ran, [START + MINUTE, START + 2 * MINUTE, START + 3 * MINUTE, -(START + 3 * MINUTE + 1)],
    "each slot ran at its own time, then the delayed job");
  assert.equal(tq.clock.now(), START + 3 * MINUTE + 1, "no further than the last job");

  ran.length = 0;
  const later = await tq.queue.enqueue("report", {}, { delay: HOUR });
  assert.deepEqual(await tq.drain({ until: START + 5 * MINUTE + 1 }), { attempts: 2 });
  assert.deepEqual(ran, [START + 4 * MINUTE, START + 5 * MINUTE]);
  assert.equal(tq.clock.now(), START + 5 * MINUTE + 1, "the clock ends at until");
  assert.equal((await tq.queue.get(later.id))?.status, "enqueued", "a job due after until waits");

  await assert.rejects(tq.drain({ until: START }), (error: unknown) => error instanceof ValidationError && error.field === "options.until");
});
