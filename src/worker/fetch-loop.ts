/**
 * The fetch loop: one per queue and process. Each round, in one round trip and one transaction, it
 * writes the completions collected since the last round and claims as many jobs as there are free
 * worker slots, across all tasks; it hands the jobs to the worker, and sleeps when there is nothing to do.
 *
 * States:
 *
 *   claiming ──(claimed a full batch: maybe more waiting)──────────────────────► claiming
 *   claiming ──(claimed less, or no free slot)──► sleeping
 *   sleeping ──(wake: a local enqueue, a NOTIFY, a freed slot, a completion)───► claiming
 *   sleeping ──(timer: the next delayed job / expiring lease is due, or the poll interval passed)──► claiming
 *   claiming ──(store error: reported)──► backing off (100 ms doubling to 5 s) ──► claiming
 *   any      ──(stop)──► stopped
 *
 * A wake that arrives while claiming is remembered (`#woken`), so a job enqueued during a claim round
 * trip is never left waiting for the poll interval. The sleep is bounded by the time until the next job
 * becomes available, so delayed jobs and expired leases are picked up on time without fast polling.
 * @module
 */
import { coerceError } from "../errors.js";
import type { ClaimRequest, Store, StoredJob } from "../store/store.js";
import { Completer } from "./completer.js";
import type { ErrorReporter } from "./report.js";

export interface FetchLoopDeps {
  readonly store: Store;
  /** Completions to write with each claim. */
  readonly completer: Completer;
  /** What to claim now: one request per task with free slots (empty when all are busy). */
  requests(): ClaimRequest[];
  /** Takes claimed jobs; `grantedAt` is the local time just before the claim was sent (a safe lease start). */
  onClaimed(jobs: StoredJob[], grantedAt: number): void;
  /** The longest the loop sleeps without a wake-up. */
  pollInterval(): number;
  readonly report: ErrorReporter;
}

const ERROR_BACKOFF_MIN_MS = 100;
const ERROR_BACKOFF_MAX_MS = 5000;
/** Sleep when the store says a job is available but the claim got none (another process holds its lock). */
const CONTENDED_SLEEP_MS = 5;

export class FetchLoop {
  readonly #deps: FetchLoopDeps;
  #running: Promise<void> | undefined;
  #stopped = false;
  #woken = false;
  #wakeSleeper: (() => void) | undefined;

  constructor(deps: FetchLoopDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  /** Claim again as soon as possible. */
  wake(): void {
    this.#woken = true;
    this.#wakeSleeper?.();
  }

  /** Stops claiming; resolves once a claim in flight has returned (its jobs were handed over). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeSleeper?.();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let errorBackoff = ERROR_BACKOFF_MIN_MS;
    while (!this.#stopped) {
      // Let the jobs handed over in the last round run first: what they finish in this turn of the event
      // loop rides along in the next round trip instead of costing one of its own.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.#woken = false;
      const completions = this.#deps.completer.take();
      const requests = this.#deps.requests();
      if (requests.length === 0 && completions.length === 0) {
        await this.#sleep(Infinity); // a freed slot or a completion wakes us
        continue;
      }
      let sleepMs: number;
      try {
        const grantedAt = performance.now();
        let jobs: StoredJob[];
        try {
          const result = await this.#deps.store.completeAndClaim(completions.map((pending) => pending.item), requests);
          Completer.settle(completions, result.completed);
          jobs = result.claimed;
        } catch (error) {
          // The attempts retry their completions (and report the error themselves).
          Completer.fail(completions, error);
          throw error;
        }
        if (jobs.length > 0) this.#deps.onClaimed(jobs, grantedAt);
        errorBackoff = ERROR_BACKOFF_MIN_MS;
        if (this.#stopped) break;
        const claimedAll = requests.every((request) => jobs.filter((job) => job.name === request.name).length >= request.limit);
        if (claimedAll || this.#woken) continue; // there may be more waiting
        sleepMs = await this.#idleSleep(requests, jobs.length);
      } catch (thrown) {
        this.#deps.report(coerceError(thrown), { source: "claim" });
        sleepMs = errorBackoff;
        errorBackoff = Math.min(errorBackoff * 2, ERROR_BACKOFF_MAX_MS);
      }
      if (!this.#woken) await this.#sleep(sleepMs);
    }
  }

  /** How long to sleep after a claim that left slots free. */
  async #idleSleep(requests: ClaimRequest[], claimed: number): Promise<number> {
    const interval = this.#deps.pollInterval();
    const untilNext = await this.#deps.store.msUntilNextAvailable(requests.map((request) => request.name));
    if (untilNext === null) return interval;
    if (untilNext <= 0) return claimed > 0 ? 0 : CONTENDED_SLEEP_MS;
    // Wake a hair after the job is due, not before: timers may fire early by a millisecond.
    return Math.min(interval, untilNext + 1);
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeSleeper = () => {
        this.#wakeSleeper = undefined;
        done();
      };
    });
  }
}
