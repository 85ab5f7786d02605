/**
 * What is specific to the SQLite store (migrations across processes, the user's better-sqlite3 handle as
 * `tx`, raw rows, driver errors), plus smoke checks of the operations. The shared conformance suite
 * covers the generic behaviour in depth.
 */
import "../leak-check.js";
import { fileURLToPath } from "node:url";
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { StoreError, ValidationError } from "../../src/errors.js";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { NewJob, StoredJob } from "../../src/store/store.js";
import { Signal, newJob, until, within } from "../helpers.js";
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

async function insertOne(store: SqliteStore, job: NewJob): Promise<string> {
  const [stored] = await store.jobInsertMany({ jobs: [job] });
  assert.ok(stored);
  return stored.id;
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

function isTxValidationError(error: unknown): boolean {
  return error instanceof ValidationError && error.field === "options.tx";
}

describe("SqliteStore migrations", () => {
  test("are numbered 1..n, recorded once, and a second migrate is a no-op", async () => {
    assert.ok(MIGRATIONS.length > 0);
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
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
    await withStore(async ({ file, store }) => {
      const db = new Database(file);
      try {
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
      } finally {
        db.close();
      }
    });
  });

  test("afterTransaction calls back once the user's transaction has ended, never while it is open", async () => {
    await withStore(async ({ file, store }) => {
      const db = new Database(file);
      try {
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
      } finally {
        db.close();
      }
    });
  });

  test("an insert inside a synchronous db.transaction(fn) is committed with it", async () => {
    await withStore(async ({ file, store }) => {
      const db = new Database(file);
      try {
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
      } finally {
        db.close();
      }
    });
  });

  test("a batch that fails halfway leaves nothing in the user's transaction", async () => {
    await withStore(async ({ file, store }) => {
      const db = new Database(file);
      try {
        db.exec("BEGIN");
        const broken = newJob("half", { data: "2", name: null as unknown as string });
        await assert.rejects(store.jobInsertMany({ jobs: [newJob("half", { data: "1" }), broken], tx: db }), StoreError);
        db.exec("COMMIT");
        assert.equal((await store.jobCountByStatus({ name: "half" })).enqueued, 0);
      } finally {
        db.close();
      }
    });
  });

  test("rows read through a handle that defaults to BigInt still map to the usual types", async () => {
    await withStore(async ({ file, store }) => {
      const db = new Database(file).defaultSafeIntegers(true);
      try {
        db.exec("BEGIN");
        const [job] = await store.jobInsertMany({ jobs: [newJob("bigint")], tx: db });
        db.exec("COMMIT");
        assert.equal(job?.id, "1");
        assert.equal(job?.attempts, 0);
        assert.equal(job?.createdAt.getTime(), T0);
      } finally {
        db.close();
      }
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

describe("SqliteStore rows it cannot decode", () => {
  test("invalid JSON data comes back as data: null with dataError; bad result and errors degrade too", async () => {
    await withStore(async ({ loc, store }) => {
      const id = await insertOne(store, newJob("corrupt"));
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

describe("SqliteStore smoke", () => {
  test("insert → claim → complete", async () => {
    await withStore(async ({ store, time }) => {
      const [job] = await store.jobInsertMany({ jobs: [newJob("mail", { data: '{"to":"a"}', label: "x", priority: 3 })] });
      assert.ok(job);
      assert.equal(job.status, "enqueued");
      assert.equal(job.label, "x");
      assert.equal(job.availableAt.getTime(), T0);
      assert.equal(job.dataError, undefined);

      time.now = T0 + 10;
      const [claimed] = (await store.jobClaim({ requests: [{ name: "mail", limit: 5, leaseMs: LEASE }] })).claimed;
      assert.equal(claimed?.status, "dequeued");
      assert.equal(claimed?.attempts, 1);
      assert.equal(claimed?.startedAt?.getTime(), T0 + 10);
      assert.equal(claimed?.availableAt.getTime(), T0 + 10 + LEASE);
      assert.deepEqual((await store.jobClaim({ requests: [{ name: "mail", limit: 5, leaseMs: LEASE }] })).claimed, []);

      assert.equal(await store.jobSetProgress({ ...{ id: job.id, attempt: 1 }, progress: 0.5 }), true);
      time.now = T0 + 20;
      assert.deepEqual(await store.jobCompleteMany({ items: [{ id: job.id, attempt: 1, result: '{"ok":true}' }] }), new Set([job.id]));
      const done = await store.jobGet({ id: job.id });
      assert.equal(done?.status, "completed");
      assert.deepEqual(done?.result, { ok: true });
      assert.equal(done?.reason, null);
      assert.equal(done?.progress, 0.5);
      assert.equal(done?.endedAt?.getTime(), T0 + 20);
      assert.equal(done?.finishedAt?.getTime(), T0 + 20);
    });
  });

  test("claims by priority, then availableAt, then id, each request limited separately", async () => {
    await withStore(async ({ store, time }) => {
      await insertOne(store, newJob("a"));
      const earlier = await insertOne(store, newJob("a", { delayMs: -5 }));
      const high = await insertOne(store, newJob("a", { priority: 9 }));
      const other = await insertOne(store, newJob("b"));
      time.now += 1;
      const claimed = (await store.jobClaim({ requests: [
        { name: "a", limit: 2, leaseMs: LEASE },
        { name: "b", limit: 2, leaseMs: LEASE },
      ] })).claimed;
      assert.deepEqual(
        claimed.map((job) => job.id),
        [high, earlier, other],
      );
    });
  });

  test("fencing: a stale attempt writes nothing", async () => {
    await withStore(async ({ store, time }) => {
      const id = await insertOne(store, newJob("fenced"));
      (await store.jobClaim({ requests: [{ name: "fenced", limit: 1, leaseMs: LEASE }] })).claimed;
      time.now += LEASE;
      const [again] = (await store.jobClaim({ requests: [{ name: "fenced", limit: 1, leaseMs: LEASE }] })).claimed;
      assert.equal(again?.attempts, 2);

      const stale = { id, attempt: 1 };
      assert.equal((await store.jobCompleteMany({ items: [{ ...stale, result: "1" }] })).size, 0);
      assert.equal(await store.jobFail({ ...stale, reason: "x", delayMs: 0, errors: "[]" }), null);
      assert.equal(await store.jobCancel({ ...stale, reason: "x", errors: null }), null);
      assert.equal((await store.jobExtendLeases({ items: [{ ...stale, leaseMs: 1 }] })).size, 0);
      assert.equal((await store.jobRelease({ items: [stale], reason: "x", unstarted: false })).size, 0);
      assert.equal(await store.jobSetProgress({ ...stale, progress: 1 }), false);
      assert.equal((await store.jobGet({ id: id }))?.status, "dequeued");

      time.now += 5;
      assert.deepEqual(await store.jobExtendLeases({ items: [{ id, attempt: 2, leaseMs: 100 }] }), new Set([id]));
      assert.equal((await store.jobGet({ id: id }))?.availableAt.getTime(), time.now + 100);
      assert.deepEqual(await store.jobRelease({ items: [{ id, attempt: 2 }], reason: "shutdown", unstarted: false }), new Set([id]));
      const released = await store.jobGet({ id: id });
      assert.equal(released?.status, "enqueued");
      assert.equal(released?.reason, "shutdown");
      assert.equal(released?.attempts, 2);
    });
  });

  test("fail with a delay uses the injected clock exactly; msUntilNextAvailable follows it", async () => {
    await withStore(async ({ store, time }) => {
      assert.equal(await store.jobNextAvailableIn({ names: ["retry"] }), null);
      const id = await insertOne(store, newJob("retry"));
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

  test("an operator's cancel applies to any unfinished job, keeping errors when none are given", async () => {
    await withStore(async ({ store, time }) => {
      const id = await insertOne(store, newJob("cancel"));
      time.now += 7;
      const cancelled = await store.jobCancel({ id, attempt: null, reason: "no longer needed", errors: null });
      assert.equal(cancelled?.status, "cancelled");
      assert.equal(cancelled?.finishedAt?.getTime(), T0 + 7);
      assert.deepEqual(cancelled?.errors, []);
      assert.equal(await store.jobCancel({ id, attempt: null, reason: "again", errors: null }), null);
    });
  });

  test("deleteFinished removes only completed/cancelled rows finished before the cutoff; ids are never reused", async () => {
    await withStore(async ({ store, time }) => {
      const [old1, old2, fresh, live, failing] = await store.jobInsertMany({ jobs: ["a", "b", "c", "d", "e"].map((n) => newJob(n)) });
      assert.ok(old1 && old2 && fresh && live && failing);
      (await store.jobClaim({ requests: ["a", "c", "e"].map((name) => ({ name, limit: 1, leaseMs: LEASE })) })).claimed;
      await store.jobCompleteMany({ items: [{ id: old1.id, attempt: 1, result: "null" }] });
      await store.jobCancel({ id: old2.id, attempt: null, reason: "x", errors: null });
      await store.jobFail({ id: failing.id, attempt: 1, reason: "x", delayMs: 0, errors: "[]" });
      time.now = T0 + 1000;
      await store.jobCompleteMany({ items: [{ id: fresh.id, attempt: 1, result: "null" }] });

      time.now = T0 + 10_000;
      assert.equal(await store.jobDeleteFinished({ olderThanMs: 9_500, limit: 0 }), 0);
      assert.equal(await store.jobDeleteFinished({ olderThanMs: 9_500, limit: 1 }), 1);
      assert.equal(await store.jobDeleteFinished({ olderThanMs: 9_500, limit: 100 }), 1);
      assert.equal(await store.jobDeleteFinished({ olderThanMs: 9_500, limit: 100 }), 0);
      const left = await store.jobList({ limit: 100 });
      assert.deepEqual(
        left.map((job) => job.id),
        [fresh.id, live.id, failing.id],
      );

      assert.equal(await store.jobDeleteFinished({ olderThanMs: 0, limit: 100 }), 1);
      const next = await insertOne(store, newJob("z"));
      assert.ok(Number(next) > Number(failing.id));
      assert.ok(Number(next) > Number(fresh.id));
    });
  });

  test("countJobs reports all five statuses; listJobs filters and pages by numeric id", async () => {
    await withStore(async ({ store }) => {
      assert.deepEqual(await store.jobCountByStatus({ name: "none" }), { enqueued: 0, dequeued: 0, completed: 0, failed: 0, cancelled: 0 });
      const jobs = await store.jobInsertMany({ jobs: Array.from({ length: 12 }, (_, i) => newJob(i % 2 === 0 ? "even" : "odd", { data: String(i) })) });
      (await store.jobClaim({ requests: [{ name: "even", limit: 2, leaseMs: LEASE }] })).claimed;
      assert.deepEqual(await store.jobCountByStatus({}), { enqueued: 10, dequeued: 2, completed: 0, failed: 0, cancelled: 0 });
      assert.deepEqual(await store.jobCountByStatus({ name: "odd" }), { enqueued: 6, dequeued: 0, completed: 0, failed: 0, cancelled: 0 });

      assert.deepEqual(
        (await store.jobList({ afterId: "9", limit: 10 })).map((job) => job.id),
        ["10", "11", "12"],
      );
      assert.deepEqual(
        (await store.jobList({ name: "even", status: "enqueued", afterId: "1", limit: 2 })).map((job) => job.data),
        [4, 6],
      );
      assert.equal((await store.jobList({ status: "dequeued", limit: 10 })).length, 2);
      assert.equal((await store.jobList({ limit: 0 })).length, 0);
      assert.equal(jobs.length, 12);
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
