/**
 * `hewn/testing`: for the tests of applications that use hewn. A real queue on an in-memory database
 * whose clock the test moves, jobs that run when the test drains them, assertions on what was enqueued,
 * and a crash helper that proves a handler idempotent.
 * @packageDocumentation
 */
export { TestQueue, createTestQueue, type TestQueueOptions, type AdvanceOptions, type DrainOptions, type DrainResult, type CrashResult } from "./test-queue.js";
export { TestClock } from "./clock.js";
export type { CrashedAttempt } from "./crash.js";
export type { DeepPartial } from "./match.js";
