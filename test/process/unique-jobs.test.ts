/**
 * Unique jobs across processes: many concurrent enqueues of one label from several OS processes, plain
 * and inside the processes' own transactions, make exactly one job, and every call sees its id.
 */
import "../leak-check.js";
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Queue } from "../../src/index.js";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { databaseUrl, postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { taskName, until, within } from "../helpers.js";
import { startWorker } from "./spawn.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/unique-enqueuer.ts", import.meta.url));
const PROCESSES = 3;
const CALLS = 20;

interface CallResult {
  id: string;
  duplicate: boolean;
}

/** Starts one enqueuer per `tx` entry, releases them together, and returns each one's results. */
async function race(t: TestContext, loc: TestLocation, name: string, txs: Array<"commit" | "rollback" | undefined>): Promise<CallResult[][]> {
  const children = txs.map((tx) => startWorker({
    url: loc.url, ...loc.queueOptions, name, label: "the-one", calls: CALLS, ...(tx !== undefined && { tx }),
  }, { fixture: FIXTURE, stdin: true }));
  t.after(() => Promise.all(children.map((child) => child.kill())));
  await Promise.all(children.map((child) => child.line(/^ready$/, "enqueuer ready")));
  for (const child of children) child.closeStdin();
  const lines = await Promise.all(children.map((child) => child.line(/^result /, "enqueuer results")));
  const exits = await Promise.all(children.map((child) => within(child.exited, "enqueuer exit")));
  assert.deepEqual(exits.map((exit) => exit.code), txs.map(() => 0), children.map((child) => child.stderr()).join("\n"));
  return lines.map((line) => JSON.parse(line.slice("result ".length)) as CallResult[]);
}

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: unique jobs across processes`, { skip }, () => {
    test(`${PROCESSES} processes × ${CALLS} concurrent enqueues of one label → one job, every call sees its id`, async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const name = taskName("unique");
      const results = (await race(t, loc, name, Array(PROCESSES).fill(undefined))).flat();
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      const stored = await queue.list({ name });
      t.diagnostic(`${harness.kind}: ${PROCESSES} processes × ${CALLS} calls → ${stored.length} job(s), ${new Set(results.map((r) => r.id)).size} distinct id(s), ${results.filter((r) => !r.duplicate).length} call(s) flagged new`);
      assert.equal(results.length, PROCESSES * CALLS);
      assert.equal(stored.length, 1);
      assert.deepEqual([...new Set(results.map((r) => r.id))], [stored[0]?.id]);
      assert.equal(results.filter((r) => !r.duplicate).length, 1);
    });

    test(`the same inside each process's own transaction: one commits first, the others find its job; a rollback frees the label`, async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const name = taskName("unique-tx");
      const results = await race(t, loc, name, ["rollback", "commit", "commit"]);
      const queue = await Queue.open(loc.url, loc.queueOptions);
      t.after(() => queue.close());
      const stored = await queue.list({ name });
      assert.equal(stored.length, 1, "exactly one job after the transactions ended");
      const [rolledBack, ...committed] = results as [CallResult[], ...CallResult[][]];
      // Inside one transaction every call sees the same job.
      for (const calls of results) assert.equal(new Set(calls.map((r) => r.id)).size, 1);
      // The committed job is the one both committing processes saw, unless the rollback went first.
      const committedIds = new Set(committed.flat().map((r) => r.id));
      assert.deepEqual([...committedIds], [stored[0]?.id], "both committing transactions saw the job that stands");
      assert.equal(committed.flat().filter((r) => !r.duplicate).length, 1, "one committing transaction stored it");
      assert.equal(rolledBack.filter((r) => !r.duplicate).length <= 1, true);
      t.diagnostic(`${harness.kind}: transactions rollback/commit/commit × ${CALLS} calls → ${stored.length} job`);
    });
  });
}

describe("postgres: unique jobs in interleaved transactions", { skip: (await postgresHarness.skipReason()) ?? false }, () => {
  /** Two clients in BEGIN; `first` enqueues, then `second` (which waits on the first's key), then `first` ends. */
  async function interleave(t: TestContext, end: "COMMIT" | "ROLLBACK"): Promise<{ first: CallResult; second: CallResult; count: number }> {
    const loc = await postgresHarness.fresh();
    t.after(() => loc.drop());
    const queue = await Queue.open(loc.url, loc.queueOptions);
    t.after(() => queue.close());
    const clients = [new pg.Client({ connectionString: databaseUrl }), new pg.Client({ connectionString: databaseUrl })] as const;
    for (const client of clients) {
      await client.connect();
      t.after(() => client.end());
      await client.query("BEGIN");
    }
    const name = taskName("interleave");
    const first = await queue.enqueue(name, { by: "first" }, { label: "L", tx: clients[0] });
    const waiting = queue.enqueue(name, { by: "second" }, { label: "L", tx: clients[1] });
    // The second insert waits on the first's uncommitted key (a lock wait PostgreSQL shows) until the first ends.
    let settled = false;
    void waiting.then(() => (settled = true), () => (settled = true));
    await until(async () => (await loc.exec(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [`%${loc.schema}%`],
    ))[0]?.n === 1, "the second insert to wait on the first's key");
    assert.equal(settled, false);
    await clients[0].query(end);
    const second = await within(waiting, "the second insert once the first transaction ended");
    await clients[1].query("COMMIT");
    return { first, second, count: (await queue.list({ name })).length };
  }

  test("the first commits: the second, waiting on the key, gets the first's job", async (t) => {
    const { first, second, count } = await interleave(t, "COMMIT");
    assert.equal(second.id, first.id);
    assert.equal(second.duplicate, true);
    assert.equal(count, 1);
  });

  test("the first rolls back: the second, waiting on the key, stores its own job", async (t) => {
    const { first, second, count } = await interleave(t, "ROLLBACK");
    assert.notEqual(second.id, first.id);
    assert.equal(second.duplicate, false);
    assert.equal(count, 1);
  });
});
