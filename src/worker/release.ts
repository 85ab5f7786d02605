/**
 * Handing jobs back. The attempts this process gives up are released in one fenced write per call
 * (`Store.jobRelease`), and announced, for one of two reasons:
 * - shutdown (`close`): buffered jobs that never started, then, after the grace period, running ones
 *   (their handlers' signals abort). Announced as `job:release`.
 * - isolation: a suspect needs the process to itself (isolation.ts), so jobs claimed but never started go
 *   back. Announced as `job:unclaim`.
 * - pause: a claim round found the task paused, so its jobs waiting in the local buffer go back (a pause
 *   stops jobs from starting, not only from being claimed). Announced as `job:unclaim`.
 * Either way the job keeps its place in line (the store puts `availableAt` back where it was when the job
 * was claimed), and a job that never started has its claim undone (its attempt is not counted). Each
 * attempt is released at most once (`Attempt.release` guards it), so none is announced twice.
 * @module
 */
import { coerceError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { ErrorReporter } from "../report.js";
import type { Store } from "../store/store.js";
import type { Attempt } from "./attempt.js";

export type ReleaseCause = "shutdown" | "isolation" | "pause";

const REASONS: Record<ReleaseCause, string> = {
  shutdown: "released: the worker shut down before the handler finished",
  isolation: "released unstarted: a job that crashed before had to run alone in this process",
  pause: "released unstarted: its task was paused",
};

export interface ReleasesDeps {
  readonly store: Store;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  /** The attempt is over (handed back, or its write failed and its lease will expire instead). */
  readonly onReleased: (attempt: Attempt) => void;
  /** A release write has landed (or failed). */
  readonly onLanded: () => void;
}

export class Releases {
  readonly #deps: ReleasesDeps;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(deps: ReleasesDeps) {
    this.#deps = deps;
  }

  /** Whether release writes are on their way to the store. */
  get inFlight(): boolean {
    return this.#inFlight.size > 0;
  }

  /** Resolves once no release write is on its way (the worker waits for this before the store closes). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Hands `attempts` back (those not already over) and aborts their handlers if running. */
  async release(attempts: Attempt[], cause: ReleaseCause): Promise<void> {
    const released = attempts.filter((attempt) => attempt.release());
    // Lost or cancelled while waiting to start: nothing to hand back, and they will never start.
    for (const attempt of attempts) if (!attempt.started && !attempt.live && !released.includes(attempt)) this.#deps.onReleased(attempt);
    if (released.length === 0) return;
    const writing = this.#write(released, cause).finally(() => {
      this.#inFlight.delete(writing);
      for (const attempt of released) this.#deps.onReleased(attempt);
      this.#deps.onLanded();
    });
    this.#inFlight.add(writing);
    await writing;
  }

  /** One fenced write for the attempts that never started (their claims undone), one for the others. */
  async #write(released: Attempt[], cause: ReleaseCause): Promise<void> {
    await Promise.all([
      this.#writeSome(released.filter((attempt) => !attempt.started), cause, true),
      this.#writeSome(released.filter((attempt) => attempt.started), cause, false),
    ]);
  }

  async #writeSome(attempts: Attempt[], cause: ReleaseCause, unstarted: boolean): Promise<void> {
    if (attempts.length === 0) return;
    const { store, events, report } = this.#deps;
    try {
      const ids = await store.jobRelease({
        items: attempts.map((attempt) => ({ id: attempt.job.id, attempt: attempt.attempt })),
        reason: REASONS[cause],
        unstarted,
      });
      const event = cause === "shutdown" ? "job:release" : "job:unclaim";
      for (const attempt of attempts) if (ids.has(attempt.job.id)) events.emit(event, { job: attempt.job });
    } catch (thrown) {
      // Not fatal: these jobs become claimable anyway once their leases expire.
      report(coerceError(thrown), { source: "release" });
    }
  }
}
