/**
 * What every scenario does around its faults: a fresh location and scratch directory, a queue in the test
 * process (to enqueue and observe), cleanup in t.after, and the shared invariant check at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { Queue, type Job, type QueueOptions } from "../../../src/index.js";
import type { StoreHarness, TestLocation } from "../../harness/harness.js";
import { postgresHarness } from "../../harness/postgres.js";
import { sqliteHarness } from "../../harness/sqlite.js";
import { taskName } from "../../helpers.js";
import { assertClean, check, jobsOf, type CheckSummary, type Expectation } from "./checker.js";
import type { Cluster } from "./cluster.js";
import { readEffects, readErrors } from "./effects.js";

export interface Store {
  harness: StoreHarness;
  kind: "sqlite" | "postgres";
  /** Why the store's scenarios are skipped here, or false. */
  skip: string | false;
}

/** The stores to run a scenario on, with their skip reasons (PostgreSQL missing outside CI). */
export async function stores(kinds: Array<"sqlite" | "postgres"> = ["sqlite", "postgres"]): Promise<Store[]> {
  const result: Store[] = [];
  const only = process.env.HEWN_FAULTS_STORES?.split(",");
  for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
    if (!kinds.includes(harness.kind) || (only && !only.includes(harness.kind))) continue;
    result.push({ harness, kind: harness.kind, skip: (await harness.skipReason()) ?? false });
  }
  return result;
}

export interface Scenario {
  loc: TestLocation;
  kind: "sqlite" | "postgres";
  /** Scratch directory for the processes' records; removed after the test. */
  dir: string;
  /** A queue in the test process, to enqueue and read. */
  queue: Queue;
  /** The task the scenario's jobs belong to. */
  name: string;
  started: number;
}

export async function prepare(t: TestContext, store: Store, prefix: string, options: QueueOptions = {}): Promise<Scenario> {
  const loc = await store.harness.fresh();
  const dir = mkdtempSync(path.join(os.tmpdir(), `hewn-faults-${prefix}-`));
  const queue = await Queue.open(loc.url, {
    ...loc.queueOptions,
    // The test process only enqueues and reads; what it meets is printed, not fatal (a restart cuts it too).
    onError: (error, context) => process.stderr.write(`test queue: ${context.source}: ${error.message}\n`),
    ...options,
  });
  t.after(async () => {
    await queue.close({ grace: 0 }).catch(() => undefined);
    await loc.drop().catch((error: unknown) => process.stderr.write(`drop failed: ${String(error)}\n`));
    if (process.env.HEWN_FAULTS_KEEP) process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return { loc, kind: store.kind, dir, queue, name: taskName(prefix), started: performance.now() };
}

/** Enqueues `items` in chunks; returns the ids in order. */
export async function enqueueAll(queue: Queue, name: string, data: unknown[], chunk = 1000): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < data.length; i += chunk) {
    const jobs = await queue.enqueueMany(data.slice(i, i + chunk).map((d) => ({ name, data: d as never })));
    ids.push(...jobs.map((job) => job.id));
  }
  return ids;
}

export interface Verify {
  ids: readonly string[];
  cluster?: Cluster;
  /** Pids that died without closing, besides the cluster's. */
  crashedPids?: Iterable<number>;
  expect?: (job: Job) => Expectation;
  maxCrashes?: number;
  /** Return the violations in the summary instead of throwing (the caller records results first). */
  soft?: boolean;
}

/** Runs the shared invariant check on the scenario's final state; throws on any violation unless `soft`. */
export async function verify(s: Scenario, what: string, options: Verify): Promise<{ summary: CheckSummary; jobs: Map<string, Job> }> {
  const jobs = await jobsOf(s.queue, s.name);
  const { records } = readEffects(s.dir);
  const errors = readErrors(s.dir);
  const crashedPids = new Set([...(options.cluster?.crashedPids ?? []), ...(options.crashedPids ?? [])]);
  const summary = check({
    ids: options.ids,
    jobs,
    effects: records,
    errors,
    crashedPids,
    ...(options.expect && { expect: options.expect }),
    ...(options.maxCrashes !== undefined && { maxCrashes: options.maxCrashes }),
  });
  if (!options.soft) assertClean(summary, what);
  return { summary, jobs };
}

export function seconds(s: Scenario): number {
  return Math.round((performance.now() - s.started) / 100) / 10;
}

export function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}
