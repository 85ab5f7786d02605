/**
 * Retry delays.
 * @module
 */

/** The backoff policy of a task (all durations in ms). */
export interface BackoffPolicy {
  minDelay: number;
  maxDelay: number;
  delayFactor: number;
  /** Fraction (0..1) of the delay to randomise downwards, so retries of many jobs spread out. 0 = exact. */
  jitter: number;
}

/**
 * The delay before retrying after attempt `attempt` (1 = the first run) failed:
 * `clamp(minDelay · delayFactor^(attempt − 1), minDelay, maxDelay)`.
 *
 * The exponent is `attempt − 1` on purpose: the first retry waits exactly `minDelay`, the next
 * `minDelay · factor`, and so on. (axe used `attempt`, so its first retry waited `minDelay · factor` and
 * `minDelay` itself was never used.) With the defaults (1 s, 10 min, 2): 1 s, 2 s, 4 s, … 512 s, then 600 s.
 *
 * With `jitter` j > 0, the delay is multiplied by a random factor in (1 − j, 1], never going below
 * `minDelay`. `random` is injectable for tests.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const { minDelay, maxDelay, delayFactor, jitter } = policy;
  const exponent = Math.max(0, attempt - 1);
  // Float overflow gives Infinity, which the clamp turns into maxDelay.
  const raw = minDelay * delayFactor ** exponent;
  let delay = Math.min(Math.max(raw, minDelay), maxDelay);
  if (jitter > 0) delay = Math.max(minDelay, delay * (1 - jitter * random()));
  return Math.floor(delay);
}
