import "./leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, TASK_DEFAULTS } from "../src/index.js";

const defaults = { minDelay: TASK_DEFAULTS.minDelay, maxDelay: TASK_DEFAULTS.maxDelay, delayFactor: TASK_DEFAULTS.delayFactor, jitter: 0 };

test("backoff: minDelay · factor^(attempt − 1), clamped; the first retry waits minDelay", () => {
  const seconds = Array.from({ length: 12 }, (_, i) => backoffDelay(defaults, i + 1) / 1000);
  assert.deepEqual(seconds, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
});

test("backoff: axe's table (1 s, 1 min, factor 2), shifted by one attempt", () => {
  const policy = { ...defaults, maxDelay: 60_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(policy, attempt) / 1000), [1, 2, 4, 8, 16, 32, 60, 60]);
});

test("backoff: factor 1 is constant, huge attempts do not overflow, minDelay ≥ maxDelay gives maxDelay", () => {
  assert.equal(backoffDelay({ ...defaults, delayFactor: 1 }, 50), 1000);
  assert.equal(backoffDelay(defaults, 1e6), 600_000);
  assert.equal(backoffDelay({ ...defaults, minDelay: 5000, maxDelay: 5000 }, 3), 5000);
  assert.equal(backoffDelay({ ...defaults, delayFactor: 1.5 }, 3), 2250);
});

test("backoff: jitter lowers the delay by up to the fraction, never below minDelay", () => {
  const policy = { ...defaults, jitter: 0.5 };
  assert.equal(backoffDelay(policy, 4, () => 0), 8000);
  assert.equal(backoffDelay(policy, 4, () => 0.999999), 4000);
  assert.equal(backoffDelay(policy, 1, () => 0.9), 1000);
});
