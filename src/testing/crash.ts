/**
 * The first half of `TestQueue.crash`: one attempt of a job whose worker dies after the handler ran (its
 * side effects are done) and before the outcome write. The job is claimed exactly as a worker claims it
 * (attempt counted, leased), the handler runs with a context like a worker's, and then nothing is
 * written: the job stays `dequeued` under a lease no one renews, as a dead process leaves it.
 * @module
 */
import { LeaseLostError, ValidationError, coerceError } from "../errors.js";
import type { QueueInternals } from "../internals.js";
import type { Job } from "../job.js";
import type { JobContext } from "../task.js";
import { composeContext } from "../worker/compose-context.js";

/** What the attempt that "died" did before it died. */
export type CrashedAttempt =
  | { readonly job: Job; readonly returned: unknown; readonly threw?: undefined }
  | { readonly job: Job; readonly returned?: undefined; readonly threw: Error };

/** Claims the next due job of task `name` and runs its handler without writing any outcome. */
export async function runAndDie(internals: QueueInternals, name: string): Promise<CrashedAttempt> {
  const { store, tasks } = internals;
  const task = tasks.get(name);
  if (task === undefined) throw new ValidationError("name", `no task "${name}" is defined on this queue`);
  const { claimed: [stored] } = await store.jobClaim({ requests: [{ name, limit: 1, leaseMs: task.timeout }] });
  if (stored === undefined) throw new ValidationError("name", `no job of task "${name}" is due (enqueue one, or advance the clock)`);
  const { dataError, ...job } = stored;
  const { id, attempts: attempt } = job;
  const lost = () => new LeaseLostError(id, attempt, "the lease was lost");
  const controller = new AbortController();
  const ctx: JobContext<unknown> = {
    job: { ...job, attempt },
    signal: controller.signal,
    extend: async (ms) => {
      if (!(await store.jobExtendLeases({ items: [{ id, attempt, leaseMs: ms }] })).has(id)) throw lost();
    },
    progress: async (value) => {
      if (!(await store.jobSetProgress({ id, attempt, progress: value }))) throw lost();
    },
    // parents, checkpoint and transaction as a worker's (a transaction commits: the death comes after it).
    ...composeContext({
      lease: { id, attempt, leaseMs: task.timeout }, signal: controller.signal, live: true,
      loseLease: (error) => controller.abort(error), committed: () => undefined,
    }, () => undefined, internals),
  };
  try {
    if (dataError !== undefined) throw new Error(`payload could not be decoded: ${dataError}`);
    const data = task.validate ? task.validate(job.data) : job.data;
    const returned = await task.handler({ ...ctx, job: { ...ctx.job, data } });
    return { job, returned };
  } catch (error) {
    return { job, threw: coerceError(error) };
  } finally {
    // The process is gone: whatever the handler left listening on its signal hears it end.
    controller.abort(new LeaseLostError(id, attempt, "the worker died (hewn/testing crash)"));
  }
}
