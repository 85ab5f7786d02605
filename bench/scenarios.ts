/**
 * The scenarios S1–S6: what is measured, how it is timed, and how exactly-once is checked. Adapters
 * (bench/adapters/) only translate calls; every measurement and check lives here.
 *
 * Each (scenario, system) pair runs as one "cell" with its own isolated places (fresh PostgreSQL
 * schemas, SQLite files or Redis prefixes), a deadline, and a cleanup list that the runner always
 * empties, even after a failure or a timeout.
 * @module
 */
import pg from "pg";
import { dropPlace, newPlace, range, type Adapter, type Place, type System } from "./adapter.js";
import { systemById } from "./adapters/index.js";
import { WorkerChild } from "./child.js";
import os from "node:os";
import path from "node:path";

export const SCENARIOS = ["S1", "S2", "S3", "S4", "S5", "S6"] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export const SCENARIO_TITLES: Record<ScenarioId, string> = {
  S1: "S1 — enqueue one at a time, awaited",
  S2: "S2 — bulk enqueue",
  S3: "S3 — drain pre-loaded jobs in one process",
  S4: "S4 — enqueue → handler-start latency, idle workers",
  S5: "S5 — two worker processes drain pre-loaded jobs",
  S6: "S6 — cost as work grows",
};

export interface Sizes {
  readonly quick: boolean;
  /** S1: sequential awaited enqueues. */
  readonly s1: number;
  /** S1: the parallel-vs-sequential comparison (Promise.all of this many, and this many one by one). */
  readonly burst: number;
  readonly s2: number;
  readonly s2Batch: number;
  /** S3 (and S6's drains): pre-loaded jobs, drained at each concurrency. */
  readonly s3: number;
  readonly concurrencies: readonly number[];
  readonly s4Ms: number;
  readonly s4PerSecond: number;
  readonly s4Workers: number;
  readonly s5: number;
  readonly s5Processes: number;
  readonly s5Concurrency: number;
  /** S6: rows already in the table (finished, or pending behind a long delay). */
  readonly s6Rows: number;
  /** S6: jobs the single worker process drains while its peak RSS is watched. */
  readonly s6Drain: number;
  /** Pre-loads go through enqueueMany in batches of this many (not timed). */
  readonly preloadBatch: number;
  /** Per cell (scenario × system). */
  readonly capMs: number;
  readonly s6CapMs: number;
  /** A drain is given up once it has run this long and its rate cannot finish before the cap. */
  readonly observeMs: number;
}

export const FULL: Sizes = {
  quick: false,
  s1: 5_000, burst: 1_000,
  s2: 50_000, s2Batch: 1_000,
  s3: 20_000, concurrencies: [10, 50],
  s4Ms: 10_000, s4PerSecond: 50, s4Workers: 10,
  s5: 20_000, s5Processes: 2, s5Concurrency: 10,
  s6Rows: 1_000_000, s6Drain: 1_000_000,
  preloadBatch: 5_000,
  capMs: 300_000, s6CapMs: 1_500_000, observeMs: 15_000,
};

/**
 * Scaled down to finish in under two minutes on 2 cores: a smoke test of every cell, not a measurement
 * to quote (S1's parallel comparison uses 200 + 200 enqueues here, 1,000 + 1,000 in full mode).
 */
export const QUICK: Sizes = {
  quick: true,
  s1: 200, burst: 200,
  s2: 2_000, s2Batch: 1_000,
  s3: 800, concurrencies: [10, 50],
  s4Ms: 2_000, s4PerSecond: 50, s4Workers: 10,
  s5: 800, s5Processes: 2, s5Concurrency: 10,
  s6Rows: 100_000, s6Drain: 5_000,
  preloadBatch: 5_000,
  capMs: 30_000, s6CapMs: 60_000, observeMs: 1_500,
};

/** The result of one scenario for one system. */
export interface Cell {
  scenario: ScenarioId;
  system: string;
  /** Named figures (jobs/s, ms, MB, ratios); see report.ts for their meaning. */
  metrics: Record<string, number>;
  /** Metrics measured over an incomplete run (timed out, or given up as too slow). */
  partial: string[];
  /** Why the cell did not finish, if it did not. */
  error?: string;
  /** Exactly-once checks that passed. */
  checks: string[];
  /** Exactly-once checks that FAILED: duplicates, missing or unknown jobs. */
  violations: string[];
  /** Background errors the system reported, and other remarks. */
  notes: string[];
  seconds: number;
  /** Wall time per step, in order (printed with HEWN_BENCH_DEBUG=1; tells where a cell's time goes). */
  phases: Array<[string, number]>;
}

// ---------------------------------------------------------------------------------------------------
// Exactly-once counting

/** Counts handler runs by job index (the payload's `i`), and when each job first started. */
export class Runs {
  readonly expected: number;
  readonly #counts: Uint16Array;
  readonly firstAt: Float64Array | undefined;
  distinct = 0;
  total = 0;
  unknown = 0;
  /** performance.now() of the latest first run. */
  lastAt = 0;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor(expected: number, options: { recordStarts?: boolean } = {}) {
    this.expected = expected;
    this.#counts = new Uint16Array(expected);
    this.firstAt = options.recordStarts ? new Float64Array(expected) : undefined;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
    if (expected === 0) this.#resolve();
  }

  /** The handler: called once per run with the job's index. */
  readonly hit = (index: number): void => {
    const now = performance.now();
    this.total += 1;
    if (!Number.isInteger(index) || index < 0 || index >= this.expected) {
      this.unknown += 1;
      return;
    }
    const count = this.#counts[index]!;
    if (count < 0xffff) this.#counts[index] = count + 1;
    if (count !== 0) return;
    this.distinct += 1;
    this.lastAt = now;
    if (this.firstAt) this.firstAt[index] = now;
    if (this.distinct === this.expected) this.#resolve();
  };

  /**
   * null when every job ran exactly once; otherwise what went wrong, with examples. With `allowMissing`
   * (a drain that was given up) only duplicates and unknown jobs count.
   */
  problem({ allowMissing = false } = {}): string | null {
    const twice: number[] = [];
    const never: number[] = [];
    let duplicates = 0;
    let missing = 0;
    for (let index = 0; index < this.expected; index++) {
      const count = this.#counts[index]!;
      if (count > 1) {
        duplicates += 1;
        if (twice.length < 5) twice.push(index);
      } else if (count === 0 && !allowMissing) {
        missing += 1;
        if (never.length < 5) never.push(index);
      }
    }
    if (duplicates === 0 && missing === 0 && this.unknown === 0) return null;
    const parts: string[] = [];
    if (duplicates > 0) parts.push(`${duplicates} job(s) ran more than once (e.g. ${twice.map((i) => `#${i}×${this.#counts[i]}`).join(", ")})`);
    if (missing > 0) parts.push(`${missing} job(s) never ran (e.g. ${never.map((i) => `#${i}`).join(", ")})`);
    if (this.unknown > 0) parts.push(`${this.unknown} run(s) of jobs that were never enqueued here`);
    return parts.join("; ");
  }
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL query counting (diagnostic): every query any pg.Client of this process sends.

let pgQueryCount = 0;
const probed = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown; __hewnBench?: true };
if (!probed.__hewnBench) {
  const original = probed.query;
  probed.query = function (this: unknown, ...args: unknown[]) {
    pgQueryCount += 1;
    return original.apply(this, args);
  };
  probed.__hewnBench = true;
}

// ---------------------------------------------------------------------------------------------------
// The context of one cell

/** How long a worker process may take to boot and open its system (node, tsx, the library, a migration). */
const READY_TIMEOUT_MS = 60_000;

/** Thrown when a drain is given up; the partial rate has been recorded already. */
export class Incomplete extends Error {}

export class Ctx {
  readonly system: System;
  readonly sizes: Sizes;
  readonly deadline: number;
  readonly cell: Cell;
  readonly #cleanups: Array<{ what: string; run: () => unknown }> = [];
  #lastPhase = performance.now();
  readonly #givenUp: string[] = [];

  constructor(system: System, sizes: Sizes, cell: Cell, capMs: number) {
    this.system = system;
    this.sizes = sizes;
    this.cell = cell;
    this.deadline = performance.now() + capMs;
  }

  metric(name: string, value: number): void {
    this.cell.metrics[name] = value;
  }

  /** Marks the end of a step (see Cell.phases). */
  phase(name: string): void {
    const now = performance.now();
    this.cell.phases.push([name, now - this.#lastPhase]);
    this.#lastPhase = now;
  }

  /** A fresh place, dropped at cleanup. */
  place(label: string): Place {
    const place = newPlace(this.system.store, `${this.system.id}_${label}`);
    this.#cleanups.push({ what: `drop ${place.name}`, run: () => dropPlace(place) });
    return place;
  }

  /** Opens `system` (default: the cell's) on `place`; closed at cleanup, its errors noted. */
  async open(place: Place, system: System = this.system): Promise<Adapter> {
    this.phase("before open");
    const adapter = await system.open(place);
    this.phase(`open ${system.id}`);
    this.#cleanups.push({
      what: `close ${system.id}`,
      run: async () => {
        await adapter.close();
        this.#noteErrors(system.id === this.system.id ? "" : `${system.id} (verifier): `, adapter.errors);
      },
    });
    return adapter;
  }

  spawn(place: Place, concurrency: number, label: string): WorkerChild {
    const runsFile = path.join(os.tmpdir(), `hewnbench-runs-${process.pid}-${label}-${Math.random().toString(36).slice(2)}.txt`);
    const child = new WorkerChild(this.system.id, { family: this.system.family, place, concurrency, runsFile });
    this.#cleanups.push({ what: `kill worker ${child.pid}`, run: () => child.kill() });
    return child;
  }

  /**
   * Records an exactly-once check: a pass in `checks`, a failure LOUDLY in `violations`. `partial`: the
   * drain was given up, so only "no job ran twice" can be checked.
   */
  verify(label: string, runs: Runs, partial = false): void {
    const problem = runs.problem({ allowMissing: partial });
    if (problem !== null) this.cell.violations.push(`${label}: ${problem}`);
    else if (partial) this.cell.checks.push(`${label}: no duplicates among the ${runs.distinct} of ${runs.expected} jobs that ran before it was given up`);
    else this.cell.checks.push(`${label}: ${runs.expected} jobs ran exactly once`);
  }

  /**
   * Runs `step`; if it gives up (Incomplete), runs `onGiveUp` (stop the workers, check what ran) and
   * remembers the reason instead of throwing, so the cell's other measurements still happen.
   * `finish()` then throws once with every reason.
   */
  async attempt(step: () => Promise<void>, onGiveUp: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (!(error instanceof Incomplete)) throw error;
      this.#givenUp.push(error.message);
      await withTimeout(onGiveUp(), 20_000, "stopping after giving up");
    }
  }

  finish(): void {
    if (this.#givenUp.length > 0) throw new Incomplete(this.#givenUp.join("; "));
  }

  remaining(): number {
    return this.deadline - performance.now();
  }

  assertTime(what: string): void {
    if (performance.now() > this.deadline) throw new Error(`timed out during ${what}`);
  }

  /** Runs (and forgets) every cleanup registered so far, newest first; each one bounded in time. */
  async cleanup(): Promise<void> {
    this.phase("work");
    while (this.#cleanups.length > 0) {
      const { what, run } = this.#cleanups.pop()!;
      try {
        await withTimeout(Promise.resolve().then(run), 20_000, what);
      } catch (error) {
        this.cell.notes.push(`cleanup "${what}" failed: ${message(error)}`);
      }
      this.phase(what.split(" ")[0]!);
    }
  }

  #noteErrors(prefix: string, errors: readonly string[]): void {
    if (errors.length === 0) return;
    const distinct = [...new Set(errors)];
    this.cell.notes.push(`${prefix}${errors.length} background error(s): ${distinct.slice(0, 3).map((e) => e.slice(0, 160)).join(" | ")}`);
  }

  /**
   * Waits until `progress()` reaches `expected`. Gives up at the deadline, or earlier once it has
   * watched for `observeMs` and the rate so far cannot finish in time; then the partial rate is
   * recorded as `metric` (if given) and Incomplete is thrown.
   */
  async waitFor(what: string, expected: number, progress: () => number, startedAt: number, metric?: string, check?: () => void): Promise<void> {
    for (;;) {
      check?.();
      const done = progress();
      if (done >= expected) return;
      const now = performance.now();
      const elapsed = now - startedAt;
      let reason: string | undefined;
      if (now > this.deadline) reason = "timed out";
      else if (elapsed > this.sizes.observeMs) {
        if (done === 0) reason = "no progress";
        else if (startedAt + (elapsed * expected) / done > this.deadline) reason = "too slow to finish within the cap";
      }
      if (reason) {
        const rate = (done / elapsed) * 1000;
        if (metric) {
          this.metric(metric, rate);
          this.cell.partial.push(metric);
        }
        throw new Incomplete(`${what}: ${reason}: ${done}/${expected} after ${(elapsed / 1000).toFixed(1)} s (≈${fmt(rate)} jobs/s)`);
      }
      await sleep(20);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Shared steps

/** Stores jobs `first … first + count − 1` through the bulk API, in batches (not timed). */
async function preload(ctx: Ctx, adapter: Adapter, first: number, count: number, delayMs?: number): Promise<void> {
  for (let offset = 0; offset < count; offset += ctx.sizes.preloadBatch) {
    ctx.assertTime("preload");
    await adapter.enqueueMany(range(first + offset, Math.min(ctx.sizes.preloadBatch, count - offset)), delayMs ? { delayMs } : {});
  }
  ctx.phase("preload");
}

/**
 * Drains `count` pre-loaded jobs in this process: jobs/s from startWorkers() until the last job's
 * handler started, recorded as `metric`; PostgreSQL queries per job as `${metric}.queries`, and the
 * bench process's CPU time over that window as a share of one core, `${metric}.cpu` (diagnostics).
 */
async function drain(ctx: Ctx, adapter: Adapter, count: number, concurrency: number, metric: string): Promise<void> {
  const runs = new Runs(count);
  const queriesBefore = pgQueryCount;
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  await adapter.startWorkers(concurrency, runs.hit);
  let complete = false;
  await ctx.attempt(
    async () => {
      await ctx.waitFor(`drain (${metric})`, count, () => runs.distinct, startedAt, metric);
      complete = true;
    },
    async () => {
      await adapter.stopWorkers();
      ctx.verify(metric, runs, true);
    },
  );
  if (!complete) return;
  const queries = pgQueryCount - queriesBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const elapsed = performance.now() - startedAt;
  ctx.metric(metric, (count / (runs.lastAt - startedAt)) * 1000);
  ctx.metric(`${metric}.cpu`, (cpu.user + cpu.system) / 1000 / elapsed);
  if (ctx.system.store === "postgres") ctx.metric(`${metric}.queries`, queries / count);
  ctx.phase(`drain ${metric}`);
  await adapter.stopWorkers();
  ctx.phase("stop workers");
  ctx.verify(metric, runs);
}

/**
 * The exactly-once check of the enqueue scenarios: drains what was stored (untimed, concurrency 50)
 * and counts every job's runs. Uses the system's `verifier` (a faster configuration of the same library)
 * when it names one.
 */
async function verifyByDraining(ctx: Ctx, place: Place, count: number, label: string): Promise<void> {
  const verifier = ctx.system.verifier ? systemById(ctx.system.verifier) : ctx.system;
  const adapter = await ctx.open(place, verifier);
  const runs = new Runs(count);
  const startedAt = performance.now();
  await adapter.startWorkers(50, runs.hit);
  const what = verifier === ctx.system ? label : `${label}, drained by ${verifier.id}`;
  let complete = false;
  await ctx.attempt(
    async () => {
      await ctx.waitFor(`exactly-once check (draining ${label})`, count, () => runs.distinct, startedAt);
      complete = true;
    },
    async () => {
      await adapter.stopWorkers();
      ctx.verify(what, runs, true);
    },
  );
  if (!complete) return;
  ctx.phase("verification drain");
  await adapter.stopWorkers();
  ctx.phase("stop workers");
  ctx.verify(what, runs);
}

// ---------------------------------------------------------------------------------------------------
// The scenarios

/** S1: awaited one-at-a-time enqueues; then Promise.all of `burst` enqueues vs `burst` sequential ones. */
async function s1(ctx: Ctx): Promise<void> {
  const place = ctx.place("s1");
  const adapter = await ctx.open(place);
  let next = 0;
  const sequential = async (count: number): Promise<number> => {
    const startedAt = performance.now();
    for (let k = 0; k < count; k++) {
      if (k % 100 === 0) ctx.assertTime("sequential enqueues");
      await adapter.enqueueOne(next++);
    }
    return (count / (performance.now() - startedAt)) * 1000;
  };
  const seq = await sequential(ctx.sizes.s1);
  ctx.metric("seq", seq);
  const seqBurst = ctx.sizes.s1 === ctx.sizes.burst ? seq : await sequential(ctx.sizes.burst);
  ctx.metric("burst.seq", seqBurst);
  const startedAt = performance.now();
  await Promise.all(range(next, ctx.sizes.burst).map((index) => adapter.enqueueOne(index)));
  next += ctx.sizes.burst;
  const parallel = (ctx.sizes.burst / (performance.now() - startedAt)) * 1000;
  ctx.metric("burst.par", parallel);
  ctx.metric("burst.speedup", parallel / seqBurst);
  await verifyByDraining(ctx, place, next, "all enqueued jobs");
}

/** S2: `s2` jobs through the bulk API, `s2Batch` per call, calls awaited one after another. */
async function s2(ctx: Ctx): Promise<void> {
  const place = ctx.place("s2");
  const adapter = await ctx.open(place);
  const { s2: count, s2Batch: batch } = ctx.sizes;
  const startedAt = performance.now();
  for (let first = 0; first < count; first += batch) {
    ctx.assertTime("bulk enqueues");
    await adapter.enqueueMany(range(first, Math.min(batch, count - first)));
  }
  ctx.metric("bulk", (count / (performance.now() - startedAt)) * 1000);
  await verifyByDraining(ctx, place, count, "all enqueued jobs");
}

/** S3: `s3` pre-loaded jobs drained in one process, once per concurrency, each on a fresh place. */
async function s3(ctx: Ctx): Promise<void> {
  for (const concurrency of ctx.sizes.concurrencies) {
    const place = ctx.place(`s3c${concurrency}`);
    const adapter = await ctx.open(place);
    await preload(ctx, adapter, 0, ctx.sizes.s3);
    await drain(ctx, adapter, ctx.sizes.s3, concurrency, `c${concurrency}`);
    await ctx.cleanup(); // close and drop now: the next concurrency starts on a clean database
  }
}

/**
 * S4: workers idle, then `s4PerSecond` enqueues per second for `s4Ms`, each fired on schedule without
 * waiting for the previous one. Latency = handler start − the moment just before the enqueue call,
 * both performance.now() in this process.
 */
async function s4(ctx: Ctx): Promise<void> {
  const place = ctx.place("s4");
  const adapter = await ctx.open(place);
  const { s4Ms, s4PerSecond, s4Workers } = ctx.sizes;
  const count = Math.round((s4Ms / 1000) * s4PerSecond);
  const interval = 1000 / s4PerSecond;
  const runs = new Runs(count, { recordStarts: true });
  await adapter.startWorkers(s4Workers, runs.hit);
  await sleep(300); // let the workers reach their idle wait (poll sleep, LISTEN, blocking pop)
  const sentAt = new Float64Array(count);
  const failures: string[] = [];
  const startedAt = performance.now() + interval;
  for (let k = 0; k < count; k++) {
    const due = startedAt + k * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt[k] = performance.now();
    adapter.enqueueOne(k).catch((error: unknown) => failures.push(message(error)));
  }
  let complete = false;
  await ctx.attempt(
    async () => {
      // A job whose enqueue failed was never stored: wait for the others (the failures fail the cell below).
      await ctx.waitFor("latency jobs", count, () => runs.distinct + failures.length, startedAt);
      complete = true;
    },
    async () => {
      await adapter.stopWorkers();
      ctx.verify("latency jobs", runs, true);
    },
  );
  const latencies: number[] = [];
  for (let k = 0; k < count; k++) if (runs.firstAt![k]! > 0) latencies.push(runs.firstAt![k]! - sentAt[k]!);
  latencies.sort((a, b) => a - b);
  if (latencies.length > 0) {
    ctx.metric("p50", percentile(latencies, 0.5));
    ctx.metric("p95", percentile(latencies, 0.95));
    ctx.metric("p99", percentile(latencies, 0.99));
    ctx.metric("max", latencies[latencies.length - 1]!);
    ctx.metric("n", latencies.length);
    if (!complete) ctx.cell.partial.push("p50", "p95", "p99", "max");
  }
  if (failures.length > 0) throw new Error(`${failures.length} enqueue(s) failed: ${failures[0]}`);
  if (!complete) return;
  await adapter.stopWorkers();
  ctx.verify("latency jobs", runs);
}

/**
 * Stops worker processes gracefully, reads which jobs each ran, and checks exactly-once across them
 * (only "no duplicates" when the drain was given up).
 */
async function collect(ctx: Ctx, children: WorkerChild[], count: number, label: string, partial: boolean): Promise<void> {
  const reports = await Promise.all(children.map((child) => child.stop()));
  ctx.phase("stop processes");
  const runs = new Runs(count);
  for (const child of children) for (const index of child.readRuns()) runs.hit(index);
  if (children.length > 1) ctx.cell.notes.push(`split between processes: ${reports.map((report) => report.runs).join(" / ")}`);
  for (const report of reports) if (report.errors.length > 0) ctx.cell.notes.push(`worker process errors: ${report.errors.slice(0, 3).join(" | ")}`);
  ctx.verify(label, runs, partial);
}

/**
 * S5: `s5` pre-loaded jobs drained by `s5Processes` worker processes. Timed from the moment the
 * parent tells the (already connected) processes to start, to the last handler start in any of them.
 */
async function s5(ctx: Ctx): Promise<void> {
  const place = ctx.place("s5");
  const adapter = await ctx.open(place);
  const count = ctx.sizes.s5;
  // The processes boot (node + tsx + the library) while the jobs are pre-loaded; they only open the system.
  const children = range(0, ctx.sizes.s5Processes).map((k) => ctx.spawn(place, ctx.sizes.s5Concurrency, `s5-${k}`));
  await preload(ctx, adapter, 0, count);
  await withTimeout(Promise.all(children.map((child) => child.ready())), READY_TIMEOUT_MS, "worker processes to start");
  ctx.phase("processes ready");
  const startedAt = performance.now();
  const startedEpoch = performance.timeOrigin + startedAt;
  for (const child of children) child.go();
  const progress = () => children.reduce((sum, child) => sum + child.runs, 0);
  const check = () => children.forEach((child) => child.check());
  let complete = false;
  await ctx.attempt(
    async () => {
      await ctx.waitFor("two-process drain", count, progress, startedAt, "jobs/s", check);
      complete = true;
    },
    () => collect(ctx, children, count, "two-process drain", true),
  );
  if (!complete) return;
  const endEpoch = Math.max(...children.map((child) => child.lastAt));
  ctx.metric("jobs/s", (count / (endEpoch - startedEpoch)) * 1000);
  ctx.phase("drain");
  await collect(ctx, children, count, "two-process drain", false);
}

/**
 * S6 (systems with a fast preload only): S3 at concurrency 10 on an empty table, then with `s6Rows`
 * finished jobs already in it, then with `s6Rows` pending jobs due in a day; and the peak RSS of one
 * worker process draining `s6Drain` jobs.
 */
async function s6(ctx: Ctx): Promise<void> {
  const { system, sizes } = ctx;
  const load = system.preload?.bind(system);
  if (!load) throw new Error("no fast preload for this system (S6 runs only where the adapter provides one)");
  const count = sizes.s3;
  const timed = async (what: string, step: () => Promise<void>) => {
    const startedAt = performance.now();
    await step();
    ctx.cell.notes.push(`${what} in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  };

  for (const kind of ["empty", "finished", "delayed"] as const) {
    const place = ctx.place(`s6${kind}`);
    const adapter = await ctx.open(place);
    if (kind !== "empty") await timed(`raw preload of ${sizes.s6Rows} ${kind} rows`, () => load(place, kind, count, sizes.s6Rows));
    await preload(ctx, adapter, 0, count);
    await drain(ctx, adapter, count, 10, kind);
    await ctx.cleanup();
  }
  const { empty, finished, delayed } = ctx.cell.metrics;
  const whole = (key: string) => ctx.cell.metrics[key] !== undefined && !ctx.cell.partial.includes(key);
  if (whole("empty") && whole("finished")) ctx.metric("finished.ratio", finished! / empty!);
  if (whole("empty") && whole("delayed")) ctx.metric("delayed.ratio", delayed! / empty!);

  const place = ctx.place("s6rss");
  await ctx.open(place); // creates the schema / file; stays idle
  const drainCount = sizes.s6Drain;
  await timed(`raw preload of ${drainCount} ready rows`, () => load(place, "ready", 0, drainCount));
  const child = ctx.spawn(place, 10, "s6");
  await withTimeout(child.ready(), READY_TIMEOUT_MS, "worker process to start");
  ctx.metric("rss.idle", child.readyRss / 2 ** 20);
  const startedAt = performance.now();
  const startedEpoch = performance.timeOrigin + startedAt;
  child.go();
  let complete = false;
  await ctx.attempt(
    async () => {
      const milestones = [25, 50, 75];
      const progress = () => {
        // RSS as the drain passes each milestone: a plateau (GC headroom) or steady growth (a leak)?
        while (milestones.length > 0 && child.runs >= (drainCount * milestones[0]!) / 100) {
          ctx.metric(`rss.at${milestones.shift()}`, child.rss / 2 ** 20);
        }
        return child.runs;
      };
      await ctx.waitFor("single-process drain", drainCount, progress, startedAt, "rss.jobs/s", () => child.check());
      complete = true;
    },
    () => collect(ctx, [child], drainCount, `single-process drain of ${drainCount}`, true),
  );
  ctx.metric("rss.peak", child.peakRss / 2 ** 20);
  if (!complete) {
    ctx.cell.partial.push("rss.peak");
    return;
  }
  ctx.metric("rss.jobs/s", (drainCount / (child.lastAt - startedEpoch)) * 1000);
  await collect(ctx, [child], drainCount, `single-process drain of ${drainCount}`, false);
  ctx.metric("rss.peak", child.peakRss / 2 ** 20);
  if (child.vmHwm !== null) ctx.metric("rss.hwm", child.vmHwm / 2 ** 20);
}

export const RUNNERS: Record<ScenarioId, (ctx: Ctx) => Promise<void>> = { S1: s1, S2: s2, S3: s3, S4: s4, S5: s5, S6: s6 };

/** Whether `system` takes part in `scenario` (S6 needs a fast preload). */
export function applies(scenario: ScenarioId, system: System): boolean {
  return scenario !== "S6" || system.preload !== undefined;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${(ms / 1000).toFixed(0)} s waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function percentile(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value >= 100) return Math.round(value).toLocaleString("en-US");
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
