/**
 * The `ctx` a handler receives: its job, its signal, and the two writes it may make while it runs
 * (`extend`, `progress`). Both are fenced on the attempt; once the attempt no longer holds its lease
 * (lost, released at shutdown, cancelled) they reject with the reason its signal aborted with.
 * `extend` goes through the heartbeat, the one owner of lease arithmetic.
 * @module
 */
import { LeaseLostError } from "../errors.js";
import type { Store } from "../store/store.js";
import type { JobContext, RunningJob } from "../task.js";
import { checkDuration } from "../validate.js";
import { composeContext, type ComposeHost } from "./compose-context.js";
import type { Heartbeat, Lease } from "./heartbeat.js";

/** The attempt as its context sees it. */
export interface ContextHost {
  readonly lease: Lease;
  readonly signal: AbortSignal;
  /** Whether the attempt still holds its lease. */
  readonly live: boolean;
  /** A fenced write found the lease gone. */
  loseLease(error: LeaseLostError): void;
}

/** The context of the attempt `host` running `job` (its payload decoded and validated). */
export function createContext(
  host: ComposeHost, job: RunningJob<unknown>, deps: { store: Store; heartbeat: Heartbeat; maxPayloadBytes: number },
): JobContext<unknown> {
  const { id, attempt } = host.lease;
  const ensureLive = () => {
    if (host.live) return;
    const reason: unknown = host.signal.reason;
    throw reason instanceof Error ? reason : new LeaseLostError(id, attempt, "the attempt has ended");
  };
  return {
    job,
    // A getter: the attempt makes its AbortController only when a handler asks for the signal.
    get signal() {
      return host.signal;
    },
    extend: async (ms: number) => {
      checkDuration(ms, "ms", { min: 1 });
      ensureLive();
      // A lease found lost was reported by the heartbeat (the attempt's loseLease); then this rejects.
      if (!(await deps.heartbeat.extend(host.lease, ms))) ensureLive();
    },
    progress: async (value: number) => {
      if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError("progress must be a finite number");
      ensureLive();
      if (!(await deps.store.jobSetProgress({ id, attempt, progress: value }))) {
        host.loseLease(new LeaseLostError(id, attempt, "progress found the lease lost"));
        ensureLive();
      }
    },
    ...composeContext(host, ensureLive, deps),
  };
}
