/**
 * What is specific to the SQLite store (migrations across processes, the user's better-sqlite3 handle as
 * `tx`, raw rows, its injected clock, driver errors). The shared conformance suite
 * (test/conformance/store-suite.ts) covers the generic behaviour in depth.
 */
import "../leak-check.js";
import { fileURLToPath } from "node:url";
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { StoreError, ValidationError } from "../../src/errors.js";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import * as sql from "../../src/store/sqlite/sql.js";
import type { StoredJob } from "../../src/store/store.js";
import { Signal, insertOne, newJob, until, within } from "../helpers.js";
import { runReleasedTogether } from "../process/spawn.js";
import type { TestLocation } from "../harness/harness.js";
import { sqliteHarness } from "../harness/sqlite.js";

const T0 = Date.UTC(2030, 0, 1);
const LEASE = 30_000;

interface Context {
  loc: TestLocation;
  file: string;
  store: SqliteStore;
  /** The store's fake clock: set `time.now` to move it. */
  time: { now: number };
}

/** A fresh file with a migrated store on a fake clock; everything is closed and removed afterwards. */
async function withStore(fn: (ctx: Context) => Promise<void>, options: { busyTimeoutMs?: number } = {}): Promise<void> {
  const loc = await sqliteHarness.fresh();
  const file = loc.url.slice("sqlite:".length);
  const time = { now: T0 };
  const store = new SqliteStore({ filename: file, clock: () => time.now, ...options });
  try {
    await store.migrate();
    await fn({ loc, file, store, time });
  } finally {
    await store.close();
    await loc.drop();
  }
}

/** `db` behind a proxy that counts reads of `inTransaction`: each poll of `afterTransaction` is one. */
function countingTransactionReads(db: Database.Database): { handle: Database.Database; reads(): number } {
  let reads = 0;
  const handle = new Proxy(db, {
    get(target, property) {
      if (property === "inTransaction") reads++;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { handle, reads: () => reads };
}

/** `withStore`, plus the user's own better-sqlite3 handle `db` on the same file (closed afterwards). */
async function withUserHandle(fn: (ctx: Context & { db: Database.Database }) => Promise<void>): Promise<void> {
  await withStore(async (ctx) => {
    const db = new Database(ctx.file);
    try {
      await fn({ ...ctx, db });
    } finally {
      db.close();
    }
  });
}

function isTxValidationError(error: unknown): boolean {
  return error instanceof ValidationError && error.field === "options.tx";
}

describe("SqliteStore migrations", () => {
  test("are numbered from 1 upwards (versions are assigned per feature, so gaps are allowed), recorded once, and a second migrate is a no-op", async () => {
    assert.ok(MIGRATIONS.length > 0);
    assert.equal(MIGRATIONS[0]?.version, 1);
    assert.ok(MIGRATIONS.every((m, i) => i === 0 || m.version > (MIGRATIONS[i - 1]?.version ?? 0)), "strictly increasing");
    await withStore(async ({ loc, store, time }) => {
      const before = await loc.exec("SELECT * FROM hewn_migrations ORDER BY version");
      assert.deepEqual(
        before.map((row) => row.version),
        MIGRATIONS.map((m) => m.version),
      );
      assert.equal(before[0]?.applied_at, T0);
      time.now += 1000;
      await store.migrate();
      assert.deepEqual(await loc.exec("SELECT * FROM hewn_migrations ORDER BY version"), before);
    });
  });

  test("several processes migrating one fresh file at once all succeed, each version applied once", async () => {
    const loc = await sqliteHarness.fresh();
    try {
      const file = loc.url.slice("sqlite:".length);
      const fixture = fileURLToPath(new URL("../fixtures/sqlite-migrate.ts", import.meta.url));
      const children = await runReleasedTogether(fixture, Array.from({ length: 4 }, () => ({ filename: file })));
      for (const { code, stderr } of children) assert.equal(code, 0, stderr);

      const ledger = await loc.exec("SELECT version, COUNT(*) AS n FROM hewn_migrations GROUP BY version ORDER BY version");
      assert.deepEqual(
        ledger,
        MIGRATIONS.map((m) => ({ version: m.version, n: 1 })),
      );
      const store = await loc.openStore();
      assert.equal((await store.jobInsertMany({ jobs: [newJob("after-race")] })).length, 1);
    } finally {
      await loc.drop();
    }
  });

  test("a fresh file gets WAL; the store's connection is durable and enforces foreign keys", async () => {
    await withStore(async ({ loc, store }) => {
      assert.deepEqual(await loc.exec("PRAGMA journal_mode"), [{ journal_mode: "wal" }]);
      // Per-connection settings are only visible on the store's own handle.
      const db = Reflect.get(store, "db") as Database.Database;
      assert.equal(db.pragma("synchronous", { simple: true }), 2);
      assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
      assert.equal(db.pragma("busy_timeout", { simple: true }), 5000);
    });
  });
});

describe("SqliteStore with the user's better-sqlite3 handle as tx", () => {
  test("an insert inside BEGIN … ROLLBACK leaves nothing; inside BEGIN … COMMIT it is stored", async () => {
    await withUserHandle(async ({ db, store }) => {
      db.exec("BEGIN");
      const [rolledBack] = await store.jobInsertMany({ jobs: [newJob("tx", { data: '{"n":1}' })], tx: db });
      assert.ok(rolledBack);
      db.exec("ROLLBACK");
      assert.equal(await store.jobGet({ id: rolledBack.id }), null);

      db.exec("BEGIN");
      const [committed] = await store.jobInsertMany({ jobs: [newJob("tx", { data: '{"n":2}' })], tx: db });
      assert.ok(committed);
      assert.equal(await store.jobGet({ id: committed.id }), null, "invisible before COMMIT");
      db.exec("COMMIT");
      assert.deepEqual((await store.jobGet({ id: committed.id }))?.data, { n: 2 });
    });
  });

  test("afterTransaction calls back once the user's transaction has ended, never while it is open", async () => {
    await withUserHandle(async ({ db, store }) => {
      let earlier: { watched: ReturnType<typeof countingTransactionReads>; readsAtCallback: number } | undefined;
      for (const end of ["COMMIT", "ROLLBACK"]) {
        db.exec("BEGIN");
        await store.jobInsertMany({ jobs: [newJob("tx")], tx: db });
        const watched = countingTransactionReads(db);
        const called = new Signal();
        let calls = 0;
        store.afterTransaction(watched.handle, () => {
          calls++;
          called.resolve();
        });
        // Every poll reads inTransaction: five polls saw the transaction open, and none called back.
        const registered = watched.reads();
        await until(() => watched.reads() >= registered + 5, `five polls before ${end}`);
        assert.equal(calls, 0, `called back before ${end}`);
        db.exec(end);
        await within(called.promise, `the callback after ${end}`);
        assert.equal(calls, 1);
        // Pollers share one timer list and fire in turn: the five polls above would have included
        // the earlier poller had it not stopped after its callback.
        if (earlier) assert.equal(earlier.watched.reads(), earlier.readsAtCallback, "the earlier poller stopped");
        earlier = { watched, readsAtCallback: watched.reads() };
      }
    });
  });

  test("an insert inside a synchronous db.transaction(fn) is committed with it", async () => {
    await withUserHandle(async ({ db, store }) => {
      let inserted: Promise<StoredJob[]> | undefined;
      // better-sqlite3 refuses a transaction function that returns a promise, so keep it aside.
      db.transaction(() => {
        inserted = store.jobInsertMany({ jobs: [newJob("sync", { data: "1" }), newJob("sync", { data: "2" })], tx: db });
      })();
      assert.ok(inserted);
      const jobs = await inserted;
      assert.deepEqual(
        jobs.map((job) => job.data),
        [1, 2],
      );
      assert.ok(Number(jobs[0]?.id) < Number(jobs[1]?.id));
      assert.equal((await store.jobCountByStatus({ name: "sync" })).enqueued, 2);
    });
  });

  test("a batch that fails halfway leaves nothing in the user's transaction", async () => {
    await withUserHandle(async ({ db, store }) => {
      db.exec("BEGIN");
      const broken = newJob("half", { data: "2", name: null as unknown as string });
      await assert.rejects(store.jobInsertMany({ jobs: [newJob("half", { data: "1" }), broken], tx: db }), StoreError);
      db.exec("COMMIT");
      assert.equal((await store.jobCountByStatus({ name: "half" })).enqueued, 0);
    });
  });

  test("rows read through a handle that defaults to BigInt still map to the usual types", async () => {
    await withUserHandle(async ({ db, store }) => {
      db.defaultSafeIntegers(true);
      db.exec("BEGIN");
      const [job] = await store.jobInsertMany({ jobs: [newJob("bigint")], tx: db });
      db.exec("COMMIT");
      assert.equal(job?.id, "1");
      assert.equal(job?.attempts, 0);
      assert.equal(job?.createdAt.getTime(), T0);
    });
  });

  test("a handle outside a transaction, on another file, or not a handle at all is refused; nothing is stored", async () => {
    await withStore(async ({ file, store }) => {
      const idle = new Database(file);
      const other = await sqliteHarness.fresh();
      const elsewhere = new Database(other.url.slice("sqlite:".length));
      try {
        elsewhere.exec("BEGIN");
        for (const tx of [idle, elsewhere, {}, { prepare: "no" }, "db"]) {
          await assert.rejects(async () => store.jobInsertMany({ jobs: [newJob("refused")], tx: tx }), isTxValidationError);
        }
        elsewhere.exec("ROLLBACK");
        assert.deepEqual(await store.jobCountByStatus({}), { enqueued: 0, dequeued: 0, completed: 0, failed: 0, cancelled: 0 });
      } finally {
        idle.close();
        elsewhere.close();
        await other.drop();
      }
    });
  });

  test("afterTransaction calls back at once outside a transaction, and reports a throwing callback", async () => {
    const errors: Error[] = [];
    const loc = await sqliteHarness.fresh();
    const store = new SqliteStore({ filename: loc.url.slice("sqlite:".length), onError: (e) => errors.push(e) });
    const idle = new Database(":memory:");
    try {
      let called = 0;
      store.afterTransaction(idle, () => called++);
      assert.equal(called, 1);
      store.afterTransaction(undefined, () => {
        throw new Error("boom");
      });
      assert.deepEqual(
        errors.map((e) => e.message),
        ["boom"],
      );
    } finally {
      idle.close();
      await store.close();
      await loc.drop();
    }
  });
});

describe("SqliteStore batched statements", () => {
  test("a batch of completions looks each job up by primary key, whatever the table holds", async () => {
    await withStore(async ({ file, store }) => {
      // Enough rows for the planner to prefer an index over a scan, in every status a listing indexes.
      for (let i = 0; i < 50; i++) await insertOne(store, newJob("plan"));
      const db = new Database(file);
      try {
        db.exec("ANALYZE");
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql.COMPLETE_JOBS}`).all({ items: "[[1,1,\"null\"]]", now: T0 }) as Array<{ detail: string }>;
        const details = plan.map((row) => row.detail);
        assert.ok(details.some((detail) => /SEARCH hewn_jobs USING INTEGER PRIMARY KEY/.test(detail)), details.join("; "));
        assert.ok(!details.some((detail) => /hewn_jobs USING (COVERING )?INDEX/.test(detail)), details.join("; "));
      } finally {
        db.close();
      }
    });
  });

  test("a batch insert returns each job exactly as it reads back, in the batch's order", async () => {
    await withStore(async ({ store, time }) => {
      const jobs = [
        newJob("batch-a"), newJob("batch-b", { delayMs: 1_500, priority: 7 }), newJob("batch-a", { group: "tenant-1", data: "{\"x\":[1,\"é\"]}" }),
        newJob("batch-c", { traceContext: "{\"traceparent\":\"00-1-2-01\"}", priority: -3 }),
      ];
      time.now += 1;
      const stored = await store.jobInsertMany({ jobs });
      assert.deepEqual(stored.map((job) => job.name), ["batch-a", "batch-b", "batch-a", "batch-c"]);
      assert.deepEqual(stored.map((job) => Number(job.id)), [...stored.map((job) => Number(job.id))].sort((a, b) => a - b));
      for (const job of stored) {
        const { duplicate, ...inserted } = job;
        assert.equal(duplicate, false);
        assert.deepEqual(inserted, await store.jobGet({ id: job.id }));
      }
    });
  });

  test("completions with ids that are not row ids write nothing and break nothing", async () => {
    await withStore(async ({ store }) => {
      const job = await insertOne(store, newJob("odd-ids"));
      const { claimed } = await store.jobClaim({ requests: [{ name: "odd-ids", limit: 1, leaseMs: LEASE }] });
      assert.equal(claimed[0]?.id, job.id);
      const written = await store.jobCompleteMany({ items: [
        { id: `${job.id}abc`, attempt: 1, result: "1" }, { id: "0", attempt: 1, result: "2" }, { id: "-1", attempt: 1, result: "3" },
        { id: job.id, attempt: 1, result: "{\"ok\":true}" },
      ] });
      assert.deepEqual([...written], [job.id]);
      assert.deepEqual((await store.jobGet({ id: job.id }))?.result, { ok: true });
    });
  });
});

describe("SqliteStore rows it cannot decode", () => {
  test("invalid JSON data comes back as data: null with dataError; bad result and errors degrade too", async () => {
    await withStore(async ({ loc, store }) => {
      const { id } = await insertOne(store, newJob("corrupt"));
      await loc.exec("UPDATE {table} SET data = ?, result = ?, errors = ? WHERE id = ?", ["{not json", "nor this", "[", id]);

      const [claimed] = (await store.jobClaim({ requests: [{ name: "corrupt", limit: 10, leaseMs: LEASE }] })).claimed;
      assert.equal(claimed?.id, id);
      assert.equal(claimed?.data, null);
      assert.equal(typeof claimed?.dataError, "string");
      assert.equal(claimed?.result, null);
      assert.deepEqual(claimed?.errors, []);

      const fetched = await store.jobGet({ id: id });
      assert.equal(fetched?.data, null);
      assert.ok(fetched?.dataError);
      assert.equal((await store.jobList({ name: "corrupt", limit: 10 }))[0]?.data, null);
    });
  });
});

describe("SqliteStore on its injected clock", () => {
  test("every time it writes is the clock's: insert, claim, extend, complete, cancel, release", async () => {
    await withStore(async ({ store, time }) => {
      const [job, cancelled, released] = await store.jobInsertMany({ jobs: [newJob("mail"), newJob("other"), newJob("back")] });
      assert.ok(job && cancelled && released);
      assert.equal(job.createdAt.getTime(), T0);
      assert.equal(job.availableAt.getTime(), T0);

      time.now = T0 + 10;
      const [claimed] = (await store.jobClaim({ requests: [{ name: "mail", limit: 5, leaseMs: LEASE }] })).claimed;
      assert.equal(claimed?.startedAt?.getTime(), T0 + 10);
      assert.equal(claimed?.availableAt.getTime(), T0 + 10 + LEASE);
      time.now = T0 + 15;
      assert.deepEqual(await store.jobExtendLeases({ items: [{ id: job.id, attempt: 1, leaseMs: 100 }] }), new Set([job.id]));
      assert.equal((await store.jobGet({ id: job.id }))?.availableAt.getTime(), T0 + 15 + 100);
      time.now = T0 + 20;
      assert.deepEqual(await store.jobCompleteMany({ items: [{ id: job.id, attempt: 1, result: "null" }] }), new Set([job.id]));
      const done = await store.jobGet({ id: job.id });
      assert.equal(done?.endedAt?.getTime(), T0 + 20);
      assert.equal(done?.finishedAt?.getTime(), T0 + 20);

      time.now = T0 + 30;
      const stopped = await store.jobCancel({ id: cancelled.id, attempt: null, reason: "no longer needed", errors: null });
      assert.equal(stopped?.endedAt?.getTime(), T0 + 30);
      assert.equal(stopped?.finishedAt?.getTime(), T0 + 30);

      (await store.jobClaim({ requests: [{ name: "back", limit: 1, leaseMs: LEASE }] })).claimed;
      time.now = T0 + 40;
      assert.deepEqual(await store.jobRelease({ items: [{ id: released.id, attempt: 1 }], reason: "shutdown", unstarted: false }), new Set([released.id]));
      const back = await store.jobGet({ id: released.id });
      assert.equal(back?.endedAt?.getTime(), T0 + 40);
      assert.equal(back?.availableAt.getTime(), T0, "back where it stood in line before the claim");
    });
  });

  test("fail with a delay uses the injected clock exactly; msUntilNextAvailable follows it", async () => {
    await withStore(async ({ store, time }) => {
      assert.equal(await store.jobNextAvailableIn({ names: ["retry"] }), null);
      const { id } = await insertOne(store, newJob("retry"));
      assert.equal(await store.jobNextAvailableIn({ names: ["retry", "unknown"] }), 0);
      (await store.jobClaim({ requests: [{ name: "retry", limit: 1, leaseMs: LEASE }] })).claimed;
      assert.equal(await store.jobNextAvailableIn({ names: ["retry"] }), LEASE, "a lease expiry counts");

      time.now = T0 + 123;
      const errors = JSON.stringify([{ attempt: 1, at: new Date(time.now).toISOString(), message: "nope" }]);
      const failed = await store.jobFail({ id, attempt: 1, reason: "nope", delayMs: 5000, errors });
      assert.equal(failed?.status, "failed");
      assert.equal(failed?.endedAt?.getTime(), T0 + 123);
      assert.equal(failed?.availableAt.getTime(), T0 + 123 + 5000);
      assert.equal(failed?.errors[0]?.message, "nope");
      assert.equal(await store.jobNextAvailableIn({ names: ["retry"] }), 5000);
      assert.equal(await store.jobNextAvailableIn({ names: ["unknown"] }), null);

      time.now = T0 + 123 + 4999;
      assert.equal(await store.jobNextAvailableIn({ names: ["retry"] }), 1);
      assert.deepEqual((await store.jobClaim({ requests: [{ name: "retry", limit: 1, leaseMs: LEASE }] })).claimed, []);
      time.now += 1;
      assert.equal(((await store.jobClaim({ requests: [{ name: "retry", limit: 1, leaseMs: LEASE }] })).claimed)[0]?.attempts, 2);
    });
  });

  test("deleteFinished cuts off exactly olderThanMs before the clock's now", async () => {
    await withStore(async ({ store, time }) => {
      const [job] = await store.jobInsertMany({ jobs: [newJob("old")] });
      assert.ok(job);
      await store.jobCancel({ id: job.id, attempt: null, reason: "x", errors: null }); // finished at T0
      time.now = T0 + 10_000;
      assert.equal(await store.jobDeleteFinished({ olderThanMs: 10_000, limit: 10 }), 0, "finished exactly 10 s ago: not more than that");
      assert.equal(await store.jobDeleteFinished({ olderThanMs: 9_999, limit: 10 }), 1);
    });
  });
});

describe("SqliteStore driver errors", () => {
  test("a write lock held longer than busyTimeoutMs fails as a StoreError carrying the driver's error", async () => {
    await withStore(
      async ({ file, store }) => {
        const holder = new Database(file);
        try {
          holder.exec("BEGIN IMMEDIATE");
          const started = Date.now();
          await assert.rejects(store.jobClaim({ requests: [{ name: "x", limit: 1, leaseMs: LEASE }] }).then((r) => r.claimed), (error: unknown) => {
            assert.ok(error instanceof StoreError);
            assert.equal((error.cause as { code?: string }).code, "SQLITE_BUSY");
            return true;
          });
          assert.ok(Date.now() - started >= 40, "it waited for the lock first");
        } finally {
          holder.close();
        }
      },
      { busyTimeoutMs: 50 },
    );
  });

  test("close is idempotent and later calls reject with StoreError; listen is a no-op", async () => {
    await withStore(async ({ store }) => {
      const stop = await store.listen({ names: ["a"], onWake: () => assert.fail("no wake-ups expected"), onError: () => undefined });
      await stop();
      await store.close();
      await store.close();
      await assert.rejects(store.jobGet({ id: "1" }), StoreError);
      await assert.rejects(store.jobInsertMany({ jobs: [newJob("late")] }), StoreError);
    });
  });
});
