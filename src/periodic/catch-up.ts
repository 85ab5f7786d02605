/**
 * Which slots of a schedule are due, and what happens to the slots missed while no process ran.
 *
 * A process takes part from the moment its periodic enqueuer first looked (`liveSince`, on the store's
 * clock). Slots from then on are *live*: some process was there when they came due, so every one is
 * enqueued, however late a busy process gets to it. Slots before that which no process enqueued (the
 * schedule's `lastSlot` is older) were *missed*: no process ran. `catchUp` decides about those:
 * - `"none"` (default): skipped;
 * - `"latest"`: only the most recent one is enqueued;
 * - a number of ms: every missed slot within that long before now is enqueued.
 *
 * A slot less than {@link LATE_GRACE_MS} before `liveSince` counts as live: a process just starting does
 * not skip a slot that a running but briefly late process has yet to enqueue (slots are handed out in
 * order, so a later slot taken first would make that one lost).
 * @module
 */
import { ValidationError } from "../errors.js";
import { MAX_DELAY_MS, describe } from "../validate.js";
import type { Slots } from "./when.js";

/** What happens to slots missed while no process ran: see the module comment. */
export type CatchUp = "none" | "latest" | number;

/** How late before a process's start a slot may be and still count as live. */
export const LATE_GRACE_MS = 2_000;

/** Checks a `catchUp` option (default `"none"`). */
export function checkCatchUp(value: unknown, field: string): CatchUp {
  if (value === undefined) return "none";
  if (value === "none" || value === "latest") return value;
  if (typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= MAX_DELAY_MS) return value;
  throw new ValidationError(field, `must be "none", "latest" or a number of ms from 0 to ${MAX_DELAY_MS}, got ${typeof value === "string" ? JSON.stringify(value.slice(0, 50)) : describe(value)}`);
}

export interface DueParams {
  /** The latest slot handed out (or the time the schedule was declared or changed). */
  lastSlot: number;
  /** The store's now. */
  now: number;
  /** When this process began taking part, on the store's clock. */
  liveSince: number;
  catchUp: CatchUp;
  /** At most this many slots (the rest come on the next round). */
  limit: number;
}

/** The slots to enqueue now, ascending: the live ones, and the missed ones `catchUp` keeps. */
export function dueSlots(slots: Slots, { lastSlot, now, liveSince, catchUp, limit }: DueParams): number[] {
  const liveFrom = liveSince - LATE_GRACE_MS;
  const from = typeof catchUp === "number" ? Math.min(liveFrom, now - catchUp) : liveFrom;
  const due = slots.between(Math.max(lastSlot, from - 1), now, limit);
  if (catchUp === "latest") {
    const latest = slots.atOrBefore(liveFrom - 1);
    if (latest !== null && latest > lastSlot && latest <= now) return [latest, ...due].slice(0, limit);
  }
  return due;
}
