/**
 * Enqueueing inside the application's own transaction, and the mistakes a hurried user makes with it:
 * passing the pool instead of the client that ran BEGIN, a client outside any transaction, and an
 * async enqueue inside better-sqlite3's synchronous `db.transaction(fn)`.
 */
import "./leak-check.js";
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import { ValidationError, type TransactionHandle } from "../src/index.js";
import { postgresHarness, databaseUrl } from "./harness/postgres.js";
import { sqliteHarness } from "./harness/sqlite.js";
import { Signal, setup, taskName, within } from "./helpers.js";

const isTxError = (pattern: RegExp) => (error: unknown) =>
  error instanceof ValidationError && error.field === "options.tx" && pattern.test(error.message);

describe("postgres: the tx given to enqueue", { skip: (await postgresHarness.skipReason()) ?? false }, () => {
  test("a pool, a client outside a transaction, or one in a failed transaction is refused; nothing is stored", async (t) => {
    const { queue } = await setup(t, postgresHarness);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    t.after(() => pool.end());
    const name = taskName();
    await assert.rejects(queue.enqueue(name, {}, { tx: pool }), isTxError(/pg\.Pool.*client that ran BEGIN/));

    const client = await pool.connect();
    try {
      await assert.rejects(queue.enqueue(name, {}, { tx: client }), isTxError(/not inside a transaction/));
      await assert.rejects(queue.enqueueMany([{ name }], { tx: client }), isTxError(/not inside a transaction/));
      await client.query("BEGIN");
      await assert.rejects(client.query("SELECT 1/0"));
      await assert.rejects(queue.enqueue(name, {}, { tx: client }), isTxError(/failed transaction/));
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    assert.equal((await queue.count(name)).enqueued, 0);
  });

  test("something that only has query() (an ORM's transaction) is asked once whether it is in a transaction", async (t) => {
    const { queue } = await setup(t, postgresHarness);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    t.after(() => client.end());
    const wrapper: TransactionHandle = { query: (config: pg.QueryConfig) => client.query(config) };
    const name = taskName();
    await assert.rejects(queue.enqueue(name, {}, { tx: wrapper }), isTxError(/not inside a transaction/));

    await client.query("BEGIN");
    const rolledBack = await queue.enqueue(name, { n: 1 }, { tx: wrapper });
    await client.query("ROLLBACK");
    assert.equal(await queue.get(rolledBack.id), null);

    await client.query("BEGIN");
    const kept = await queue.enqueue(name, { n: 2 }, { tx: wrapper });
    await client.query("COMMIT");
    assert.equal((await queue.get(kept.id))?.status, "enqueued");
  });

  test("enqueueSync is refused: PostgreSQL cannot store a job synchronously", async (t) => {
    const { queue } = await setup(t, postgresHarness);
    await postgresHarness.fresh().then(async (loc) => {
      t.after(() => loc.drop());
      await loc.transaction(false, async (tx) => {
        assert.throws(() => queue.enqueueSync(taskName(), {}, { tx }), isTxError(/cannot store a job synchronously/));
      });
    });
  });
});

describe("sqlite: enqueueSync inside db.transaction(fn)", () => {
  async function withUserDb(t: TestContext) {
    const s = await setup(t, sqliteHarness);
    const db = new Database(s.loc.url.slice("sqlite:".length), { timeout: 5000 });
    t.after(() => db.close());
    db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)");
    return { ...s, db };
  }

  test("returns the stored job at once; committed with the transaction, it runs", async (t) => {
    const { queue, db } = await withUserDb(t);
    const name = taskName();
    const ran = new Signal<unknown>();
    queue.define(name, (ctx) => ran.resolve(ctx.job.data));
    await queue.start();
    const placeOrder = db.transaction((item: string) => {
      const { lastInsertRowid } = db.prepare("INSERT INTO orders (item) VALUES (?)").run(item);
      return queue.enqueueSync(name, { order: Number(lastInsertRowid) }, { tx: db });
    });
    const job = placeOrder("book");
    assert.equal(job.name, name);
    assert.deepEqual(job.data, { order: 1 });
    // The worker is woken once the transaction has ended, not at its next poll.
    assert.deepEqual(await within(ran.promise, "the job to run"), { order: 1 });
  });

  test("rolled back, the job never existed; bad input throws out of fn and rolls the transaction back", async (t) => {
    const { queue, db } = await withUserDb(t);
    const name = taskName();
    let stashed: string | undefined;
    const failing = db.transaction(() => {
      db.prepare("INSERT INTO orders (item) VALUES ('lost')").run();
      stashed = queue.enqueueSync(name, {}, { tx: db }).id;
      throw new Error("payment declined");
    });
    assert.throws(() => failing(), /payment declined/);
    assert.ok(stashed);
    assert.equal(await queue.get(stashed), null, "a job of a rolled-back transaction does not exist");

    const badInput = db.transaction(() => {
      db.prepare("INSERT INTO orders (item) VALUES ('also lost')").run();
      queue.enqueueSync(name, { at: new Date() } as unknown, { tx: db });
    });
    assert.throws(() => badInput(), (error: unknown) => error instanceof ValidationError && error.field === "data.at");
    assert.deepEqual(db.prepare("SELECT count(*) AS n FROM orders").get(), { n: 0 });
    assert.equal((await queue.count(name)).enqueued, 0);
  });

  test("without a transaction, or without tx, enqueueSync throws and stores nothing", async (t) => {
    const { queue, db } = await withUserDb(t);
    const name = taskName();
    assert.throws(() => queue.enqueueSync(name, {}, { tx: db }), isTxError(/inside an open transaction/));
    assert.throws(() => queue.enqueueSync(name, {}, {} as { tx: TransactionHandle }), isTxError(/required/));
    assert.equal((await queue.count(name)).enqueued, 0);
  });
});
