/**
 * Store-level conformance: the seam's semantics, driven through `Store` directly with fixtures
 * (axe's job tests: fields after enqueue/claim/complete, delays, leases, fail, cancel, fencing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import type { Store } from "../../src/store/store.js";
import { newJob } from "../helpers.js";

const LONG = 3_600_000;

export function storeSuite(harness: StoreHarness): void {
  async function fresh(t: { after(fn: () => Promise<void>): void }) {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const store: Store = await loc.openStore();
    return { loc, store };
  }

  test("job fields after insert, claim and complete", async (t) => {
    const { store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a", { data: '{"n":1}' })] });
    assert.ok(job);
    assert.equal(job.status, "enqueued");
    assert.equal(job.name, "a");
    assert.deepEqual(job.data, { n: 1 });
    assert.ok(job.createdAt instanceof Date && job.availableAt instanceof Date);
    assert.equal(job.startedAt, null);
    assert.equal(job.endedAt, null);
    assert.equal(job.finishedAt, null);
    assert.equal(job.attempts, 0);
    assert.equal(job.crashes, 0);
    assert.equal(job.result, null);
    assert.equal(job.reason, null);
    assert.deepEqual(job.errors, []);
    assert.match(job.id, /^[1-9][0-9]*$/);

    const [claimed] = (await store.jobClaim({ requests: [{ name: "a", limit: 5, leaseMs: LONG }] })).claimed;
    assert.ok(claimed);
    assert.equal(claimed.id, job.id);
    assert.equal(claimed.status, "dequeued");
    assert.equal(claimed.attempts, 1);
    assert.ok(claimed.startedAt instanceof Date);
    assert.equal(claimed.availableAt.getTime() - claimed.startedAt.getTime(), LONG, "availableAt is the lease expiry");

    const applied = await store.jobCompleteMany({ items: [{ id: job.id, attempt: 1, result: JSON.stringify({ bar: "baz" }) }] });
    assert.deepEqual([...applied], [job.id]);
    const done = await store.jobGet({ id: job.id });
    assert.ok(done);
    assert.equal(done.status, "completed");
    assert.deepEqual(done.result, { bar: "baz" });
    assert.ok(done.endedAt instanceof Date && done.finishedAt instanceof Date);
    assert.equal(done.endedAt.getTime(), done.finishedAt.getTime());
  });

  test("a delayed job is not claimable until it is due, and a claimed job is leased", async (t) => {
    const { loc, store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a", { delayMs: LONG })] });
    assert.ok(job);
    assert.equal(job.availableAt.getTime() - job.createdAt.getTime(), LONG);
    assert.deepEqual((await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed, []);
    await loc.makeAvailableNow(job.id);
    assert.equal(((await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed).length, 1);
    assert.deepEqual((await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed, [], "leased: not claimable again");
  });

  test("an expired lease makes the job claimable again, with attempts counting claims", async (t) => {
    const { loc, store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    await loc.makeAvailableNow(job.id);
    const [again] = (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    assert.ok(again);
    assert.equal(again.attempts, 2);
    assert.equal(again.crashes, 1, "the first attempt ended with no outcome: a crash");
    assert.equal(again.endedAt, null);
  });

  test("fail without delay: failed, claimable at once, attempts 2", async (t) => {
    const { store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    const failed = await store.jobFail({ id: job.id, attempt: 1, reason: "foo", delayMs: 0, errors: "[]" });
    assert.ok(failed);
    assert.equal(failed.status, "failed");
    assert.equal(failed.reason, "foo");
    assert.ok(failed.endedAt instanceof Date);
    const [again] = (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    assert.ok(again);
    assert.equal(again.attempts, 2);
    assert.equal(again.crashes, 0, "a failure is not a crash");
  });

  test("fail with delay: not claimable until due, delay measured on the store's clock exactly", async (t) => {
    const { loc, store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    const errors = JSON.stringify([{ attempt: 1, at: new Date().toISOString(), message: "foo" }]);
    const failed = await store.jobFail({ id: job.id, attempt: 1, reason: "foo", delayMs: 60_000, errors });
    assert.ok(failed?.endedAt);
    assert.equal(failed.availableAt.getTime() - failed.endedAt.getTime(), 60_000);
    assert.equal(failed.errors.length, 1);
    assert.deepEqual((await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed, []);
    await loc.makeAvailableNow(job.id);
    const [again] = (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    assert.equal(again?.attempts, 2);
    assert.equal(again?.reason, "foo", "the reason stays while the job is retried");
  });

  test("cancel: cancelled, ended and finished, with the reason", async (t) => {
    const { store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    const cancelled = await store.jobCancel({ id: job.id, attempt: 1, reason: "nope", errors: null });
    assert.equal(cancelled?.status, "cancelled");
    assert.equal(cancelled?.reason, "nope");
    assert.ok(cancelled?.endedAt instanceof Date && cancelled.finishedAt instanceof Date);
    assert.equal(await store.jobCancel({ id: job.id, attempt: null, reason: "again", errors: null }), null, "finished jobs stay finished");
  });

  test("fencing: every outcome write of a stale attempt is refused; the newer attempt's result stands", async (t) => {
    const { loc, store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    await loc.makeAvailableNow(job.id);
    (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed; // attempt 2 holds it now
    const stale = { id: job.id, attempt: 1 };
    assert.equal((await store.jobCompleteMany({ items: [{ ...stale, result: '"stale"' }] })).size, 0);
    assert.equal(await store.jobFail({ ...stale, reason: "stale", delayMs: 0, errors: "[]" }), null);
    assert.equal(await store.jobCancel({ ...stale, reason: "stale", errors: null }), null);
    assert.equal((await store.jobExtendLeases({ items: [{ ...stale, leaseMs: 1 }] })).size, 0);
    assert.equal((await store.jobRelease({ items: [stale], reason: "stale", unstarted: false })).size, 0);
    assert.equal(await store.jobSetProgress({ ...stale, progress: 0.5 }), false);
    assert.equal((await store.jobCompleteMany({ items: [{ id: job.id, attempt: 2, result: '"fresh"' }] })).size, 1);
    const done = await store.jobGet({ id: job.id });
    assert.equal(done?.status, "completed");
    assert.equal(done?.result, "fresh");
    assert.equal(done?.progress, null);
    assert.equal((await store.jobCompleteMany({ items: [{ id: job.id, attempt: 2, result: '"twice"' }] })).size, 0, "no double completion");
  });

  test("claims in order of priority (higher first), then availableAt, then id; limits per task", async (t) => {
    const { store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [
      newJob("a", { priority: 0 }), newJob("a", { priority: 5 }), newJob("a", { priority: 0 }),
      newJob("a", { priority: 5 }), newJob("b"), newJob("b"), newJob("b"),
    ] });
    const ids = jobs.map((job) => job.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => Number(x) - Number(y)), "returned in input order, ids increasing");
    const claimed = (await store.jobClaim({ requests: [{ name: "a", limit: 3, leaseMs: LONG }, { name: "b", limit: 2, leaseMs: LONG }] })).claimed;
    const claimedA = claimed.filter((job) => job.name === "a").map((job) => job.id);
    assert.deepEqual(claimedA, [ids[1], ids[3], ids[0]]);
    assert.equal(claimed.filter((job) => job.name === "b").length, 2);
  });

  test("completeAndClaim writes completions (fenced) and claims new jobs in one call", async (t) => {
    const { loc, store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [newJob("a"), newJob("a"), newJob("a"), newJob("a")] });
    const first = (await store.jobClaim({ requests: [{ name: "a", limit: 2, leaseMs: LONG }] })).claimed;
    assert.deepEqual(first.map((job) => job.id), [jobs[0]?.id, jobs[1]?.id]);
    // A completion of an attempt that does not hold job 1 must not be applied.
    const { completed, claimed } = await store.jobClaim({ completions: [{ id: jobs[0]!.id, attempt: 1, result: '"one"' }, { id: jobs[1]!.id, attempt: 7, result: '"stale"' }], requests: [{ name: "a", limit: 5, leaseMs: LONG }] });
    assert.deepEqual([...completed], [jobs[0]!.id]);
    assert.deepEqual(claimed.map((job) => job.id), [jobs[2]!.id, jobs[3]!.id]);
    assert.equal((await store.jobGet({ id: jobs[0]!.id }))?.result, "one");
    assert.equal((await store.jobGet({ id: jobs[1]!.id }))?.status, "dequeued");
    await loc.makeAvailableNow(jobs[1]!.id);
    const last = await store.jobClaim({ completions: [], requests: [{ name: "a", limit: 5, leaseMs: LONG }] });
    assert.deepEqual(last.claimed.map((job) => [job.id, job.attempts, job.crashes]), [[jobs[1]!.id, 2, 1]]);
    const nothing = await store.jobClaim({ completions: [], requests: [{ name: "a", limit: 5, leaseMs: LONG }] });
    assert.deepEqual([...nothing.completed], []);
    assert.deepEqual(nothing.claimed, []);
  });

  test("extend, progress and release are written for the current attempt", async (t) => {
    const { store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    const [claimed] = (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: 1000 }] })).claimed;
    assert.ok(claimed);
    const ref = { id: job.id, attempt: 1 };
    assert.equal((await store.jobExtendLeases({ items: [{ ...ref, leaseMs: LONG }] })).size, 1);
    const extended = await store.jobGet({ id: job.id });
    assert.ok(extended && extended.availableAt.getTime() > claimed.availableAt.getTime());
    assert.equal(await store.jobSetProgress({ ...ref, progress: 0.25 }), true);
    assert.equal((await store.jobGet({ id: job.id }))?.progress, 0.25);
    assert.equal((await store.jobRelease({ items: [ref], reason: "bye", unstarted: false })).size, 1);
    const released = await store.jobGet({ id: job.id });
    assert.equal(released?.status, "enqueued");
    assert.equal(released?.reason, "bye");
    const [again] = (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed;
    assert.equal(again?.attempts, 2, "a released job is claimable at once");
  });

  test("list, count and deleteFinished (only completed and cancelled, only old enough)", async (t) => {
    const { store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [newJob("a"), newJob("a"), newJob("a"), newJob("b"), newJob("b", { delayMs: LONG })] });
    const claimed = (await store.jobClaim({ requests: [{ name: "a", limit: 3, leaseMs: LONG }] })).claimed;
    const [first, second, third] = claimed;
    assert.ok(first && second && third);
    await store.jobCompleteMany({ items: [{ id: first.id, attempt: 1, result: "null" }] });
    await store.jobCancel({ id: second.id, attempt: 1, reason: "x", errors: null });
    await store.jobFail({ id: third.id, attempt: 1, reason: "y", delayMs: LONG, errors: "[]" });
    assert.deepEqual(await store.jobCountByStatus({}), { enqueued: 2, dequeued: 0, completed: 1, failed: 1, cancelled: 1 });
    assert.deepEqual(await store.jobCountByStatus({ name: "b" }), { enqueued: 2, dequeued: 0, completed: 0, failed: 0, cancelled: 0 });
    assert.equal((await store.jobList({ status: "enqueued", limit: 10 })).length, 2);
    assert.deepEqual((await store.jobList({ name: "a", limit: 2 })).map((job) => job.id), [jobs[0]?.id, jobs[1]?.id]);
    assert.deepEqual((await store.jobList({ afterId: jobs[3]?.id, limit: 10 })).map((job) => job.id), [jobs[4]?.id]);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: LONG, limit: 100 }), 0, "nothing finished an hour ago");
    assert.equal(await store.jobDeleteFinished({ olderThanMs: 0, limit: 100 }), 2);
    assert.deepEqual(await store.jobCountByStatus({}), { enqueued: 2, dequeued: 0, completed: 0, failed: 1, cancelled: 0 });
  });

  test("msUntilNextAvailable sees delays and lease expiries", async (t) => {
    const { store } = await fresh(t);
    assert.equal(await store.jobNextAvailableIn({ names: ["a"] }), null);
    await store.jobInsertMany({ jobs: [newJob("a", { delayMs: 60_000 })] });
    const wait = await store.jobNextAvailableIn({ names: ["a"] });
    assert.ok(wait !== null && wait > 50_000 && wait <= 60_000, `got ${wait}`);
    await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.equal(await store.jobNextAvailableIn({ names: ["a"] }), 0);
    assert.equal(await store.jobNextAvailableIn({ names: ["b"] }), null);
  });

  test("names and payloads are bound, never spliced: SQL-looking text is stored as is", async (t) => {
    const { store } = await fresh(t);
    const name = `a'); DROP TABLE jobs; --`;
    const data = JSON.stringify({ q: `'; DELETE FROM jobs WHERE '1'='1`, "\"key\"": "$1 {table}" });
    const [job] = await store.jobInsertMany({ jobs: [{ ...newJob(name), data, label: "' OR 1=1 --" }] });
    assert.ok(job);
    const read = await store.jobGet({ id: job.id });
    assert.equal(read?.name, name);
    assert.equal(JSON.stringify(read?.data), data);
    assert.equal(read?.label, "' OR 1=1 --");
  });
}
