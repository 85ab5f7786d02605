/**
 * What a claim costs for a task with flow limits against an unlimited one, per store: the time of one
 * `Store.jobClaim` call (one job, as a worker with one free slot asks), median over many calls, on a
 * backlog of ready jobs. Not part of `npm run bench` (which compares hewn with its peers); run it alone:
 *
 *   node --import tsx bench/flow-claim-cost.ts [--jobs 10000] [--claims 400]
 *
 * Prints one line per store and case. docs/flow-control.md quotes its output.
 */
import { parseArgs } from "node:util";
import { postgresHarness } from "../test/harness/postgres.js";
import { sqliteHarness } from "../test/harness/sqlite.js";
import type { StoreHarness } from "../test/harness/harness.js";
import type { FlowLimits } from "../src/flow/limits.js";
import type { NewJob, Store } from "../src/store/store.js";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "10000" }, claims: { type: "string", default: "400" } } });
const JOBS = Number(values.jobs);
const CLAIMS = Number(values.claims);

interface Case {
  label: string;
  flow?: FlowLimits;
  /** Groups the backlog is spread over (0: no group). */
  groups: number;
}

const CASES: Case[] = [
  { label: "unlimited", groups: 0 },
  { label: "concurrency 1000", flow: { concurrency: 1000 }, groups: 0 },
  { label: "rateLimit 1e6/60 s", flow: { rateLimit: { limit: 1_000_000, per: 60_000, byGroup: false } }, groups: 0 },
  { label: "groupConcurrency, 10 groups", flow: { groupConcurrency: 1000 }, groups: 10 },
  { label: "groupConcurrency, 1000 groups", flow: { groupConcurrency: 1000 }, groups: 1000 },
];

async function measure(store: Store, name: string, c: Case): Promise<number> {
  const jobs: NewJob[] = Array.from({ length: JOBS }, (_, i) => ({
    name, data: "{}", delayMs: 0, priority: 0, label: null, group: c.groups > 0 ? `g${i % c.groups}` : null,
  }));
  for (let i = 0; i < jobs.length; i += 1000) await store.jobInsertMany({ jobs: jobs.slice(i, i + 1000) });
  const times: number[] = [];
  for (let i = 0; i < CLAIMS; i++) {
    const started = performance.now();
    const { claimed } = await store.jobClaim({ requests: [{ name, limit: 1, leaseMs: 60_000, ...(c.flow && { flow: c.flow }) }] });
    times.push(performance.now() - started);
    // Complete it (outside the timing), so running counts stay small as on a real worker.
    await store.jobCompleteMany({ items: claimed.map((job) => ({ id: job.id, attempt: job.attempts, result: "null" })) });
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = await harness.skipReason();
  if (skip) {
    console.log(`${harness.kind}: skipped (${skip})`);
    continue;
  }
  for (const c of CASES) {
    const loc = await harness.fresh();
    try {
      const store = await loc.openStore();
      const median = await measure(store, `cost-${c.label.replace(/\W+/g, "-")}`, c);
      console.log(`${harness.kind.padEnd(8)} ${c.label.padEnd(30)} median claim ${median.toFixed(3)} ms (${JOBS} ready jobs, ${CLAIMS} claims of 1)`);
    } finally {
      await loc.drop();
    }
  }
}
