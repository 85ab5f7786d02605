/**
 * Store-level conformance of the stored trace context (migration 10): every insert path the seam offers
 * keeps it, a claim hands it to the worker, and an untraced job has none.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import type { Store } from "../../src/store/store.js";
import { newJob } from "../helpers.js";

const CONTEXT = JSON.stringify({ traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "k=v" });

export function traceSuite(harness: StoreHarness): void {
  test("the trace context is kept by plain, batched, unique and claimed inserts, and comes back on claim", async (t) => {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const store: Store = await loc.openStore();
    const [one] = await store.jobInsertMany({ jobs: [newJob("one", { traceContext: CONTEXT })] });
    const batch = await store.jobInsertMany({ jobs: [newJob("batch", { traceContext: CONTEXT }), newJob("batch")] });
    const [unique] = await store.jobInsertMany({ jobs: [newJob("unique", { label: "L", traceContext: CONTEXT })] });
    const [claimed] = await store.jobInsertClaimed({ items: [{ job: newJob("claimed", { traceContext: CONTEXT }), leaseMs: 60_000 }] });
    for (const job of [one, batch[0], unique, claimed]) assert.equal(job?.traceContext, CONTEXT);
    assert.equal(batch[1]?.traceContext, undefined, "an untraced job has no trace context");
    const { claimed: [run] } = await store.jobClaim({ requests: [{ name: "one", limit: 1, leaseMs: 60_000 }] });
    assert.equal(run?.traceContext, CONTEXT);
  });
}
