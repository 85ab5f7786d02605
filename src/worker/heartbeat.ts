/**
 * Leases: the one place that knows how long this process may still hold each job it claimed.
 *
 * Every lease of the process (jobs running, and jobs held in the local buffer) is renewed here, in one
 * batched write per tick. A lease is renewed after a third of its length, so two renewals in a row can
 * fail (a slow query, a reconnect) before it runs out. `ctx.extend(ms)` goes through here too
 * ({@link Heartbeat.extend}), so the local view of a lease is always the one last written.
 *
 * A renewal the store does not apply means another worker claimed the job again or an operator cancelled
 * it: the attempt is told at once (`onLost`). If renewals keep failing with errors until the lease has run
 * out by the local clock, the attempt is told too: from then on another worker may hold the job.
 *
 * Times here are local and monotonic (`performance.now()`); a lease counts from just before the write
 * that granted it was sent, so the local view never outlives the store's.
 * @module
 */
import { LeaseLostError, coerceError } from "../errors.js";
import type { AttemptRef, Store } from "../store/store.js";

/** One attempt's lease, as its attempt sees it. */
export interface Lease extends AttemptRef {
  /** The lease length in ms: the task's `timeout`, until `ctx.extend(ms)` sets another. */
  readonly leaseMs: number;
}

/** What the heartbeat keeps per lease. */
interface Tracked extends Lease {
  leaseMs: number;
  /** Local time until which the lease surely holds. */
  expiresAt: number;
  /** Local time of the next renewal. */
  renewAt: number;
  /** Told once when the lease is lost. */
  readonly onLost: (error: LeaseLostError) => void;
}

/** Fraction of the lease after which it is renewed. */
const RENEW_FRACTION = 1 / 3;
/** A tick also renews leases due within this fraction of their length, so one write serves many. */
const RENEW_AHEAD_FRACTION = 0.1;
/** Delay before retrying a renewal that failed with an error. */
const RETRY_AFTER_ERROR_MS = 250;

export class Heartbeat {
  readonly #store: Store;
  readonly #onError: (error: Error) => void;
  readonly #leases = new Map<Lease, Tracked>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #renewing = false;

  constructor(store: Store, onError: (error: Error) => void) {
    this.#store = store;
    this.#onError = onError;
  }

  /**
   * Starts keeping a lease of `leaseMs` that the store granted to attempt `ref` by a write sent at local
   * time `sentAt`. `onLost` is called once if the lease is lost.
   */
  track(ref: AttemptRef, leaseMs: number, sentAt: number, onLost: (error: LeaseLostError) => void): Lease {
    const tracked: Tracked = { id: ref.id, attempt: ref.attempt, leaseMs, expiresAt: 0, renewAt: 0, onLost };
    renewed(tracked, sentAt, leaseMs);
    this.#leases.set(tracked, tracked);
    // A busy worker tracks thousands of leases a second: rescan only if this one is due before the timer.
    if (!this.#timer || tracked.renewAt < this.#timerAt) this.#schedule();
    return tracked;
  }

  /** Stops renewing (the attempt ended, was released or cancelled). */
  untrack(lease: Lease): void {
    this.#leases.delete(lease);
    if (this.#leases.size === 0) this.#clearTimer();
  }

  /**
   * `ctx.extend(ms)`: the lease now ends `ms` from now, and `ms` is its length from then on. Resolves
   * true once written; false if the lease was lost (its `onLost` was called). Store errors reject.
   */
  async extend(lease: Lease, ms: number): Promise<boolean> {
    const sentAt = performance.now();
    const extended = await this.#store.jobExtendLeases({ items: [{ id: lease.id, attempt: lease.attempt, leaseMs: ms }] });
    const tracked = this.#leases.get(lease);
    if (!tracked) return extended.has(lease.id);
    if (!extended.has(lease.id)) {
      this.#lose(tracked, "extend found the lease lost");
      return false;
    }
    renewed(tracked, sentAt, ms);
    tracked.leaseMs = ms;
    this.#schedule();
    return true;
  }

  /** Whether the lease surely still holds `ms` from now (false once it was lost or untracked). */
  holdsFor(lease: Lease, ms: number): boolean {
    const tracked = this.#leases.get(lease);
    return tracked !== undefined && performance.now() + ms < tracked.expiresAt;
  }

  /** Stops all renewals. */
  stop(): void {
    this.#leases.clear();
    this.#clearTimer();
  }

  #schedule(): void {
    if (this.#renewing || this.#leases.size === 0) return;
    let next = Infinity;
    for (const lease of this.#leases.values()) next = Math.min(next, lease.renewAt);
    if (next >= this.#timerAt && this.#timer) return;
    this.#clearTimer();
    this.#timerAt = next;
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, next - performance.now()));
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#renewing = true;
    const sentAt = performance.now();
    const due = [...this.#leases.values()]
      .filter((lease) => lease.renewAt <= sentAt + lease.leaseMs * RENEW_AHEAD_FRACTION)
      .map((lease) => ({ lease, leaseMs: lease.leaseMs }));
    try {
      if (due.length > 0) {
        const extended = await this.#store.jobExtendLeases({
          items: due.map(({ lease, leaseMs }) => ({ id: lease.id, attempt: lease.attempt, leaseMs })),
        });
        for (const { lease, leaseMs } of due) {
          if (!this.#leases.has(lease)) continue;
          if (extended.has(lease.id)) renewed(lease, sentAt, leaseMs);
          else this.#lose(lease, "the lease was lost: the job was claimed again or cancelled");
        }
      }
    } catch (thrown) {
      this.#onError(coerceError(thrown));
      const now = performance.now();
      for (const { lease } of due) {
        if (!this.#leases.has(lease)) continue;
        if (now >= lease.expiresAt) this.#lose(lease, "the lease expired while it could not be renewed");
        else lease.renewAt = Math.min(lease.expiresAt, now + RETRY_AFTER_ERROR_MS);
      }
    } finally {
      this.#renewing = false;
      this.#schedule();
    }
  }

  #lose(lease: Tracked, detail: string): void {
    this.#leases.delete(lease);
    lease.onLost(new LeaseLostError(lease.id, lease.attempt, detail));
  }
}

/**
 * The lease arithmetic, in one place: a write sent at local time `sentAt` set the lease to `leaseMs` from
 * the store's now, which is no earlier than `sentAt`; it is renewed after a third of that.
 */
function renewed(lease: Tracked, sentAt: number, leaseMs: number): void {
  lease.expiresAt = sentAt + leaseMs;
  lease.renewAt = sentAt + leaseMs * RENEW_FRACTION;
}
