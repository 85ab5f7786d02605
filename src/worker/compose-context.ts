/**
 * The parts of `ctx` that compose jobs: `parents()` (the results of the jobs this one ran after),
 * `checkpoint(state)` (a fenced write of resumable state) and `transaction(fn)` (the handler's writes and
 * the job's fenced completion in one transaction of the store's own database).
 *
 * After `transaction` commits, the attempt is over as far as the store is concerned: the attempt is told
 * (`committed`) so that it writes no other outcome, stops renewing the lease, and announces the
 * completion once the handler returns (whatever the handler returns or throws from then on is ignored).
 * @module
 */
import { LeaseLostError, ValidationError } from "../errors.js";
import type { Json } from "../job.js";
import type { Store, StoredJob } from "../store/store.js";
import type { JobContext } from "../task.js";
import { serializeJson } from "../validate.js";
import type { ContextHost } from "./context.js";
import { toPublicJob } from "../store/row.js";

/** The attempt as these calls see it. */
export interface ComposeHost extends ContextHost {
  /** `ctx.transaction` committed the job's completion, with `result` (what `fn` returned). */
  committed(job: StoredJob, result: unknown): void;
}

type ComposeCalls = Pick<JobContext<unknown>, "parents" | "checkpoint" | "transaction">;

/** `ensureLive` throws the reason the attempt ended, if it has. */
export function composeContext(
  host: ComposeHost,
  ensureLive: () => void,
  deps: { store: Store; maxPayloadBytes: number },
): ComposeCalls {
  const { store, maxPayloadBytes } = deps;
  const { id, attempt } = host.lease;
  const lost = (detail: string): never => {
    host.loseLease(new LeaseLostError(id, attempt, detail));
    ensureLive();
    throw new LeaseLostError(id, attempt, detail);
  };
  return {
    parents: async <Result = Json>() => (await store.jobParents({ id })).map((row) => toPublicJob<Json, Result>(row)),

    checkpoint: async (state: unknown) => {
      const text = serializeJson(state, "state", maxPayloadBytes);
      ensureLive();
      if (!(await store.jobSetCheckpoint({ id, attempt, checkpoint: text }))) lost("checkpoint found the lease lost");
    },

    transaction: async <T, Tx>(fn: (tx: Tx) => T | Promise<T>): Promise<T> => {
      if (typeof fn !== "function") throw new ValidationError("fn", "must be a function");
      ensureLive();
      const { value, job } = await store.jobTransaction<T>({
        ref: { id, attempt },
        fn: (tx) => fn(tx as Tx),
        result: (returned) => serializeJson(returned === undefined ? null : returned, "result", maxPayloadBytes),
      });
      if (!job) return lost("the transaction's fenced completion found the lease lost; everything in it was rolled back");
      host.committed(job, value);
      return value;
    },
  };
}

