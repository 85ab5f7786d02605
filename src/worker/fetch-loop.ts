/**
 * The fetch loop: one per queue and process. It claims jobs and hands them over; it decides nothing
 * about them. A *round* is one round trip and one transaction that writes the completions collected so
 * far and claims what the worker asks for (`requests`: free slots and room in the local buffer, across
 * all tasks). The loop keeps up to `maxRounds` rounds in flight: on PostgreSQL a round mostly waits for
 * its commit to reach the disk, and commits that overlap share one flush, so two rounds in flight move
 * nearly twice the jobs. The worker reserves the places a round asks for until the round reports back
 * (`claimed` or `claimFailed`), so overlapping rounds never claim more than there is room for.
 *
 * States:
 *
 *   busy ──(a round claimed all it asked for: maybe more waiting)──► busy (next round at once)
 *   busy ──(a round claimed less, and nothing woke the loop meanwhile)──► idle
 *   idle ──(wake: a local enqueue, a NOTIFY, a freed slot, a completion)──► busy
 *   idle ──(timer: the next delayed job / expiring lease is due, or the poll interval passed)──► busy
 *   busy ──(a task is paused or its flow limits held due jobs back)──► idle until its limit may admit
 *        more (a rate window's exact time; FLOW_POLL_MS for concurrency; the poll interval while paused)
 *   any  ──(store error: reported)──► backing off (retry-backoff.ts) ──► busy
 *   any  ──(stop)──► stopped, once the rounds in flight have returned
 *
 * While idle, completions still go out at once (with a claim attached, which costs nothing extra).
 * Wakes are counted, so one that arrives while a round is in flight is never lost. The idle timer is
 * bounded by the time until the next job becomes available, so delayed jobs and expired leases are
 * picked up on time without fast polling. While running, the loop holds the completer's feed (the
 * completer writes by itself before start and after stop).
 * @module
 */
import { coerceError } from "../errors.js";
import type { ErrorReporter } from "../report.js";
import { RetryBackoff } from "../retry-backoff.js";
import type { ClaimRequest, HeldBack, Store, StoredJob } from "../store/store.js";
import type { CompletionBatch, CompletionFeed, Completer } from "./completer.js";

export interface FetchLoopDeps {
  readonly store: Store;
  /** Where the completions to write with each claim come from. */
  readonly completer: Completer;
  /** Rounds kept in flight at most (the store's `maxConcurrentRounds`). */
  readonly maxRounds: number;
  /** What to claim now. The places asked for stay reserved until `claimed` or `claimFailed` reports the round. */
  requests(): ClaimRequest[];
  /**
   * A round returned with `jobs` claimed for `requests` (called after every round, even with none).
   * `grantedAt` is the local time just before the round was sent: a safe start for the leases.
   * `heldBack`: the requests a pause or flow limits held back.
   */
  claimed(jobs: StoredJob[], requests: ClaimRequest[], grantedAt: number, heldBack: HeldBack[]): void;
  /** A round failed: `requests` claimed nothing. */
  claimFailed(requests: ClaimRequest[]): void;
  /** The longest the loop stays idle without a wake-up. */
  pollInterval(): number;
  readonly report: ErrorReporter;
}

/** Idle time when the store says a job is due but the claim got none (another process holds its lock). */
const CONTENDED_SLEEP_MS = 5;
/**
 * Idle time when a task's concurrency (global or per group) is full: other processes' jobs may end at
 * any moment and they send no wake-up, so look again soon (a local job ending wakes the loop at once).
 */
const FLOW_POLL_MS = 50;

export class FetchLoop {
  readonly #deps: FetchLoopDeps;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #errorBackoff = new RetryBackoff();
  #feed: CompletionFeed | undefined;
  #stopped = false;
  #idle = false;
  #wakes = 0;
  #pumpScheduled = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: FetchLoopDeps) {
    this.#deps = deps;
  }

  /** Takes over writing completions and starts claiming. Idempotent. */
  start(): void {
    if (this.#feed || this.#stopped) return;
    this.#feed = this.#deps.completer.feed(() => this.wake());
    this.#schedulePump();
  }

  /** Claim again as soon as possible. */
  wake(): void {
    this.#wakes++;
    this.#idle = false;
    if (this.#feed) this.#schedulePump();
  }

  /**
   * Stops claiming; resolves once the rounds in flight have returned (their jobs were handed over) and
   * the completer writes by itself again.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    this.#feed?.close();
  }

  /**
   * Pumps on the next turn of the event loop, not now: the jobs handed over by the last round get to
   * run first, and what they finish meanwhile rides along in the next round trip instead of costing one
   * of its own.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled || this.#stopped) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    const feed = this.#feed;
    while (feed && !this.#stopped && this.#inFlight.size < this.#deps.maxRounds) {
      const completions = feed.take();
      // Idle: the last claim found nothing, so claim only alongside completions, which go out anyway.
      const requests = this.#idle && !completions ? [] : this.#deps.requests();
      if (!completions && requests.length === 0) return;
      const round = this.#round(completions, requests).finally(() => {
        this.#inFlight.delete(round);
        this.#schedulePump();
      });
      this.#inFlight.add(round);
    }
  }

  async #round(completions: CompletionBatch | undefined, requests: ClaimRequest[]): Promise<void> {
    const wakesBefore = this.#wakes;
    let claimed: StoredJob[];
    let held: HeldBack[];
    const grantedAt = performance.now();
    try {
      const result = await this.#deps.store.jobClaim({ requests, completions: completions ? [...completions.items] : [] });
      claimed = result.claimed;
      held = result.heldBack ?? [];
      completions?.settle(result.completed);
    } catch (thrown) {
      // The attempts retry their completions (and report the error themselves).
      completions?.fail(thrown);
      this.#deps.claimFailed(requests);
      this.#deps.report(coerceError(thrown), { source: "claim" });
      this.#goIdle(this.#errorBackoff.next());
      return;
    }
    this.#errorBackoff.reset();
    this.#deps.claimed(claimed, requests, grantedAt, held);
    // Held back requests wait for their limits, not for jobs: they are left out of what follows.
    const open = held.length === 0 ? requests : requests.filter((request) => !held.some((h) => h.name === request.name));
    const claimedAll = open.every((request) => countNamed(claimed, request.name) >= request.limit);
    // Claimed everything asked for: there may be more waiting. Woken meanwhile: something changed.
    if ((claimedAll && (open.length > 0 || held.length === 0)) || this.#wakes !== wakesBefore || this.#stopped) return;
    try {
      const interval = this.#deps.pollInterval();
      let sleepMs = open.length === 0 ? interval : await this.#idleSleep(open, claimed.length);
      for (const hold of held) sleepMs = Math.min(sleepMs, hold.retryInMs ?? (hold.paused ? interval : FLOW_POLL_MS));
      if (this.#wakes === wakesBefore) this.#goIdle(sleepMs);
    } catch (thrown) {
      this.#deps.report(coerceError(thrown), { source: "claim" });
      if (this.#wakes === wakesBefore) this.#goIdle(this.#deps.pollInterval());
    }
  }

  /** Idle until a wake-up, or for `ms` at most. */
  #goIdle(ms: number): void {
    if (this.#stopped) return;
    this.#idle = true;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), ms);
  }

  /** How long to stay idle after a claim that left places free. */
  async #idleSleep(requests: ClaimRequest[], claimed: number): Promise<number> {
    const interval = this.#deps.pollInterval();
    const names = requests.map((request) => request.name);
    const untilNext = names.length === 0 ? null : await this.#deps.store.jobNextAvailableIn({ names });
    if (untilNext === null) return interval;
    if (untilNext <= 0) return claimed > 0 ? 0 : CONTENDED_SLEEP_MS;
    // Wake a hair after the job is due, not before: timers may fire early by a millisecond.
    return Math.min(interval, untilNext + 1);
  }
}

function countNamed(jobs: StoredJob[], name: string): number {
  let count = 0;
  for (const job of jobs) if (job.name === name) count++;
  return count;
}
