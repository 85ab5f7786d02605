/**
 * Renews the leases of every job this process is running, in one batched write per tick.
 *
 * Each lease is renewed after a third of its length, so two renewals in a row can fail (a slow query,
 * a reconnect) before the lease runs out. A renewal the store does not apply means another worker
 * claimed the job again or an operator cancelled it: the attempt is told at once (its signal aborts).
 * If renewals keep failing with errors until the lease has run out by the local clock, the attempt is
 * told too: from then on another worker may hold the job, so the handler should stop.
 * @module
 */
import { LeaseLostError, coerceError } from "../errors.js";
import type { Store } from "../store/store.js";

/** One running attempt's lease, as the heartbeat tracks it. */
export interface TrackedLease {
  readonly id: string;
  readonly attempt: number;
  /** Current lease length; `ctx.extend(ms)` changes it. */
  leaseMs: number;
  /** Local time (performance.now()) when the lease surely still holds until. */
  expiresAt: number;
  /** Local time of the next renewal. */
  renewAt: number;
  /** Called once when the lease is lost. */
  onLost(error: LeaseLostError): void;
}

/** Fraction of the lease after which it is renewed. */
const RENEW_FRACTION = 1 / 3;
/** Delay before retrying a renewal that failed with an error. */
const RETRY_AFTER_ERROR_MS = 250;

export class Heartbeat {
  readonly #store: Store;
  readonly #onError: (error: Error) => void;
  readonly #leases = new Set<TrackedLease>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #renewing = false;

  constructor(store: Store, onError: (error: Error) => void) {
    this.#store = store;
    this.#onError = onError;
  }

  /** Starts renewing a lease that was granted at local time `grantedAt` (captured before the claim was sent). */
  track(lease: Omit<TrackedLease, "expiresAt" | "renewAt">, grantedAt: number): TrackedLease {
    const tracked: TrackedLease = {
      ...lease,
      expiresAt: grantedAt + lease.leaseMs,
      renewAt: grantedAt + lease.leaseMs * RENEW_FRACTION,
    };
    this.#leases.add(tracked);
    // A busy worker tracks thousands of leases a second: rescan only if this one is due before the timer.
    if (!this.#timer || tracked.renewAt < this.#timerAt) this.#schedule();
    return tracked;
  }

  /** Stops renewing (the attempt ended or was released). */
  untrack(lease: TrackedLease): void {
    this.#leases.delete(lease);
    if (this.#leases.size === 0) this.#clearTimer();
  }

  /** Records that the lease was just renewed (by `ctx.extend`) at local time `sentAt`. */
  renewed(lease: TrackedLease, sentAt: number): void {
    lease.expiresAt = sentAt + lease.leaseMs;
    lease.renewAt = sentAt + lease.leaseMs * RENEW_FRACTION;
    this.#schedule();
  }

  /** Stops all renewals. */
  stop(): void {
    this.#leases.clear();
    this.#clearTimer();
  }

  #schedule(): void {
    if (this.#renewing || this.#leases.size === 0) return;
    let next = Infinity;
    for (const lease of this.#leases) next = Math.min(next, lease.renewAt);
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
    // Renew every lease that is due soon, not only the earliest, so one write serves many jobs.
    const due = [...this.#leases].filter((lease) => lease.renewAt <= sentAt + lease.leaseMs * 0.1);
    try {
      if (due.length > 0) {
        const renewed = await this.#store.jobExtendLeases({
          items: due.map((lease) => ({ id: lease.id, attempt: lease.attempt, leaseMs: lease.leaseMs })),
        });
        for (const lease of due) {
          if (!this.#leases.has(lease)) continue;
          if (renewed.has(lease.id)) {
            lease.expiresAt = sentAt + lease.leaseMs;
            lease.renewAt = sentAt + lease.leaseMs * RENEW_FRACTION;
          } else {
            this.#lose(lease, "the lease was lost: the job was claimed again or cancelled");
          }
        }
      }
    } catch (thrown) {
      this.#onError(coerceError(thrown));
      const now = performance.now();
      for (const lease of due) {
        if (!this.#leases.has(lease)) continue;
        if (now >= lease.expiresAt) this.#lose(lease, "the lease expired while it could not be renewed");
        else lease.renewAt = Math.min(lease.expiresAt, now + RETRY_AFTER_ERROR_MS);
      }
    } finally {
      this.#renewing = false;
      this.#schedule();
    }
  }

  #lose(lease: TrackedLease, detail: string): void {
    this.#leases.delete(lease);
    lease.onLost(new LeaseLostError(lease.id, lease.attempt, detail));
  }
}
