/**
 * The fetch loop: one per queue and process. A *round* is one round trip and one transaction that
 * writes the completions collected so far and claims as many jobs as there are free places (worker
 * slots plus the local buffer), across all tasks. The loop keeps up to `maxRounds` rounds in flight:
 * on PostgreSQL a round mostly waits for its commit to reach the disk, and commits that overlap share
 * one flush, so two rounds in flight move nearly twice the jobs. Places a round asked for are reserved
 * until it returns, so overlapping rounds never claim more than there is room for.
 *
 * States:
 *
 *   busy ──(a round claimed all it asked for: maybe more waiting)──► busy (next round at once)
 *   busy ──(a round claimed less, and nothing woke the loop meanwhile)──► idle
 *   idle ──(wake: a local enqueue, a NOTIFY, a freed slot, a completion)──► busy
 *   idle ──(timer: the next delayed job / expiring lease is due, or the poll interval passed)──► busy
 *   any  ──(store error: reported)──► backing off (100 ms doubling to 5 s) ──► busy
 *   any  ──(stop)──► stopped, once the rounds in flight have returned
 *
 * While idle, completions still go out at once (with a claim attached, which costs nothing extra).
 * Wakes are counted, so one that arrives while a round is in flight is never lost. The idle timer is
 * bounded by the time until the next job becomes available, so delayed jobs and expired leases are
 * picked up on time without fast polling.
 * @module
 */
import { coerceError } from "../errors.js";
import { RetryBackoff } from "../retry-backoff.js";
import type { ClaimRequest, Store, StoredJob } from "../store/store.js";
import { Completer } from "./completer.js";
import type { ErrorReporter } from "../report.js";

export interface FetchLoopDeps {
  readonly store: Store;
  /** Completions to write with each claim. */
  readonly completer: Completer;
  /** What to claim now, given places already reserved by rounds in flight (by task name). */
  requests(reserved: ReadonlyMap<string, number>): ClaimRequest[];
  /** Takes claimed jobs (called after every round, even with none); `grantedAt` is the local time just before the claim was sent (a safe lease start). */
  onClaimed(jobs: StoredJob[], grantedAt: number): void;
  /** The longest the loop stays idle without a wake-up. */
  pollInterval(): number;
  /** Called when the last round in flight has returned. */
  onRoundsSettled(): void;
  readonly report: ErrorReporter;
}

/** Idle time when the store says a job is due but the claim got none (another process holds its lock). */
const CONTENDED_SLEEP_MS = 5;

export class FetchLoop {
  readonly #deps: FetchLoopDeps;
  readonly #maxRounds: number;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #reserved = new Map<string, number>();
  #started = false;
  #stopped = false;
  #idle = false;
  #wakes = 0;
  #pumpScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #errorBackoff = new RetryBackoff();

  constructor(deps: FetchLoopDeps, maxRounds: number) {
    this.#deps = deps;
    this.#maxRounds = maxRounds;
  }

  /** Rounds in flight now. */
  get roundsInFlight(): number {
    return this.#inFlight.size;
  }

  /** Places of task `name` that rounds in flight may still fill. */
  reservedFor(name: string): number {
    return this.#reserved.get(name) ?? 0;
  }


  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedulePump();
  }

  /** Claim again as soon as possible. */
  wake(): void {
    this.#wakes++;
    this.#idle = false;
    if (this.#started) this.#schedulePump();
  }

  /** Stops claiming; resolves once the rounds in flight have returned (their jobs were handed over). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
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
    while (!this.#stopped && this.#inFlight.size < this.#maxRounds) {
      const completions = this.#deps.completer.take();
      // Idle: the last claim found nothing, so claim only alongside completions, which go out anyway.
      const requests = this.#idle && completions.length === 0 ? [] : this.#deps.requests(this.#reserved);
      if (completions.length === 0 && requests.length === 0) return;
      const round = this.#round(completions, requests).finally(() => {
        this.#inFlight.delete(round);
        if (this.#inFlight.size === 0) this.#deps.onRoundsSettled();
        this.#schedulePump();
      });
      this.#inFlight.add(round);
    }
  }

  async #round(completions: ReturnType<Completer["take"]>, requests: ClaimRequest[]): Promise<void> {
    const wakesBefore = this.#wakes;
    this.#reserve(requests, +1);
    let claimed: StoredJob[];
    const grantedAt = performance.now();
    try {
      const result = await this.#deps.store.jobClaim({ requests, completions: completions.map((pending) => pending.item) });
      claimed = result.claimed;
      Completer.settle(completions, result.completed);
    } catch (thrown) {
      this.#reserve(requests, -1);
      // The attempts retry their completions (and report the error themselves).
      Completer.fail(completions, thrown);
      this.#deps.report(coerceError(thrown), { source: "claim" });
      this.#goIdle(this.#errorBackoff.next());
      return;
    }
    this.#reserve(requests, -1);
    this.#errorBackoff.reset();
    this.#deps.onClaimed(claimed, grantedAt);
    const claimedAll = requests.every((request) => countNamed(claimed, request.name) >= request.limit);
    // Claimed everything asked for: there may be more waiting. Woken meanwhile: something changed.
    if (claimedAll || this.#wakes !== wakesBefore || this.#stopped) return;
    try {
      const sleepMs = await this.#idleSleep(requests, claimed.length);
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

  #reserve(requests: ClaimRequest[], sign: 1 | -1): void {
    for (const { name, limit } of requests) {
      const total = (this.#reserved.get(name) ?? 0) + sign * limit;
      if (total > 0) this.#reserved.set(name, total);
      else this.#reserved.delete(name);
    }
  }
}

function countNamed(jobs: StoredJob[], name: string): number {
  let count = 0;
  for (const job of jobs) if (job.name === name) count++;
  return count;
}
