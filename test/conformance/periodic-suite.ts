/**
 * Periodic jobs: one job per slot (available at the slot, labelled by it), across queues sharing a
 * store; the stored schedule (listing, replacing, removing); the compare-and-set that hands out a slot;
 * catch-up of missed slots; bad input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { ValidationError, type Job, type Queue } from "../../src/index.js";
import type { Store } from "../../src/store/store.js";
import { setup, taskName, until } from "../helpers.js";

const rejectsWith = (field: string) => (error: unknown) => error instanceof ValidationError && error.field === field;

/** A slot job's slot, from its label (availableAt is the lease once it runs). */
const slotOf = (job: Job): number => Date.parse(job.label?.slice(job.label.indexOf("@") + 1) ?? "");

/** Jobs of `name` created for schedule `key`, by slot. */
async function slotJobs(queue: Queue, name: string, key: string): Promise<Job[]> {
  const jobs = (await queue.list({ name, limit: 10_000 })).filter((job) => job.label?.startsWith(`${key}@`));
  return jobs.sort((a, b) => slotOf(a) - slotOf(b));
}

/** No slot twice, the slots follow each other `every` apart, and a job not yet run is available at its slot. */
function assertSlots(jobs: Job[], every: number): void {
  const slots = jobs.map(slotOf);
  assert.equal(new Set(slots).size, slots.length, "no slot twice");
  slots.forEach((slot, i) => {
    assert.equal(slot % every, 0, "aligned to the epoch");
    if (i > 0) assert.equal(slot - slots[i - 1]!, every, "no slot missing");
    if (jobs[i]?.status === "enqueued") assert.equal(jobs[i]?.availableAt.getTime(), slot);
  });
}

/** Moves a schedule's last slot `ms` into the past, as if no process had run for that long. */
async function backdateSchedule(loc: TestLocation, kind: "sqlite" | "postgres", key: string, ms: number): Promise<void> {
  if (kind === "sqlite") await loc.exec("UPDATE hewn_schedules SET last_slot = last_slot - ? WHERE key = ?", [ms, key]);
  else await loc.exec(`UPDATE "${loc.schema}".schedules SET last_slot = last_slot - $1 * interval '1 millisecond' WHERE key = $2`, [ms, key]);
}

export function periodicSuite(harness: StoreHarness): void {
  test("every: one job per slot, available at the slot, labelled <key>@<slot>, run by the task", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const ran: string[] = [];
    queue.define(name, async (ctx) => {
      ran.push(ctx.job.label ?? "");
    });
    await queue.schedule("tick", name, { every: 200 }, { data: { from: "schedule" }, priority: 3 });
    await queue.start();
    await until(async () => (await slotJobs(queue, name, "tick")).length >= 4, "four slots");
    const jobs = await slotJobs(queue, name, "tick");
    assertSlots(jobs, 200);
    assert.deepEqual(jobs[0]?.data, { from: "schedule" });
    assert.equal(jobs[0]?.priority, 3);
    await until(() => ran.length >= 2, "slot jobs to run");
    assert.ok(ran.every((label) => label.startsWith("tick@")));
  });

  test("two queues declaring one schedule on one store: every slot once, none missing", async (t) => {
    const { queue, another } = await setup(t, harness);
    const other = await another();
    const name = taskName();
    for (const q of [queue, other]) {
      q.define(name, async () => null);
      await q.schedule("shared", name, { every: 150 });
    }
    await Promise.all([queue.start(), other.start()]);
    await until(async () => (await slotJobs(queue, name, "shared")).length >= 8, "eight slots");
    assertSlots(await slotJobs(queue, name, "shared"), 150);
  });

  test("schedules() lists the stored schedules with their next slot; a new `when` replaces; unschedule removes", async (t) => {
    const { queue, another } = await setup(t, harness);
    const name = taskName();
    const before = Date.now();
    await queue.schedule("b-cron", name, { cron: "0 0 * * *", tz: "Europe/Berlin" }, { catchUp: "latest" });
    await queue.schedule("a-every", name, { every: 60_000 }, { data: { n: 1 }, catchUp: 30_000 });
    let listed = await queue.schedules();
    assert.deepEqual(listed.map((s) => s.key), ["a-every", "b-cron"]);
    const [every, cron] = listed as [typeof listed[0], typeof listed[0]];
    assert.deepEqual(every.when, { every: 60_000 });
    assert.equal(every.name, name);
    assert.deepEqual(every.data, { n: 1 });
    assert.equal(every.catchUp, 30_000);
    assert.equal(every.nextAt.getTime() % 60_000, 0);
    assert.ok(every.nextAt.getTime() > before && every.nextAt.getTime() <= before + 61_000);
    assert.deepEqual(cron.when, { cron: "0 0 * * *", tz: "Europe/Berlin" });
    assert.equal(cron.catchUp, "latest");
    assert.ok(cron.nextAt.getTime() > before);

    // Another process (a newer deployment) declares the key with another `when`: it replaces the stored one.
    const newer = await another();
    await newer.schedule("a-every", name, { every: 5_000 });
    listed = await queue.schedules();
    assert.deepEqual(listed.find((s) => s.key === "a-every")?.when, { every: 5_000 });
    assert.equal(listed.find((s) => s.key === "a-every")?.catchUp, "none");

    assert.equal(await queue.unschedule("a-every"), true);
    assert.equal(await queue.unschedule("a-every"), false);
    assert.deepEqual((await newer.schedules()).map((s) => s.key), ["b-cron"]);
  });

  test("catch-up after no process ran: none skips the missed slots, latest takes the last, a bound those within it", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const name = taskName();
    queue.define(name, async () => null);
    const policies = { none: "none", latest: "latest", bound: 6_000 } as const;
    for (const [key, catchUp] of Object.entries(policies)) {
      await queue.schedule(key, name, { every: 1000 }, { catchUp });
      await backdateSchedule(loc, harness.kind, key, 20_000);
    }
    const started = Date.now();
    await queue.start();
    await until(async () => {
      for (const key of Object.keys(policies)) if (!(await slotJobs(queue, name, key)).some((job) => slotOf(job) >= started)) return false;
      return true;
    }, "a live slot of every schedule");
    // All three were looked at in the same first round, at the same store "now" (liveSince). Slots from
    // the grace (2 s) before it are live; "none" takes only those, "latest" one more just before them, the
    // 6 s bound every missed slot from 6 s before it: four more.
    const first = async (key: string) => slotOf((await slotJobs(queue, name, key))[0]!);
    const none = await first("none");
    assert.ok(none >= started - 2_000 - 1_000 && none <= started + 1_000, "none starts at the grace before the start");
    assert.equal(await first("latest"), none - 1_000);
    assert.equal(await first("bound"), none - 4_000);
    for (const key of Object.keys(policies)) assertSlots(await slotJobs(queue, name, key), 1000);
  });

  test("a slot is handed out once: the compare-and-set refuses it again, an older slot, or a changed schedule", async (t) => {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const store: Store = await loc.openStore();
    const name = taskName();
    const schedule = { key: "k", name, spec: '{"every":1000}', data: '{"a":1}', priority: 2, catchUp: '"none"' };
    await store.scheduleUpsert({ schedule });
    const { now, schedules } = await store.scheduleList({ keys: ["k", "missing"] });
    assert.equal(schedules.length, 1);
    assert.ok(Math.abs(schedules[0]!.lastSlot - now) < 5_000, "a new schedule starts at the store's now");
    // A slot a minute ahead: whatever the machine's load, "now" stays before it in this test.
    const slot = (Math.floor(now / 1000) + 60) * 1000;
    const job = await store.scheduleClaimSlot({ key: "k", spec: schedule.spec, slot, label: "k@1" });
    assert.ok(job);
    assert.equal(job.availableAt.getTime(), slot);
    assert.equal(job.label, "k@1");
    assert.deepEqual(job.data, { a: 1 });
    assert.equal(job.priority, 2);
    assert.equal(await store.scheduleClaimSlot({ key: "k", spec: schedule.spec, slot, label: "k@1" }), null, "the same slot");
    assert.equal(await store.scheduleClaimSlot({ key: "k", spec: schedule.spec, slot: slot - 1000, label: "k@0" }), null, "an older slot");
    assert.equal(await store.scheduleClaimSlot({ key: "k", spec: '{"every":500}', slot: slot + 1000, label: "k@2" }), null, "another spec");
    assert.equal((await store.scheduleList({})).schedules[0]?.lastSlot, slot);
    // Declaring the same spec again keeps its place; another spec starts over from now.
    await store.scheduleUpsert({ schedule: { ...schedule, priority: 5 } });
    assert.equal((await store.scheduleList({})).schedules[0]?.lastSlot, slot);
    await store.scheduleUpsert({ schedule: { ...schedule, spec: '{"every":500}' } });
    assert.ok((await store.scheduleList({})).schedules[0]!.lastSlot < slot, "starts over from now");
    assert.equal(await store.scheduleDelete({ key: "k" }), true);
    assert.equal(await store.scheduleClaimSlot({ key: "k", spec: '{"every":500}', slot: slot + 5000, label: "k@3" }), null, "a removed schedule");
  });

  test("bad schedules: ValidationError naming the field", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    await assert.rejects(queue.schedule("k", name, { every: 50 }), rejectsWith("when.every"));
    await assert.rejects(queue.schedule("k", name, { cron: "not a cron" }), rejectsWith("when.cron"));
    await assert.rejects(queue.schedule("k", name, { cron: "* * * * *", tz: "Nowhere/City" }), rejectsWith("when.tz"));
    await assert.rejects(queue.schedule("x".repeat(201), name, { every: 1000 }), rejectsWith("key"));
    await assert.rejects(queue.schedule("", name, { every: 1000 }), rejectsWith("key"));
    await assert.rejects(queue.schedule("k", name, { every: 1000 }, { catchUp: "all" as "none" }), rejectsWith("options.catchUp"));
    await assert.rejects(queue.schedule("k", name, { every: 1000 }, { data: { when: new Date() } as never }), rejectsWith("options.data.when"));
    await assert.rejects(queue.schedule("k", name, { every: 1000 }, { priority: 1.5 }), rejectsWith("options.priority"));
    // A process that runs workers must define the task it schedules.
    await queue.schedule("early", name, { every: 60_000 });
    await assert.rejects(queue.start(), rejectsWith("name"));
    queue.define(name, async () => null);
    await queue.start();
    await assert.rejects(queue.schedule("late", taskName(), { every: 60_000 }), rejectsWith("name"));
    assert.deepEqual((await queue.schedules()).map((s) => s.key), ["early"]);
  });
}
