/**
 * Slot arithmetic of periodic jobs on a fixed clock: epoch alignment, cron in a time zone across both
 * daylight-saving transitions, the catch-up policies, and bad input.
 */
import "../leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { ValidationError } from "../../src/index.js";
import { LATE_GRACE_MS, checkCatchUp, dueSlots } from "../../src/periodic/catch-up.js";
import { checkWhen, slotsOf } from "../../src/periodic/when.js";

const at = (iso: string) => new Date(iso).getTime();
const iso = (slots: number[]) => slots.map((slot) => new Date(slot).toISOString());
const rejectsField = (field: string) => (error: unknown) => error instanceof ValidationError && error.field === field;

test("every: slots are the multiples of `every` since the epoch, strictly after, up to and including", () => {
  const slots = checkWhen({ every: 1000 });
  assert.deepEqual(slots.between(10_500, 13_000, 10), [11_000, 12_000, 13_000]);
  assert.deepEqual(slots.between(11_000, 12_999, 10), [12_000]);
  assert.deepEqual(slots.between(0, 1e9, 3), [1000, 2000, 3000], "limited");
  assert.equal(slots.atOrBefore(12_000), 12_000);
  assert.equal(slots.after(12_000), 13_000);
  assert.equal(slots.spec, '{"every":1000}');
  assert.deepEqual(slotsOf(slots.spec).when, { every: 1000 });
});

test("cron: 5 and 6 fields, UTC by default, a time zone when given", () => {
  const five = checkWhen({ cron: "*/15 * * * *" });
  assert.deepEqual(five.when, { cron: "*/15 * * * *", tz: "UTC" });
  assert.deepEqual(iso(five.between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:45:00Z"), 10)),
    ["2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z", "2026-01-01T00:45:00.000Z"]);
  const six = checkWhen({ cron: "0  */5 * * * *", tz: "Europe/Berlin" });
  assert.equal(six.spec, '{"cron":"0 */5 * * * *","tz":"Europe/Berlin"}', "whitespace normalised: one spec per schedule");
  assert.equal(six.after(at("2026-01-01T00:00:00Z")), at("2026-01-01T00:05:00Z"));
  assert.equal(six.atOrBefore(at("2026-01-01T00:05:00Z")), at("2026-01-01T00:05:00Z"));
  const berlin = checkWhen({ cron: "0 9 * * *", tz: "Europe/Berlin" });
  assert.deepEqual(iso(berlin.between(at("2026-01-01T00:00:00Z"), at("2026-01-02T23:00:00Z"), 5)),
    ["2026-01-01T08:00:00.000Z", "2026-01-02T08:00:00.000Z"], "09:00 in Berlin is 08:00 UTC in winter");
});

test("DST (Europe/Berlin): a skipped local time runs at the next valid time, a repeated one runs once", () => {
  const daily = checkWhen({ cron: "30 2 * * *", tz: "Europe/Berlin" });
  // 29 March 2026: 02:00 → 03:00 local, so 02:30 does not exist; croner runs at 03:00 local (01:00 UTC).
  assert.deepEqual(iso(daily.between(at("2026-03-27T12:00:00Z"), at("2026-03-30T12:00:00Z"), 10)),
    ["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
  // 25 October 2026: 03:00 → 02:00 local, so 02:30 happens twice; it runs once, at the first (00:30 UTC).
  assert.deepEqual(iso(daily.between(at("2026-10-23T12:00:00Z"), at("2026-10-26T12:00:00Z"), 10)),
    ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
  // Every 20 minutes keeps going every 20 real minutes through the repeated hour: no slot twice, none skipped.
  const often = checkWhen({ cron: "*/20 * * * *", tz: "Europe/Berlin" });
  const slots = often.between(at("2026-10-25T00:00:00Z"), at("2026-10-25T02:00:00Z"), 20);
  assert.equal(slots.length, 6);
  assert.ok(slots.every((slot, i) => i === 0 || slot - slots[i - 1]! === 20 * 60_000));
});

test("catch-up: live slots always; missed ones: none, the latest, or those within a bound", () => {
  const every = checkWhen({ every: 1000 });
  const base = { lastSlot: 0, now: 100_500, liveSince: 95_000, limit: 1000 };
  const liveFrom = base.liveSince - LATE_GRACE_MS;
  // Slots 1000 … 100 000 are due; those from liveFrom on are live (this process, or one just before it, ran).
  assert.deepEqual(dueSlots(every, { ...base, catchUp: "none" }), [93_000, 94_000, 95_000, 96_000, 97_000, 98_000, 99_000, 100_000]);
  assert.equal(liveFrom, 93_000);
  assert.deepEqual(dueSlots(every, { ...base, catchUp: "latest" }), [92_000, 93_000, 94_000, 95_000, 96_000, 97_000, 98_000, 99_000, 100_000]);
  assert.deepEqual(dueSlots(every, { ...base, catchUp: 10_000 }).slice(0, 3), [91_000, 92_000, 93_000]);
  // A long-running process: everything after the last slot is live.
  assert.deepEqual(dueSlots(every, { lastSlot: 98_000, now: 100_500, liveSince: 0, catchUp: "none", limit: 10 }), [99_000, 100_000]);
  // Nothing twice: slots at or before lastSlot are never due, whatever the policy.
  assert.deepEqual(dueSlots(every, { lastSlot: 100_000, now: 100_500, liveSince: 95_000, catchUp: "latest", limit: 10 }), []);
  assert.deepEqual(dueSlots(every, { ...base, catchUp: 10_000, limit: 2 }), [91_000, 92_000], "limited, oldest first");
});

test("bad input: ValidationError naming the field", () => {
  assert.throws(() => checkWhen({ every: 99 }), rejectsField("when.every"));
  assert.throws(() => checkWhen({ every: 1000.5 }), rejectsField("when.every"));
  assert.throws(() => checkWhen({ every: "1000" }), rejectsField("when.every"));
  assert.throws(() => checkWhen({ cron: "61 * * * *" }), rejectsField("when.cron"));
  assert.throws(() => checkWhen({ cron: "* * * *" }), rejectsField("when.cron"));
  assert.throws(() => checkWhen({ cron: "0 0 * * * * 2030" }), rejectsField("when.cron"), "7 fields");
  assert.throws(() => checkWhen({ cron: "0 0 30 2 *" }), rejectsField("when.cron"), "never fires");
  assert.throws(() => checkWhen({ cron: "* * * * *", tz: "Mars/Olympus" }), rejectsField("when.tz"));
  assert.throws(() => checkWhen({ cron: "* * * * *", tz: "" }), rejectsField("when.tz"));
  assert.throws(() => checkWhen({ every: 1000, cron: "* * * * *" }), rejectsField("when.cron"));
  assert.throws(() => checkWhen({ at: 5 }), rejectsField("when"));
  assert.throws(() => checkWhen(undefined), rejectsField("when"));
  assert.throws(() => checkCatchUp("all", "options.catchUp"), rejectsField("options.catchUp"));
  assert.throws(() => checkCatchUp(-1, "options.catchUp"), rejectsField("options.catchUp"));
  assert.equal(checkCatchUp(undefined, "options.catchUp"), "none");
});
