/**
 * When a periodic job runs: `{ every: ms }` (slots at multiples of `every` since the Unix epoch) or
 * `{ cron, tz }` (a 5- or 6-field cron expression, read by croner in an IANA time zone). Slots are epoch
 * milliseconds; this module is pure arithmetic on them, so it takes "now" as an argument and never reads
 * a clock (the periodic enqueuer passes the store's now: the database clock on PostgreSQL).
 *
 * Daylight-saving transitions follow croner's rules: a local time that does not exist (spring forward)
 * runs at the first valid time after it; a local time that occurs twice (fall back) runs once, at its
 * first occurrence; "every 20 minutes" keeps running every 20 real minutes through both.
 * @module
 */
import { Cron } from "croner";
import { ValidationError } from "../errors.js";
import { MAX_DELAY_MS, checkKnownKeys, checkOptionsObject, describe } from "../validate.js";

/** Slots aligned to the Unix epoch: every multiple of `every` ms. */
export interface EveryWhen {
  /** The period in ms, at least 100. */
  every: number;
}

/** Slots of a cron expression. */
export interface CronWhen {
  /** 5 fields (minute precision) or 6 (seconds first), e.g. `"0 *\/5 * * * *"`. */
  cron: string;
  /** An IANA time zone, e.g. `"Europe/Berlin"`. Default `"UTC"`. */
  tz?: string;
}

/** When a schedule's slots are. */
export type When = EveryWhen | CronWhen;

/** The shortest `every` accepted, in ms: shorter would be a busy loop, not a schedule. */
export const MIN_EVERY_MS = 100;

/** A checked `when` with its slot arithmetic. */
export interface Slots {
  /** The canonical `when` (defaults filled in). */
  readonly when: When;
  /** The canonical JSON text of `when`: equal texts mean equal schedules. */
  readonly spec: string;
  /** Up to `limit` slots `s` with `after < s <= upTo`, ascending. */
  between(after: number, upTo: number, limit: number): number[];
  /** The last slot at or before `t`, or null if there is none. */
  atOrBefore(t: number): number | null;
  /** The first slot after `t`, or null if there is none (a cron expression that never fires again). */
  after(t: number): number | null;
}

/** Checks a `when` given by a caller (`field` names it in errors). Throws `ValidationError`. */
export function checkWhen(when: unknown, field = "when"): Slots {
  const given = checkOptionsObject(when as object | undefined, field) as Record<string, unknown>;
  if (when === undefined) throw new ValidationError(field, "is required: { every: ms } or { cron, tz }");
  if ("every" in given) {
    checkKnownKeys(given, ["every"], field);
    const every = given.every;
    if (typeof every !== "number" || !Number.isInteger(every) || every < MIN_EVERY_MS || every > MAX_DELAY_MS) {
      throw new ValidationError(`${field}.every`, `must be a whole number of ms from ${MIN_EVERY_MS} to ${MAX_DELAY_MS}, got ${describe(every)}`);
    }
    return everySlots(every);
  }
  if ("cron" in given) {
    checkKnownKeys(given, ["cron", "tz"], field);
    const { cron, tz = "UTC" } = given;
    if (typeof cron !== "string" || !/^\S+(\s+\S+){4,5}$/.test(cron.trim())) {
      throw new ValidationError(`${field}.cron`, `must be a cron expression of 5 or 6 fields, got ${typeof cron === "string" ? JSON.stringify(cron.slice(0, 100)) : describe(cron)}`);
    }
    if (typeof tz !== "string" || !isTimeZone(tz)) {
      throw new ValidationError(`${field}.tz`, `must be an IANA time zone such as "Europe/Berlin", got ${typeof tz === "string" ? JSON.stringify(tz.slice(0, 100)) : describe(tz)}`);
    }
    return cronSlots(cron.trim().split(/\s+/).join(" "), tz, field);
  }
  throw new ValidationError(field, "must be { every: ms } or { cron, tz }");
}

/** The slots of a stored spec (canonical JSON written by {@link checkWhen}). */
export function slotsOf(spec: string): Slots {
  return checkWhen(JSON.parse(spec) as unknown, "spec");
}

function everySlots(every: number): Slots {
  const when = { every };
  return {
    when,
    spec: JSON.stringify(when),
    between(after, upTo, limit) {
      const slots: number[] = [];
      for (let s = (Math.floor(after / every) + 1) * every; s <= upTo && slots.length < limit; s += every) slots.push(s);
      return slots;
    },
    atOrBefore: (t) => Math.floor(t / every) * every,
    after: (t) => (Math.floor(t / every) + 1) * every,
  };
}

function cronSlots(cron: string, tz: string, field: string): Slots {
  let pattern: Cron;
  try {
    // No function: croner only evaluates the expression, it starts no timer.
    pattern = new Cron(cron, { timezone: tz });
    if (pattern.nextRun() === null) throw new Error("it never fires");
  } catch (error) {
    throw new ValidationError(`${field}.cron`, `is not a valid cron expression: ${(error as Error).message}`, { cause: error });
  }
  const when = { cron, tz };
  return {
    when,
    spec: JSON.stringify(when),
    between(after, upTo, limit) {
      const slots: number[] = [];
      let from = new Date(after);
      while (slots.length < limit) {
        const next = pattern.nextRun(from);
        if (next === null || next.getTime() > upTo) break;
        slots.push(next.getTime());
        from = next;
      }
      return slots;
    },
    atOrBefore(t) {
      // previousRuns is strictly before its reference.
      const [previous] = pattern.previousRuns(1, new Date(t + 1));
      return previous === undefined ? null : previous.getTime();
    },
    after(t) {
      const next = pattern.nextRun(new Date(t));
      return next === null ? null : next.getTime();
    },
  };
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
}
