/**
 * Dependencies as the caller declares them: `enqueue(name, data, { after: [id, …] })`, and in
 * `enqueueMany` items that refer to other items of the same call by index. Checked here before anything
 * is stored: the shape, indexes in range, and no cycles (a cycle could never start). Whether the ids
 * exist, and whether a parent was cancelled, only the store can say, inside the insert's transaction;
 * what it then decides from their statuses is here too (`checkParents`, `parentEdges`), once for every
 * store and path.
 * @module
 */
import { ValidationError } from "../errors.js";
import type { JobStatus } from "../job.js";
import type { NewJob, StoredJob } from "../store/store.js";
import { describe } from "../validate.js";
import { checkId } from "../admin.js";

/** Most parents one job may have: the edges are written with the job, in its insert. */
export const MAX_PARENTS = 1_000;

/**
 * A job's `after`: job ids (strings), and in `enqueueMany` (`batchSize` given) numbers naming items of
 * the same call by index. Elsewhere a number is an id, as everywhere else in the API.
 */
export function checkAfter(value: unknown, field: string, batch?: { size: number; self: number }): NonNullable<NewJob["after"]> {
  if (!Array.isArray(value)) throw new ValidationError(field, `must be an array of job ids${batch ? " or item indexes" : ""}, got ${describe(value)}`);
  if (value.length > MAX_PARENTS) throw new ValidationError(field, `must name at most ${MAX_PARENTS} jobs, got ${value.length}`);
  const ids = new Set<string>();
  const indexes = new Set<number>();
  value.forEach((entry: unknown, i) => {
    const at = `${field}[${i}]`;
    if (batch && typeof entry === "number") {
      if (!Number.isInteger(entry) || entry < 0 || entry >= batch.size) {
        throw new ValidationError(at, `must be the index of an item of this call (0..${batch.size - 1}), got ${entry}`);
      }
      if (entry === batch.self) throw new ValidationError(at, "names the item itself: a job cannot run after itself");
      indexes.add(entry);
    } else {
      ids.add(checkId(entry, at));
    }
  });
  return { ids: [...ids], indexes: [...indexes] };
}

/** Refuses a cycle among the items of one `enqueueMany` call (they would wait for each other forever). */
export function checkNoCycle(jobs: readonly NewJob[]): void {
  // 0 = not seen, 1 = on the current path, 2 = done. Iterative, so a long chain cannot overflow the stack.
  const state = new Uint8Array(jobs.length);
  for (let root = 0; root < jobs.length; root++) {
    if (state[root] !== 0) continue;
    const stack: Array<{ node: number; next: number }> = [{ node: root, next: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: number; next: number };
      const parents = jobs[top.node]?.after?.indexes ?? [];
      if (top.next >= parents.length) {
        state[top.node] = 2;
        stack.pop();
        continue;
      }
      const parent = parents[top.next++] as number;
      if (state[parent] === 1) {
        throw new ValidationError(`items[${top.node}].after`, `makes a cycle (items ${[...stack.map((s) => s.node), parent].join(" → ")}): none of them could ever run`);
      }
      if (state[parent] === 0) {
        state[parent] = 1;
        stack.push({ node: parent, next: 0 });
      }
    }
  }
}

/**
 * Refuses parents named by id that do not exist or were cancelled (a job after them could never run).
 * `statusOf` is the store's reading, under the lock its insert holds; undefined for an unknown id.
 */
export function checkParents(ids: Iterable<string>, statusOf: (id: string) => JobStatus | undefined): void {
  for (const id of ids) {
    const status = statusOf(id);
    if (status === undefined) throw new ValidationError("after", `no job has the id ${JSON.stringify(id.slice(0, 100))}`);
    if (status === "cancelled") throw new ValidationError("after", `job ${id} is cancelled, so a job after it could never run`);
  }
}

/** The dependency edges of a batch just stored, and the parents each child still waits for. */
export interface ParentEdges {
  /** child → parent pairs, at the same index. */
  children: string[];
  parents: string[];
  /** Per child with parents still to complete: how many. */
  waiting: Map<string, number>;
}

/**
 * The edges of a batch just stored (`stored[i]` is input item i's job): one per distinct parent of each
 * child. A duplicate item stored nothing, so it gets none (the standing job keeps its own). A parent named
 * by index may itself be a duplicate whose standing job completed already, so its stored status counts,
 * as `statusOf` does for a parent named by id.
 */
export function parentEdges(
  jobs: readonly NewJob[], stored: ReadonlyArray<Pick<StoredJob, "id" | "status" | "duplicate">>,
  statusOf: (id: string) => JobStatus | undefined,
): ParentEdges {
  const edges: ParentEdges = { children: [], parents: [], waiting: new Map() };
  jobs.forEach((job, index) => {
    const child = stored[index];
    if (!job.after || child === undefined || child.duplicate === true) return;
    const parents = new Map<string, JobStatus | undefined>();
    for (const i of job.after.indexes) parents.set(stored[i]?.id ?? "", stored[i]?.status);
    for (const id of job.after.ids) parents.set(id, statusOf(id));
    let count = 0;
    for (const [parent, status] of parents) {
      edges.children.push(child.id);
      edges.parents.push(parent);
      if (status !== "completed") count++;
    }
    if (count > 0) edges.waiting.set(child.id, count);
  });
  return edges;
}
