/**
 * Store-level conformance: the seam's semantics, driven through `Store` directly with fixtures
 * (axe's job tests: fields after enqueue/claim/complete, delays, leases, fail, cancel, fencing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { CRASH_MESSAGE, MAX_KEPT_ERRORS } from "../../src/job.js";
import type { Store, StoredJob } from "../../src/store/store.js";
import { insertOne, newJob } from "../helpers.js";

const LONG = 3_600_000;

/** Claims up to `limit` jobs named `name` with a long lease. */
async function claim(store: Store, name: string, limit = 1): Promise<StoredJob[]> {
  return (await store.jobClaim({ requests: [{ name, limit, leaseMs: LONG }] })).claimed;
}

/** Claims exactly one job named `name` with a long lease, and returns it. */
async function claimOne(store: Store, name: string): Promise<StoredJob> {
  const claimed = await claim(store, name);
  assert.equal(claimed.length, 1, `expected to claim one ${name} job`);
  return claimed[0]!;
}

const NO_JOBS = { enqueued: 0, dequeued: 0, completed: 0, failed: 0, cancelled: 0 };

export function storeSuite(harness: StoreHarness): void {
  async function fresh(t: { after(fn: () => Promise<void>): void }) {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const store: Store = await loc.openStore();
    return { loc, store };
  }

  test("job fields after insert, claim and complete", async (t) => {
    const { store } = await fresh(t);
    const job = await insertOne(store, newJob("a", { data: '{"n":1}', priority: 3, label: "L" }));
    assert.equal(job.status, "enqueued");
    assert.equal(job.name, "a");
    assert.deepEqual(job.data, { n: 1 });
    assert.equal(job.dataError, undefined);
    assert.equal(job.priority, 3);
    assert.equal(job.label, "L");
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

    const [claimed] = await claim(store, "a", 5);
    assert.ok(claimed);
    assert.equal(claimed.id, job.id);
    assert.equal(claimed.status, "dequeued");
    assert.equal(claimed.attempts, 1);
    assert.ok(claimed.startedAt instanceof Date);
    assert.equal(claimed.availableAt.getTime() - claimed.startedAt.getTime(), LONG, "availableAt is the lease expiry");
    assert.equal(await store.jobSetProgress({ id: job.id, attempt: 1, progress: 0.5 }), true);

    const applied = await store.jobCompleteMany({ items: [{ id: job.id, attempt: 1, result: JSON.stringify({ bar: "baz" }) }] });
    assert.deepEqual([...applied], [job.id]);
    const done = await store.jobGet({ id: job.id });
    assert.ok(done);
    assert.equal(done.status, "completed");
    assert.deepEqual(done.result, { bar: "baz" });
    assert.equal(done.reason, null);
    assert.equal(done.progress, 0.5, "progress stays after completion");
    assert.ok(done.endedAt instanceof Date && done.finishedAt instanceof Date);
    assert.equal(done.endedAt.getTime(), done.finishedAt.getTime());
    assert.deepEqual(await claim(store, "a", 5), [], "a completed job is not claimed again");
  });

  test("a delayed job is not claimable until it is due, and a claimed job is leased", async (t) => {
    const { loc, store } = await fresh(t);
    const job = await insertOne(store, newJob("a", { delayMs: LONG }));
    assert.equal(job.availableAt.getTime() - job.createdAt.getTime(), LONG);
    assert.deepEqual(await claim(store, "a"), []);
    await loc.makeAvailableNow(job.id);
    assert.equal((await claim(store, "a")).length, 1);
    assert.deepEqual(await claim(store, "a"), [], "leased: not claimable again");
  });

  test("an expired lease makes the job claimable again, with attempts counting claims", async (t) => {
    const { loc, store } = await fresh(t);
    const job = await insertOne(store, newJob("a"));
    await claimOne(store, "a");
    await loc.makeAvailableNow(job.id);
    const again = await claimOne(store, "a");
    assert.equal(again.attempts, 2);
    assert.equal(again.crashes, 1, "the first attempt ended with no outcome: a crash");
    assert.equal(again.endedAt, null);
  });

  test("fail without delay: failed, claimable at once, attempts 2", async (t) => {
    const { store } = await fresh(t);
    const job = await insertOne(store, newJob("a"));
    await claimOne(store, "a");
    const failed = await store.jobFail({ id: job.id, attempt: 1, reason: "foo", delayMs: 0, errors: "[]" });
    assert.ok(failed);
    assert.equal(failed.status, "failed");
    assert.equal(failed.reason, "foo");
    assert.ok(failed.endedAt instanceof Date);
    const [again] = await claim(store, "a");
    assert.ok(again);
    assert.equal(again.attempts, 2);
    assert.equal(again.crashes, 0, "a failure is not a crash");
  });

  test("fail with delay: not claimable until due, delay measured on the store's clock exactly", async (t) => {
    const { loc, store } = await fresh(t);
    const job = await insertOne(store, newJob("a"));
    await claimOne(store, "a");
    const errors = [{ attempt: 1, at: "2024-01-01T00:00:00.000Z", message: "foo" }];
    const failed = await store.jobFail({ id: job.id, attempt: 1, reason: "foo", delayMs: 60_000, errors: JSON.stringify(errors) });
    assert.ok(failed?.endedAt);
    assert.equal(failed.availableAt.getTime() - failed.endedAt.getTime(), 60_000);
    assert.deepEqual(failed.errors, errors);
    assert.deepEqual((await store.jobGet({ id: job.id }))?.errors, errors);
    assert.deepEqual(await claim(store, "a"), []);
    await loc.makeAvailableNow(job.id);
    const [again] = await claim(store, "a");
    assert.equal(again?.attempts, 2);
    assert.equal(again?.reason, "foo", "the reason stays while the job is retried");
  });

  test("cancel: cancelled, ended and finished, with the reason", async (t) => {
    const { store } = await fresh(t);
    const job = await insertOne(store, newJob("a"));
    await claimOne(store, "a");
    const cancelled = await store.jobCancel({ id: job.id, attempt: 1, reason: "nope", errors: null });
    assert.equal(cancelled?.status, "cancelled");
    assert.equal(cancelled?.reason, "nope");
    assert.ok(cancelled?.endedAt instanceof Date && cancelled.finishedAt instanceof Date);
    assert.equal(await store.jobCancel({ id: job.id, attempt: null, reason: "again", errors: null }), null, "finished jobs stay finished");
  });

  test("an operator's cancel (no attempt) applies to any unfinished job and keeps its errors unless given", async (t) => {
    const { store } = await fresh(t);
    const [waiting, failing] = await store.jobInsertMany({ jobs: [newJob("a", { delayMs: LONG }), newJob("b")] });
    assert.ok(waiting && failing);
    const cancelled = await store.jobCancel({ id: waiting.id, attempt: null, reason: "no longer needed", errors: null });
    assert.equal(cancelled?.status, "cancelled");
    assert.equal(cancelled?.attempts, 0, "never claimed");
    assert.ok(cancelled?.finishedAt instanceof Date);
    assert.deepEqual(cancelled?.errors, []);
    await claimOne(store, "b");
    const errors = [{ attempt: 1, at: "2024-01-01T00:00:00.000Z", message: "boom" }];
    await store.jobFail({ id: failing.id, attempt: 1, reason: "boom", delayMs: LONG, errors: JSON.stringify(errors) });
    const stopped = await store.jobCancel({ id: failing.id, attempt: null, reason: "operator", errors: null });
    assert.equal(stopped?.status, "cancelled");
    assert.equal(stopped?.reason, "operator");
    assert.deepEqual(stopped?.errors, errors, "errors: null leaves them as they were");
  });

  test("fencing: every outcome write of a stale attempt is refused; the newer attempt's result stands", async (t) => {
    const { loc, store } = await fresh(t);
    const job = await insertOne(store, newJob("a"));
    await claimOne(store, "a");
    await loc.makeAvailableNow(job.id);
    const current = await claimOne(store, "a"); // attempt 2 holds it now
    assert.equal(current.attempts, 2);
    const stale = { id: job.id, attempt: 1 };
    assert.equal((await store.jobCompleteMany({ items: [{ ...stale, result: '"stale"' }] })).size, 0);
    assert.equal(await store.jobFail({ ...stale, reason: "stale", delayMs: 0, errors: "[]" }), null);
    assert.equal(await store.jobCancel({ ...stale, reason: "stale", errors: null }), null);
    assert.equal((await store.jobExtendLeases({ items: [{ ...stale, leaseMs: 1 }] })).size, 0);
    assert.equal((await store.jobRelease({ items: [stale], reason: "stale", unstarted: false })).size, 0);
    assert.equal(await store.jobSetProgress({ ...stale, progress: 0.5 }), false);
    const untouched = await store.jobGet({ id: job.id });
    assert.equal(untouched?.status, "dequeued");
    assert.equal(untouched?.availableAt.getTime(), current.availableAt.getTime(), "the stale extend moved the lease");
    assert.equal((await store.jobCompleteMany({ items: [{ id: job.id, attempt: 2, result: '"fresh"' }] })).size, 1);
    const done = await store.jobGet({ id: job.id });
    assert.equal(done?.status, "completed");
    assert.equal(done?.result, "fresh");
    assert.equal(done?.progress, null);
    assert.equal((await store.jobCompleteMany({ items: [{ id: job.id, attempt: 2, result: '"twice"' }] })).size, 0, "no double completion");
    assert.equal(await store.jobCancel({ id: job.id, attempt: null, reason: "too late", errors: null }), null, "a completed job cannot be cancelled");
  });

  test("ids the store could never have issued find nothing", async (t) => {
    const { store } = await fresh(t);
    await store.jobInsertMany({ jobs: [newJob("a")] });
    for (const id of ["not-an-id", "99999999999999999999", "-1", "1.5", ""]) assert.equal(await store.jobGet({ id }), null, id);
  });

  test("claims in order of priority (higher first), then availableAt, then id; limits per task", async (t) => {
    const { loc, store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [
      newJob("a", { priority: 0 }), newJob("a", { priority: 5 }), newJob("a", { priority: 0 }),
      newJob("a", { priority: 5 }), newJob("a", { priority: 0 }), newJob("b"), newJob("b"), newJob("b"),
    ] });
    const ids = jobs.map((job) => job.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => Number(x) - Number(y)), "returned in input order, ids increasing");
    await loc.makeAvailableNow(ids[4]!); // available a second earlier than the other priority-0 jobs
    const claimed = (await store.jobClaim({ requests: [{ name: "a", limit: 4, leaseMs: LONG }, { name: "b", limit: 2, leaseMs: LONG }] })).claimed;
    assert.deepEqual(claimed.map((job) => job.id), [ids[1], ids[3], ids[4], ids[0], ids[5], ids[6]]);
  });

  test("two stores on one location claiming concurrently never get the same job", async (t) => {
    const { loc, store } = await fresh(t);
    const other = await loc.openStore();
    const total = 200;
    await store.jobInsertMany({ jobs: Array.from({ length: total }, (_, i) => newJob("race", { priority: i % 3 })) });
    const claimAll = async (claimer: Store) => {
      const ids: string[] = [];
      for (;;) {
        const batch = (await claimer.jobClaim({ requests: [{ name: "race", limit: 7, leaseMs: LONG }] })).claimed;
        if (batch.length === 0) return ids;
        ids.push(...batch.map((job) => job.id));
      }
    };
    // Two loops per store, so claims also race within each store's connections.
    const lists = await Promise.all([claimAll(store), claimAll(other), claimAll(store), claimAll(other)]);
    const all = lists.flat();
    assert.equal(new Set(all).size, all.length, "a job was claimed twice");
    assert.equal(all.length, total);
    assert.ok(lists.every((ids) => ids.length > 0), "a claimer got nothing: the claims did not overlap");
  });

  test("completeAndClaim writes completions (fenced) and claims new jobs in one call", async (t) => {
    const { loc, store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [newJob("a"), newJob("a"), newJob("a"), newJob("a")] });
    const first = await claim(store, "a", 2);
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
    const job = await insertOne(store, newJob("a"));
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
    assert.equal(released?.attempts, 1, "a started attempt stays counted");
    assert.ok(released && released.endedAt instanceof Date, "ended");
    assert.equal(released.availableAt.getTime(), job.availableAt.getTime(), "available at once, from where it stood in line before the claim");
    const [again] = await claim(store, "a");
    assert.equal(again?.attempts, 2, "a released job is claimable at once");
  });

  test("a release puts the job back where it stood in line; one that never started has its claim undone", async (t) => {
    const { store } = await fresh(t);
    const [first] = await store.jobInsertMany({ jobs: [newJob("a", { delayMs: -60_000 })] });
    const [second] = await store.jobInsertMany({ jobs: [newJob("a", { delayMs: -30_000 })] });
    assert.ok(first && second);
    const claimOne = async () => (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed[0];
    assert.equal((await claimOne())?.id, first.id);

    assert.equal((await store.jobRelease({ items: [{ id: first.id, attempt: 1 }], reason: "unstarted", unstarted: true })).size, 1);
    const undone = await store.jobGet({ id: first.id });
    assert.equal(undone?.status, "enqueued");
    assert.equal(undone?.attempts, 0, "the claim is undone");
    assert.equal(undone?.availableAt.getTime(), first.availableAt.getTime(), "back where it stood, not at the end of the line");
    const again = await claimOne();
    assert.deepEqual([again?.id, again?.attempts], [first.id, 1], "still ahead of the job that became due after it");

    assert.equal((await store.jobRelease({ items: [{ id: first.id, attempt: 1 }], reason: "shutdown", unstarted: false })).size, 1);
    const released = await store.jobGet({ id: first.id });
    assert.equal(released?.attempts, 1, "a started attempt stays counted");
    assert.equal(released?.availableAt.getTime(), first.availableAt.getTime());
    assert.equal((await claimOne())?.id, first.id);

    const [direct] = await store.jobInsertClaimed({ items: [{ job: newJob("b"), leaseMs: LONG }] });
    assert.ok(direct);
    await store.jobRelease({ items: [{ id: direct.id, attempt: 1 }], reason: "unstarted", unstarted: true });
    const back = await store.jobGet({ id: direct.id });
    assert.deepEqual([back?.status, back?.attempts], ["enqueued", 0]);
    assert.equal(back?.availableAt.getTime(), direct.createdAt.getTime(), "a job stored claimed stood in line from its creation");
  });

  test("a claim that finds a crash records it in errors, after what was there; at most MAX_KEPT_ERRORS are kept", async (t) => {
    const { loc, store } = await fresh(t);
    const [job] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(job);
    const claimOne = async () => (await store.jobClaim({ requests: [{ name: "a", limit: 1, leaseMs: LONG }] })).claimed[0];
    await claimOne();
    const failure = { attempt: 1, at: "2024-01-01T00:00:00.000Z", message: "foo" };
    await store.jobFail({ id: job.id, attempt: 1, reason: "foo", delayMs: 0, errors: JSON.stringify([failure]) });
    assert.deepEqual((await claimOne())?.errors, [failure], "a failure is not a crash");
    await loc.makeAvailableNow(job.id);
    const crashed = await claimOne();
    assert.equal(crashed?.crashes, 1);
    assert.deepEqual(crashed?.errors.map((e) => [e.attempt, e.message]), [[1, "foo"], [2, CRASH_MESSAGE]]);
    const at = crashed?.errors[1]?.at ?? "";
    assert.equal(new Date(at).toISOString(), at, "dated in ISO 8601, as the worker dates failures");
    assert.ok(Math.abs(Date.parse(at) - Date.now()) < 60_000, `dated now: ${at}`);
    assert.equal(crashed?.errors[1]?.stack, undefined);

    for (let i = 0; i < MAX_KEPT_ERRORS; i++) {
      await loc.makeAvailableNow(job.id);
      await claimOne();
    }
    const last = await store.jobGet({ id: job.id });
    assert.equal(last?.crashes, 1 + MAX_KEPT_ERRORS);
    assert.deepEqual(last?.errors.map((e) => e.attempt), Array.from({ length: MAX_KEPT_ERRORS }, (_, i) => i + 3), "the latest kept, oldest first");
    assert.ok(last?.errors.every((e) => e.message === CRASH_MESSAGE));
  });

  test("list, count and deleteFinished (only completed and cancelled, only old enough)", async (t) => {
    const { store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: [newJob("a"), newJob("a"), newJob("a"), newJob("b"), newJob("b", { delayMs: LONG })] });
    const claimed = await claim(store, "a", 3);
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

  test("count reports every status, zeros included; list filters by name and status and pages in id order", async (t) => {
    const { store } = await fresh(t);
    assert.deepEqual(await store.jobCountByStatus({}), NO_JOBS);
    const jobs = await store.jobInsertMany({ jobs: Array.from({ length: 12 }, (_, i) => newJob(i % 2 === 0 ? "even" : "odd", { data: String(i) })) });
    const ids = jobs.map((job) => job.id);
    const [completed, failed, cancelled, running] = await claim(store, "even", 4);
    assert.ok(completed && failed && cancelled && running);
    await store.jobCompleteMany({ items: [{ id: completed.id, attempt: 1, result: "null" }] });
    await store.jobFail({ id: failed.id, attempt: 1, reason: "x", delayMs: LONG, errors: "[]" });
    await store.jobCancel({ id: cancelled.id, attempt: 1, reason: "y", errors: null });
    assert.deepEqual(await store.jobCountByStatus({ name: "even" }), { enqueued: 2, dequeued: 1, completed: 1, failed: 1, cancelled: 1 });
    assert.deepEqual(await store.jobCountByStatus({}), { enqueued: 8, dequeued: 1, completed: 1, failed: 1, cancelled: 1 });
    assert.deepEqual(await store.jobCountByStatus({ name: "none" }), NO_JOBS);

    assert.deepEqual((await store.jobList({ status: "enqueued", limit: 100 })).map((job) => job.data), [1, 3, 5, 7, 8, 9, 10, 11]);
    assert.deepEqual((await store.jobList({ status: "dequeued", limit: 100 })).map((job) => job.id), [running.id]);
    assert.deepEqual((await store.jobList({ name: "odd", limit: 2 })).map((job) => job.id), [ids[1], ids[3]]);
    assert.deepEqual((await store.jobList({ name: "even", status: "enqueued", afterId: ids[0], limit: 1 })).map((job) => job.id), [ids[8]]);
    // In a fresh location this pages from the 9th id to the 10th: in id order, not in text order.
    assert.deepEqual((await store.jobList({ afterId: ids[8], limit: 10 })).map((job) => job.id), ids.slice(9));
    assert.deepEqual(await store.jobList({ limit: 0 }), []);
  });

  test("deleteFinished takes completed and cancelled jobs finished long enough ago, up to the limit; ids are not reused", async (t) => {
    const { loc, store } = await fresh(t);
    const jobs = await store.jobInsertMany({ jobs: Array.from({ length: 6 }, () => newJob("a")) });
    const ids = jobs.map((job) => job.id);
    assert.equal((await claim(store, "a", 5)).length, 5);
    await store.jobCompleteMany({ items: [{ id: ids[0]!, attempt: 1, result: "null" }, { id: ids[2]!, attempt: 1, result: "null" }] });
    await store.jobCancel({ id: ids[1]!, attempt: 1, reason: "x", errors: null });
    await store.jobFail({ id: ids[3]!, attempt: 1, reason: "y", delayMs: 0, errors: "[]" });
    await store.jobCancel({ id: ids[5]!, attempt: null, reason: "operator", errors: null }); // the newest job
    // Jobs 0, 1 and 5 finished two hours ago, job 2 just now; failed job 3 has no finishedAt to move.
    for (const id of [ids[0]!, ids[1]!, ids[3]!, ids[5]!]) await loc.backdateFinished(id, 2 * LONG);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: LONG, limit: 0 }), 0);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: LONG, limit: 2 }), 2);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: LONG, limit: 10 }), 1);
    assert.equal(await store.jobDeleteFinished({ olderThanMs: LONG, limit: 10 }), 0);
    assert.deepEqual((await store.jobList({ limit: 10 })).map((job) => job.id), [ids[2], ids[3], ids[4]], "recent, failed and running jobs stay");
    const [next] = await store.jobInsertMany({ jobs: [newJob("a")] });
    assert.ok(next && BigInt(next.id) > BigInt(ids[5]!), `id ${next?.id} reuses a deleted one`);
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
