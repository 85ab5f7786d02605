/**
 * The enqueue options of unique jobs: `label`, `isolation`, `onDuplicate`, checked at the boundary.
 * @module
 */
import { ValidationError } from "../errors.js";
import { checkDuration, checkName, describe } from "../validate.js";

/** What a call does when a job with its name and label stands: keep it as it is (the default), or replace its data, delay and priority while it waits. */
export type OnDuplicate = "keep" | "replace";

const ON_DUPLICATE: readonly OnDuplicate[] = ["keep", "replace"];

/** The checked unique options of one job. */
export interface UniqueOptions {
  label: string | null;
  isolationMs: number;
  replace: boolean;
}

/**
 * Checks `label` (a string of 1..255 characters, as a task name), `isolation` (ms ≥ 0) and `onDuplicate`;
 * the last two need a label. `prefix` names the item in errors (`options.`, `items[3].`).
 */
export function checkUniqueOptions(item: { label?: unknown; isolation?: unknown; onDuplicate?: unknown }, prefix: string): UniqueOptions {
  const label = item.label === undefined ? null : checkName(item.label, `${prefix}label`);
  const isolationMs = item.isolation === undefined ? 0 : checkDuration(item.isolation, `${prefix}isolation`, { min: 0 });
  const onDuplicate = item.onDuplicate ?? "keep";
  if (!ON_DUPLICATE.includes(onDuplicate as OnDuplicate)) {
    throw new ValidationError(`${prefix}onDuplicate`, `must be "keep" or "replace", got ${typeof onDuplicate === "string" ? JSON.stringify(onDuplicate.slice(0, 50)) : describe(onDuplicate)}`);
  }
  if (label === null) {
    if (item.isolation !== undefined) throw new ValidationError(`${prefix}isolation`, "needs a label: it is how long a completed job with the label keeps standing");
    if (item.onDuplicate !== undefined) throw new ValidationError(`${prefix}onDuplicate`, "needs a label: duplicates are jobs with the same name and label");
  }
  return { label, isolationMs, replace: onDuplicate === "replace" };
}
