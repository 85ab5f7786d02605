/**
 * Enqueueing inside the transactions of the ORMs people use, against the real databases: Knex, Kysely
 * and Drizzle, each on PostgreSQL and on SQLite (Prisma, which needs a generated client, is in
 * prisma.test.ts). For each: rolled back → no job (and no order row); committed → the job runs; and the
 * worker is woken by the commit itself: the task polls only once a minute, so a job that runs within
 * the test's wait was woken, and one woken before the commit would not have been claimable yet. Labels
 * deduplicate and `after` records parents inside the ORM's transaction as on the driver's connection.
 */
import "../leak-check.js";
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import knexFactory from "knex";
import { Kysely, PostgresDialect, SqliteDialect, CamelCasePlugin } from "kysely";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { sql } from "drizzle-orm";
import {
  SqlTransaction, ValidationError, fromDrizzle, fromKnex, fromKysely, type EnqueueOptions, type EnqueuedJob, type Job, type Json, type Queue,
  type TransactionHandle,
} from "../../src/index.js";
import { WAITING_FOR_PARENTS_AT } from "../../src/job.js";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { postgresHarness, databaseUrl } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { Signal, setup, taskName, within } from "../helpers.js";

/** One `enqueue` call of {@link App.enqueueIn}: the adapter's `tx` is added to its options, which may be made from the jobs of the calls before it. */
interface Call {
  name: string;
  data?: Json;
  options?: Omit<EnqueueOptions, "tx"> | ((before: Job[]) => Omit<EnqueueOptions, "tx">);
}

function optionsOf(call: Call, before: Job[]): Omit<EnqueueOptions, "tx"> {
  return typeof call.options === "function" ? call.options(before) : call.options ?? {};
}

/** The application's side of one test: an ORM on the test location with an `orders` table. */
interface App {
  /** In one ORM transaction: inserts an order, enqueues `name` with `data`, then commits, or throws to roll back. */
  placeOrder(queue: Queue, name: string, data: { order: number }, commit: boolean): Promise<Job<{ order: number }>>;
  /** In one ORM transaction: makes the calls in turn, then commits, or throws to roll back; resolves to their jobs either way. */
  enqueueIn(queue: Queue, commit: boolean, calls: Call[]): Promise<EnqueuedJob[]>;
  orders(): Promise<number>;
  close(): Promise<void>;
}

interface OrmCase {
  orm: string;
  open(loc: TestLocation): Promise<App>;
}

const ROLLBACK = new Error("payment declined");

/** Where the orders table lives: the test's schema on PostgreSQL, the queue's file on SQLite. */
function ordersTable(loc: TestLocation): string {
  return loc.schema ? `"${loc.schema}".orders` : "orders";
}

async function createOrders(loc: TestLocation): Promise<string> {
  const table = ordersTable(loc);
  await loc.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, item TEXT NOT NULL)`);
  return table;
}

function sqliteFile(loc: TestLocation): string {
  return loc.url.slice("sqlite:".length);
}

/** Makes the calls in turn inside the transaction `tx`. */
async function enqueueAll(queue: Queue, calls: Call[], tx: SqlTransaction | TransactionHandle): Promise<EnqueuedJob[]> {
  const jobs: EnqueuedJob[] = [];
  for (const call of calls) jobs.push(await queue.enqueue<Json>(call.name, call.data ?? {}, { ...optionsOf(call, jobs), tx }));
  return jobs;
}

/** Runs `body` and, unless committing, throws ROLLBACK after it so the ORM rolls back. */
async function thenMaybeRollBack<T>(commit: boolean, body: () => Promise<T>): Promise<T> {
  const result = await body();
  if (!commit) throw ROLLBACK;
  return result;
}

/** Runs an ORM transaction that may end in ROLLBACK, handing out what it enqueued either way. */
async function captured<T>(run: (keep: (value: T) => T) => Promise<unknown>): Promise<T> {
  let kept: T | undefined;
  try {
    await run((value) => (kept = value));
  } catch (error) {
    if (error !== ROLLBACK) throw error;
  }
  if (kept === undefined) throw new Error("the transaction enqueued nothing");
  return kept;
}

const knexCase = (client: "pg" | "better-sqlite3"): OrmCase => ({
  orm: "Knex",
  async open(loc) {
    const table = await createOrders(loc);
    const knex = knexFactory(client === "pg"
      ? { client, connection: databaseUrl, pool: { min: 0, max: 2 } }
      : { client, connection: { filename: sqliteFile(loc) }, useNullAsDefault: true });
    return {
      placeOrder: (queue, name, data, commit) => captured((keep) => knex.transaction((trx) => thenMaybeRollBack(commit, async () => {
        await trx.raw(`INSERT INTO ${table} (id, item) VALUES (?, ?)`, [data.order, "book"]);
        return keep(await queue.enqueue(name, data, { tx: fromKnex(trx) }));
      }))),
      enqueueIn: (queue, commit, calls) => captured((keep) => knex.transaction((trx) => thenMaybeRollBack(commit, async () =>
        keep(await enqueueAll(queue, calls, fromKnex(trx)))))),
      orders: async () => Number((await knex.raw(`SELECT count(*) AS n FROM ${table}`).then(rowsOf))[0]?.n),
      close: () => knex.destroy(),
    };
  },
});

function rowsOf(result: unknown): Array<{ n: unknown }> {
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{ n: unknown }>;
}

const kyselyCase = (store: "postgres" | "sqlite"): OrmCase => ({
  orm: "Kysely",
  async open(loc) {
    await createOrders(loc);
    const dialect = store === "postgres"
      ? new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max: 2 }) })
      : new SqliteDialect({ database: new Database(sqliteFile(loc), { timeout: 5000 }) });
    // CamelCasePlugin renames result columns: hewn's statements must not care.
    const db = new Kysely<{ orders: { id: number; item: string } }>({ dialect, plugins: [new CamelCasePlugin()] });
    return {
      placeOrder: (queue, name, data, commit) => captured((keep) => db.transaction().execute((trx) => thenMaybeRollBack(commit, async () => {
        await trx.withSchema(loc.schema ?? "main").insertInto("orders").values({ id: data.order, item: "book" }).execute();
        return keep(await queue.enqueue(name, data, { tx: fromKysely(trx) }));
      }))),
      enqueueIn: (queue, commit, calls) => captured((keep) => db.transaction().execute((trx) => thenMaybeRollBack(commit, async () =>
        keep(await enqueueAll(queue, calls, fromKysely(trx)))))),
      orders: async () => Number((await db.withSchema(loc.schema ?? "main").selectFrom("orders").select((e) => e.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n),
      close: () => db.destroy(),
    };
  },
});

const drizzleCase = (store: "postgres" | "sqlite"): OrmCase => ({
  orm: "Drizzle",
  async open(loc) {
    const table = sql.raw(await createOrders(loc));
    if (store === "postgres") {
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
      const db = drizzlePg(pool);
      return {
        placeOrder: (queue, name, data, commit) => captured((keep) => db.transaction((tx) => thenMaybeRollBack(commit, async () => {
          await tx.execute(sql`INSERT INTO ${table} (id, item) VALUES (${data.order}, 'book')`);
          return keep(await queue.enqueue(name, data, { tx: fromDrizzle(tx) }));
        }))),
        enqueueIn: (queue, commit, calls) => captured((keep) => db.transaction((tx) => thenMaybeRollBack(commit, async () =>
          keep(await enqueueAll(queue, calls, fromDrizzle(tx)))))),
        orders: async () => Number((await db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n),
        close: () => pool.end(),
      };
    }
    const database = new Database(sqliteFile(loc), { timeout: 5000 });
    const db = drizzleSqlite(database);
    return {
      // Drizzle runs better-sqlite3 transactions synchronously: enqueueSync, which stores before it returns.
      placeOrder: (queue, name, data, commit) => captured(async (keep) => db.transaction((tx) => {
        tx.run(sql`INSERT INTO ${table} (id, item) VALUES (${data.order}, 'book')`);
        keep(queue.enqueueSync(name, data, { tx: fromDrizzle(tx) }));
        if (!commit) throw ROLLBACK;
      })),
      enqueueIn: (queue, commit, calls) => captured(async (keep) => db.transaction((tx) => {
        const jobs: EnqueuedJob[] = [];
        for (const call of calls) jobs.push(queue.enqueueSync<Json>(call.name, call.data ?? {}, { ...optionsOf(call, jobs), tx: fromDrizzle(tx) }));
        keep(jobs);
        if (!commit) throw ROLLBACK;
      })),
      orders: async () => Number(db.get<{ n: number }>(sql`SELECT count(*) AS n FROM ${table}`)?.n),
      close: async () => {
        database.close();
      },
    };
  },
});

const STORES: Array<{ harness: StoreHarness; cases: OrmCase[] }> = [
  { harness: postgresHarness, cases: [knexCase("pg"), kyselyCase("postgres"), drizzleCase("postgres")] },
  { harness: sqliteHarness, cases: [knexCase("better-sqlite3"), kyselyCase("sqlite"), drizzleCase("sqlite")] },
];

async function openApp(t: TestContext, harness: StoreHarness, orm: OrmCase) {
  const s = await setup(t, harness);
  const app = await orm.open(s.loc);
  t.after(() => app.close());
  return { ...s, app };
}

for (const { harness, cases } of STORES) {
  const skip = harness.kind === "postgres" ? ((await postgresHarness.skipReason()) ?? false) : false;
  for (const orm of cases) {
    describe(`${orm.orm} on ${harness.kind}: enqueue inside the ORM's transaction`, { skip }, () => {
      test("rolled back: neither the order nor the job exists", async (t) => {
        const { queue, app } = await openApp(t, harness, orm);
        const name = taskName();
        const job = await app.placeOrder(queue, name, { order: 1 }, false);
        assert.equal(await queue.get(job.id), null);
        assert.equal((await queue.count(name)).enqueued, 0);
        assert.equal(await app.orders(), 0);
      });

      test("committed: the job runs, woken by the commit rather than by polling", async (t) => {
        const { queue, app } = await openApp(t, harness, orm);
        const name = taskName();
        const ran = new Signal<unknown>();
        // Polling once a minute: only the wake-up after commit can start this job within the wait below.
        queue.define(name, (ctx) => ran.resolve(ctx.job.data), { interval: 60_000 });
        await queue.start();
        const job = await app.placeOrder(queue, name, { order: 7 }, true);
        assert.equal(job.name, name);
        assert.deepEqual(job.data, { order: 7 });
        assert.equal(job.status, "enqueued");
        assert.deepEqual(await within(ran.promise, "the committed job to run", 10_000), { order: 7 });
        assert.equal(await app.orders(), 1);
        const stored = await queue.get(job.id);
        assert.equal(stored?.createdAt.getTime(), job.createdAt.getTime());
      });

      test("a labelled job meets the standing job (duplicate, same id); rolled back, it leaves nothing", async (t) => {
        const { queue, app } = await openApp(t, harness, orm);
        const name = taskName();
        const standing = await queue.enqueue(name, { n: 1 }, { label: "L" });
        const [dup, fresh, again, replaced] = await app.enqueueIn(queue, true, [
          { name, data: { n: 2 }, options: { label: "L" } },
          { name, data: { n: 3 }, options: { label: "M" } },
          { name, data: { n: 4 }, options: { label: "M" } },
          { name, data: { n: 5 }, options: { label: "L", onDuplicate: "replace" } },
        ]);
        assert.equal(dup?.duplicate, true);
        assert.equal(dup?.id, standing.id);
        assert.equal(fresh?.duplicate, false);
        assert.equal(again?.duplicate, true, "a duplicate inside the same transaction");
        assert.equal(again?.id, fresh?.id);
        assert.equal(replaced?.id, standing.id);
        assert.deepEqual((await queue.get(standing.id))?.data, { n: 5 }, "onDuplicate: replace");
        assert.deepEqual((await queue.list({ name, label: "M" })).map((job) => job.id), [fresh?.id]);

        const [gone] = await app.enqueueIn(queue, false, [{ name, options: { label: "R" } }]);
        assert.equal(gone?.duplicate, false);
        assert.equal(await queue.get(gone?.id ?? ""), null);
        assert.deepEqual(await queue.list({ name, label: "R" }), []);
        assert.equal((await queue.enqueue(name, {}, { label: "R" })).duplicate, false, "the label is free");
      });

      test("after: the child waits for its parent and runs once the parent completed; rolled back, no edge is left", async (t) => {
        const { queue, app } = await openApp(t, harness, orm);
        const name = taskName();
        const parent = await queue.enqueue(name, { step: "parent" });
        const [child, sibling, nephew] = await app.enqueueIn(queue, true, [
          { name, data: { step: "child" }, options: { after: [parent.id] } },
          { name, data: { step: "sibling" } },
          // After a job of the same transaction.
          { name, data: { step: "nephew" }, options: (before) => ({ after: [before[1]!.id] }) },
        ]);
        assert.equal(child?.availableAt.getTime(), WAITING_FOR_PARENTS_AT);
        assert.deepEqual((await queue.dependencies(child!.id)).parents.map((job) => job.id), [parent.id]);
        assert.deepEqual((await queue.dependencies(nephew!.id)).parents.map((job) => job.id), [sibling!.id]);
        const [gone] = await app.enqueueIn(queue, false, [{ name, data: { step: "gone" }, options: { after: [parent.id] } }]);
        assert.equal(await queue.get(gone!.id), null);
        assert.deepEqual((await queue.dependencies(parent.id)).children.map((job) => job.id), [child!.id], "no edge of the rollback");

        const gate = new Signal();
        const order: string[] = [];
        queue.define<{ step: string }>(name, async (ctx) => {
          if (ctx.job.data.step === "parent") await gate.promise;
          order.push(ctx.job.data.step);
        }, { workers: 4 });
        await queue.start();
        const parentDone = queue.waitFor(parent.id);
        await within(queue.waitFor(nephew!.id), "the nephew");
        assert.equal((await queue.get(child!.id))?.status, "enqueued", "the child waits while its parent runs");
        gate.resolve();
        await within(parentDone, "the parent");
        await within(queue.waitFor(child!.id), "the child");
        assert.ok(order.indexOf("parent") < order.indexOf("child"));
      });
    });
  }
}

describe("adapters refuse what is not a transaction", () => {
  test("the Knex or Kysely instance itself, and a SqlTransaction on another SQLite file", async (t) => {
    const { queue, loc } = await setup(t, sqliteHarness);
    const knex = knexFactory({ client: "better-sqlite3", connection: { filename: sqliteFile(loc) }, useNullAsDefault: true });
    t.after(() => knex.destroy());
    assert.throws(() => fromKnex(knex), (error: unknown) => error instanceof ValidationError && /not a transaction/.test(error.message));
    const db = new Kysely<object>({ dialect: new SqliteDialect({ database: new Database(":memory:") }) });
    t.after(() => db.destroy());
    assert.throws(() => fromKysely(db), (error: unknown) => error instanceof ValidationError && /not a transaction/.test(error.message));

    const other = new Database(":memory:");
    t.after(() => other.close());
    const elsewhere = new SqlTransaction({ query: async (text, values) => other.prepare(text).all(...values) as Array<Record<string, unknown>> });
    await assert.rejects(queue.enqueue(taskName(), {}, { tx: elsewhere }),
      (error: unknown) => error instanceof ValidationError && error.field === "options.tx" && /queue's database file/.test(error.message));
  });
});
