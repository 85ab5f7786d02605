/**
 * Which jobs an operator means: the filter of `list`, and of bulk operations such as `cancel(filter)`.
 * Checked here, at the boundary, into the store's listing parameters.
 * @module
 */
import { ValidationError } from "./errors.js";
import { JOB_STATUSES, type JobStatus } from "./job.js";
import type { ListParams } from "./store/store.js";
import { checkName, describe } from "./validate.js";

/** Jobs matching every criterion given. */
export interface JobFilter {
  /** Jobs of this task. */
  name?: string;
  /** Jobs in this status, or in any of these. */
  status?: JobStatus | readonly JobStatus[];
  /** Jobs with this label. */
  label?: string;
  /** Jobs of this flow-control group (the `group` enqueue option). */
  group?: string;
  /** Jobs created at or after this time. */
  createdFrom?: Date;
  /** Jobs created before this time. */
  createdBefore?: Date;
}

/** The keys of {@link JobFilter}, for option checks. */
export const FILTER_KEYS = ["name", "status", "label", "group", "createdFrom", "createdBefore"] as const;

/** Longest label accepted in a filter (longer matches nothing anyway). */
const MAX_LABEL_LENGTH = 10_000;

/** The store's form of a filter; `field` prefixes the names in errors (e.g. `"options"`, `"filter"`). */
export function checkFilter(given: Partial<JobFilter>, field: string): Omit<ListParams, "limit"> {
  const params: Omit<ListParams, "limit"> = {};
  if (given.name !== undefined) params.name = checkName(given.name, `${field}.name`);
  if (given.status !== undefined) {
    const statuses = typeof given.status === "string" ? [given.status] : given.status;
    if (!Array.isArray(statuses)) throw new ValidationError(`${field}.status`, `must be a status or an array of statuses, got ${describe(given.status)}`);
    for (const status of statuses as unknown[]) {
      if (!JOB_STATUSES.includes(status as JobStatus)) {
        throw new ValidationError(`${field}.status`, `must be one of ${JOB_STATUSES.join(", ")}, got ${JSON.stringify(status)}`);
      }
    }
    if (typeof given.status === "string") params.status = given.status;
    else params.statuses = [...new Set(statuses)];
  }
  for (const key of ["label", "group"] as const) {
    const value: unknown = given[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length > MAX_LABEL_LENGTH) {
      throw new ValidationError(`${field}.${key}`, `must be a string of at most ${MAX_LABEL_LENGTH} characters, got ${describe(value)}`);
    }
    params[key] = value;
  }
  for (const key of ["createdFrom", "createdBefore"] as const) {
    const value: unknown = given[key];
    if (value === undefined) continue;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new ValidationError(`${field}.${key}`, `must be a valid Date, got ${describe(value)}`);
    params[key] = value;
  }
  return params;
}

/** Whether a filter restricts anything (a bulk operation refuses an empty one: it would mean every job). */
export function isEmptyFilter(params: Omit<ListParams, "limit">): boolean {
  return FILTER_KEYS.every((key) => (key === "status" ? params.status === undefined && params.statuses === undefined : params[key] === undefined));
}
