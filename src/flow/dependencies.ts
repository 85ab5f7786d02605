/**
 * A job's place in a dependency graph (`after`): the jobs it runs after (parents) and the jobs that run
 * after it (children), for operators (`queue.dependencies`, the dashboard's job page, `hewn show`).
 * @module
 */
import { checkId } from "../admin.js";
import { JobNotFoundError } from "../errors.js";
import type { Job } from "../job.js";
import type { Store } from "../store/store.js";
import { toPublicJob } from "../store/row.js";

/** What {@link Queue.dependencies} resolves with: both sides of one job's edges, each in id order. */
export interface JobDependencies {
  /** The jobs this one runs after (parents deleted by retention are missing). */
  parents: Job[];
  /** The jobs that run after this one. */
  children: Job[];
}

/** Reads both sides of `id`'s edges. Throws `JobNotFoundError` for an id with no job. */
export async function jobDependencies(store: Store, id: string): Promise<JobDependencies> {
  const checked = checkId(id);
  const [job, parents, children] = await Promise.all([
    store.jobGet({ id: checked }), store.jobParents({ id: checked }), store.jobChildren({ id: checked }),
  ]);
  if (!job) throw new JobNotFoundError(checked);
  return { parents: parents.map((row) => toPublicJob(row)), children: children.map((row) => toPublicJob(row)) };
}
