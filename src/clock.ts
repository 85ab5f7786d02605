/**
 * The clock of hewn's background services (maintenance): one instance shared by all of them, so a test
 * (or a testing kit) can replace it in one place. Leases and store times never come from here: those
 * come from the store (the database clock on PostgreSQL), and local timeouts from the monotonic clock.
 * @module
 */

/** Wall-clock time. */
export interface Clock {
  /** Now, in epoch milliseconds. */
  now(): number;
}

/** The process's clock (`Date.now`). */
export const systemClock: Clock = { now: () => Date.now() };
