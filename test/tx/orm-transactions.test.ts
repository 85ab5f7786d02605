/**
 * Enqueueing inside the transactions of the ORMs people use, against the real databases: Knex, Kysely
 * and Drizzle, each on PostgreSQL and on SQLite (Prisma, which needs a generated client, is in
 * prisma.test.ts). For each: rolled back → no job (and no order row); committed → the job runs; and the
 * worker is woken by the commit itself: the task polls only once a minute, so a job that runs within
 * the test's wait was woken, and one woken before the commit would not have been claimable yet.
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
  SqlTransaction, ValidationError, fromDrizzle, fromKnex, fromKysely, type Job, type Queue,
} from "../../src/index.js";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { postgresHarness, databaseUrl } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { Signal, newJob, setup, taskName, within } from "../helpers.js";

/** The application's side of one test: an ORM on the test location with an `orders` table. */
interface App {
  /** In one ORM transaction: inserts an order, enqueues `name` with `data`, then commits, or throws to roll back. */
  placeOrder(queue: Queue, name: string, data: { order: number }, commit: boolean): Promise<Job<{ order: number }>>;
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
    });
  }
}

for (const { harness } of STORES) {
  const skip = harness.kind === "postgres" ? ((await postgresHarness.skipReason()) ?? false) : false;
  test(`${harness.kind}: a job with parents (after) through an ORM's transaction is refused, not stored without them`, { skip }, async (t) => {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    const store = await loc.openStore();
    const knex = knexFactory(harness.kind === "postgres"
      ? { client: "pg", connection: databaseUrl, pool: { min: 0, max: 1 } }
      : { client: "better-sqlite3", connection: { filename: sqliteFile(loc) }, useNullAsDefault: true });
    t.after(() => knex.destroy());
    const name = taskName();
    const [parent] = await store.jobInsertMany({ jobs: [newJob(name)] });
    const child = newJob(name, { after: { ids: [parent?.id ?? ""], indexes: [] } });
    await assert.rejects(knex.transaction((trx) => store.jobInsertMany({ jobs: [child], tx: fromKnex(trx) })),
      (error: unknown) => error instanceof ValidationError && error.field === "options.after");
    assert.equal((await store.jobCountByStatus({ name })).enqueued, 1, "only the parent");
  });
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
