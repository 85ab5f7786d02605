/**
 * The clock of a test queue: it stands still until the test moves it.
 * @module
 */
import { ValidationError } from "../errors.js";
import type { Clock } from "../clock.js";

/**
 * A clock that only moves when told to. Every time the test queue's store records (creation, delays,
 * retry backoff, lease expiry) comes from it, so a test jumps over an hour-long delay with `advance`.
 */
export class TestClock implements Clock {
  #now: number;

  /** @param start the clock's first reading, in epoch ms or as a Date. Default: the real time now. */
  constructor(start: number | Date = Date.now()) {
    this.#now = toMs(start, "start");
  }

  /** The current reading, in epoch ms. */
  now(): number {
    return this.#now;
  }

  /** Moves the clock `ms` milliseconds forward. */
  advance(ms: number): void {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      throw new ValidationError("ms", `must be a finite number of milliseconds, at least 0, got ${String(ms)}`);
    }
    this.#now += ms;
  }

  /** Sets the clock to `time`, which must not be earlier than its reading (time never goes back). */
  set(time: number | Date): void {
    const ms = toMs(time, "time");
    if (ms < this.#now) throw new ValidationError("time", "must not be earlier than the clock's current reading");
    this.#now = ms;
  }
}

function toMs(time: number | Date, field: string): number {
  const ms = time instanceof Date ? time.getTime() : time;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new ValidationError(field, "must be epoch ms or a valid Date");
  return ms;
}
