/**
 * Labelled items of one insert batch, folded per (name, label) before they reach the store.
 *
 * Two items of one batch with the same name and label are one job: the coalescing batcher puts
 * concurrent `enqueue` calls into one batch, and each call must get what it would have got alone (the
 * first stores the job, the others find it standing). Folding here also keeps each key to one row of a
 * statement, which PostgreSQL's `ON CONFLICT DO UPDATE` requires.
 * @module
 */
import type { NewJob, StoredJob } from "../store/store.js";

/** A batch folded per key: the items to store, and for each input item which of them is its job. */
export interface FoldedBatch {
  /** What to send to the store, one item per distinct (name, label); unlabelled items unchanged. */
  readonly items: NewJob[];
  /** `slot[i]`: the index in `items` of input item i's job. */
  readonly slot: number[];
}

/**
 * Folds items that share a name and label into the first of them. The last call wins for a
 * replacing item (`replace`): its data, delay and priority become the folded item's, and the folded
 * item replaces a standing job if any of its items asked to.
 */
export function foldByLabel(jobs: readonly NewJob[]): FoldedBatch {
  const items: NewJob[] = [];
  const slot: number[] = [];
  const byKey = new Map<string, number>();
  for (const job of jobs) {
    if (job.label === null) {
      slot.push(items.push(job) - 1);
      continue;
    }
    const key = `${job.name}\u0000${job.label}`;
    const seen = byKey.get(key);
    if (seen === undefined) {
      byKey.set(key, items.length);
      slot.push(items.push(job) - 1);
      continue;
    }
    slot.push(seen);
    const first = items[seen] as NewJob;
    if (job.replace === true) items[seen] = { ...first, data: job.data, delayMs: job.delayMs, priority: job.priority, replace: true };
  }
  return { items, slot };
}

/**
 * The result of every input item from the stored results of the folded items: the first item of a key
 * keeps the store's `duplicate` flag, the later ones are duplicates of it. Each item gets its own object.
 */
export function unfold(batch: FoldedBatch, stored: readonly StoredJob[]): StoredJob[] {
  const seen = new Set<number>();
  return batch.slot.map((index) => {
    const job = stored[index] as StoredJob;
    const first = !seen.has(index);
    seen.add(index);
    return { ...job, duplicate: first ? job.duplicate === true : true };
  });
}
