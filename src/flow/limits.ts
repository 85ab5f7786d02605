/**
 * Flow-control options of a task: how many of its jobs may run at once across every process
 * (`concurrency`), how many of one group (`groupConcurrency`), and how many may start per sliding window
 * (`rateLimit`). Here they are checked and resolved; the stores enforce them inside their claim
 * transaction (see docs/flow-control.md), counting running jobs from live leases.
 * @module
 */
import { ValidationError } from "../errors.js";
import { checkInteger, checkKnownKeys, checkName, checkOptionsObject, describe } from "../validate.js";

/** At most `limit` jobs start in any sliding window of `per` ms. */
export interface RateLimit {
  /** Starts allowed per window: a positive integer. */
  limit: number;
  /** The window, in ms: an integer of at least 10. */
  per: number;
  /** Count each group's starts apart (a window per group) instead of the task's together. Default false. */
  byGroup?: boolean;
}

/** A task's resolved limits; absent fields are unlimited. Internal. */
export interface FlowLimits {
  readonly concurrency?: number;
  readonly groupConcurrency?: number;
  readonly rateLimit?: Required<RateLimit>;
}

/** Largest value accepted for a limit: far beyond any real use, still an int4 everywhere. */
const MAX_LIMIT = 1_000_000;
/** Shortest rate window: below it, clock resolution and claim latency would dominate. */
export const MIN_RATE_WINDOW_MS = 10;
/** Longest rate window: one day (starts are kept that long). */
export const MAX_RATE_WINDOW_MS = 24 * 3600 * 1000;

/** The flow-control option keys of `TaskOptions`. */
export const FLOW_OPTION_KEYS = ["concurrency", "groupConcurrency", "rateLimit"] as const;

/**
 * Checks the flow-control options of a task definition. Returns undefined when none is set: the task is
 * unlimited and keeps the plain claim path.
 * @throws ValidationError naming the option.
 */
export function resolveFlow(given: { concurrency?: unknown; groupConcurrency?: unknown; rateLimit?: unknown }): FlowLimits | undefined {
  const concurrency = given.concurrency === undefined
    ? undefined : checkInteger(given.concurrency, "taskOptions.concurrency", 1, MAX_LIMIT);
  const groupConcurrency = given.groupConcurrency === undefined
    ? undefined : checkInteger(given.groupConcurrency, "taskOptions.groupConcurrency", 1, MAX_LIMIT);
  const rateLimit = given.rateLimit === undefined ? undefined : checkRateLimit(given.rateLimit);
  if (concurrency === undefined && groupConcurrency === undefined && rateLimit === undefined) return undefined;
  return {
    ...(concurrency !== undefined && { concurrency }),
    ...(groupConcurrency !== undefined && { groupConcurrency }),
    ...(rateLimit !== undefined && { rateLimit }),
  };
}

function checkRateLimit(value: unknown): Required<RateLimit> {
  const field = "taskOptions.rateLimit";
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(field, `must be an object { limit, per, byGroup? }, got ${describe(value)}`);
  }
  const given = checkOptionsObject(value as Partial<RateLimit>, field);
  checkKnownKeys(given, ["limit", "per", "byGroup"], field);
  if (given.limit === undefined) throw new ValidationError(`${field}.limit`, "is required");
  if (given.per === undefined) throw new ValidationError(`${field}.per`, "is required");
  const limit = checkInteger(given.limit, `${field}.limit`, 1, MAX_LIMIT);
  const per = checkInteger(given.per, `${field}.per`, MIN_RATE_WINDOW_MS, MAX_RATE_WINDOW_MS);
  if (given.byGroup !== undefined && typeof given.byGroup !== "boolean") {
    throw new ValidationError(`${field}.byGroup`, `must be a boolean, got ${describe(given.byGroup)}`);
  }
  return { limit, per, byGroup: given.byGroup ?? false };
}

/** The `group` enqueue option: a non-empty string of at most 255 characters (no control characters). */
export function checkGroup(value: unknown, field: string): string {
  return checkName(value, field);
}
