/**
 * PostgreSQL-specific behaviour of the store (migrations across processes, transactional enqueue and
 * NOTIFY, listener reconnects, database time, schema names, pool ownership). Generic store semantics
 * are covered by the shared conformance suite (test/conformance/store-suite.ts).
 */
import "../leak-check.js";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { StoreError, ValidationError } from "../../src/errors.js";
import { LISTENER_APPLICATION_NAME } from "../../src/store/postgres/listener.js";
import { MIGRATIONS } from "../../src/store/postgres/migrations.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { channelName } from "../../src/store/postgres/sql.js";
import type { Store } from "../../src/store/store.js";
import type { TestLocation } from "../harness/harness.js";
import { databaseUrl, postgresHarness } from "../harness/postgres.js";
import { newJob, until, within } from "../helpers.js";
import { leakedSince, resources } from "../leak-check.js";
import { runReleasedTogether } from "../process/spawn.js";

const migrateFixture = fileURLToPath(new URL("../fixtures/postgres-migrate.ts", import.meta.url));
const skip = await postgresHarness.skipReason();

async function freshStore(t: { after(fn: () => Promise<void>): void }): Promise<{ location: TestLocation; store: Store; schema: string }> {
  const location = await postgresHarness.fresh();
  t.after(() => location.drop());
  const store = await location.openStore();
  return { location, store, schema: location.schema ?? "" };
}

/** Runs one statement on a connection of its own, closed before it returns (no pool left open meanwhile). */
async function queryOnce(text: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

/** Records wake-ups with their arrival time and lets a test await the next one for a name. */
function wakeRecorder() {
  const wakes: Array<{ name: string; at: number }> = [];
  const waiters: Array<{ name: string; resolve: (at: number) => void }> = [];
  return {
    wakes,
    onWake(name: string) {
      const at = performance.now();
      wakes.push({ name, at });
      for (const waiter of waiters.filter((w) => w.name === name)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(at);
      }
    },
    next(name: string): Promise<number> {
      return within(new Promise<number>((resolve) => waiters.push({ name, resolve })), `a wake-up for ${name}`);
    },
  };
}

describe("PostgresStore", { skip: skip ?? false }, () => {
  describe("migrations", () => {
    test("several processes migrating one fresh schema at once: all succeed, each version recorded once", async (t) => {
      const location = await postgresHarness.fresh();
      t.after(() => location.drop());
      const schema = location.schema ?? "";
      const children = await runReleasedTogether(migrateFixture, Array.from({ length: 4 }, () => ({ url: location.url, schema })));
      for (const child of children) assert.equal(child.code, 0, child.stderr);

      const ledger = await location.exec(`SELECT version, count(*)::int AS n FROM "${schema}".migrations GROUP BY version ORDER BY version`);
      assert.deepEqual(ledger, MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
      assert.deepEqual(await location.exec("SELECT count(*)::int AS n FROM {table}"), [{ n: 0 }]);
    });

    test("migrating again is a no-op; the table has its indexes and fillfactor", async (t) => {
      const { location, store, schema } = await freshStore(t);
      const before = await location.exec(`SELECT version, name, applied_at FROM "${schema}".migrations ORDER BY version`);
      await store.migrate();
      await store.migrate();
      assert.deepEqual(await location.exec(`SELECT version, name, applied_at FROM "${schema}".migrations ORDER BY version`), before);

      const indexes = await location.exec(
        "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'jobs' ORDER BY indexname", [schema]);
      assert.deepEqual(indexes.map((row) => row.indexname),
        ["jobs_finished_idx", "jobs_group_idx", "jobs_label_idx", "jobs_name_id_idx", "jobs_pkey", "jobs_runnable_idx", "jobs_runnable_priority_idx", "jobs_status_id_idx", "jobs_unique_key_idx"]);
      const [options] = await location.exec("SELECT reloptions FROM pg_class WHERE oid = $1::regclass", [`"${schema}".jobs`]);
      assert.deepEqual(options?.reloptions, ["fillfactor=80"]);
    });
  });

  describe("transactional insert and NOTIFY", () => {
    test("an insert through a user's client is visible, and wakes listeners, only after COMMIT", async (t) => {
      const { store } = await freshStore(t);
      const recorder = wakeRecorder();
      const errors: Error[] = [];
      const stop = await store.listen({ names: ["tx-kept", "tx-rolled", "tx-probe"], onWake: recorder.onWake, onError: (e) => errors.push(e) });
      t.after(stop);
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      t.after(() => client.end());

      // Rolled back: never visible, never announced.
      await client.query("BEGIN");
      const [rolled] = await store.jobInsertMany({ jobs: [newJob("tx-rolled")], tx: client });
      assert.ok(rolled);
      await client.query("ROLLBACK");
      assert.equal(await store.jobGet({ id: rolled.id }), null);

      // Committed: invisible and silent until COMMIT.
      await client.query("BEGIN");
      const [kept] = await store.jobInsertMany({ jobs: [newJob("tx-kept", { data: '{"b":1,"a":[2]}' })], tx: client });
      assert.ok(kept);
      assert.equal(await store.jobGet({ id: kept.id }), null);
      // A probe committed meanwhile notifies on the same channel. Notifications arrive in commit order,
      // so one sent early for either insert above (outside its transaction) would arrive before it.
      const probed = recorder.next("tx-probe");
      await store.jobInsertMany({ jobs: [newJob("tx-probe")] });
      await probed;
      assert.deepEqual(recorder.wakes.map((w) => w.name), ["tx-probe"]);
      const woken = recorder.next("tx-kept");
      const committedAt = performance.now();
      await client.query("COMMIT");
      assert.ok((await woken) >= committedAt, "the wake-up arrived before COMMIT");
      assert.equal((await store.jobGet({ id: kept.id }))?.status, "enqueued");
      assert.deepEqual(recorder.wakes.map((w) => w.name), ["tx-probe", "tx-kept"]);
      assert.deepEqual(errors, []);
    });

    test("tx must be a client with query(); anything else is a ValidationError on options.tx", async (t) => {
      const { store, location } = await freshStore(t);
      for (const bad of [{}, "client", 42, { query: "SELECT 1" }]) {
        await assert.rejects(store.jobInsertMany({ jobs: [newJob("x")], tx: bad }), (e: unknown) => e instanceof ValidationError && e.field === "options.tx");
      }
      assert.deepEqual(await location.exec("SELECT count(*)::int AS n FROM {table}"), [{ n: 0 }]);
    });

    test("the payload text is kept exactly (json, not jsonb) and one NOTIFY goes out per available name", async (t) => {
      const { store, location } = await freshStore(t);
      const recorder = wakeRecorder();
      const stop = await store.listen({ names: ["n-a", "n-b", "n-later", "n-probe"], onWake: recorder.onWake, onError: () => undefined });
      t.after(stop);
      const data = '{"z":1,"a":{"y":[1,2.50,"x"],"b":null}}';
      const jobs = await store.jobInsertMany({ jobs: [
        newJob("n-a", { data }), newJob("n-b"), newJob("n-a"), newJob("n-later", { delayMs: 60_000 }),
      ] });
      assert.deepEqual(jobs.map((j) => j.name), ["n-a", "n-b", "n-a", "n-later"]);
      assert.deepEqual(jobs.map((j) => BigInt(j.id)), [...jobs.map((j) => BigInt(j.id))].sort((x, y) => (x < y ? -1 : 1)));
      assert.deepEqual(jobs[0]?.data, JSON.parse(data));
      const [row] = await location.exec("SELECT data::text AS text FROM {table} WHERE id = $1", [jobs[0]?.id]);
      assert.equal(row?.text, data);
      // A later transaction's notification arrives after all of the insert's: then they are all in.
      const probed = recorder.next("n-probe");
      await store.jobInsertMany({ jobs: [newJob("n-probe")] });
      await probed;
      const names = recorder.wakes.map((w) => w.name);
      assert.equal(names.pop(), "n-probe");
      assert.deepEqual(names.sort(), ["n-a", "n-b"]);
    });
  });

  test("a batch insert returns each job exactly as it reads back, in the batch's order", async (t) => {
    const { store } = await freshStore(t);
    const jobs = [
      newJob("batch-a"), newJob("batch-b", { delayMs: 1_500, priority: 7 }), newJob("batch-a", { group: "tenant-1", data: "{\"x\":[1,\"é\"]}" }),
      newJob("batch-c", { traceContext: "{\"traceparent\":\"00-1-2-01\"}", priority: -3 }),
    ];
    const stored = await store.jobInsertMany({ jobs });
    assert.deepEqual(stored.map((job) => job.name), ["batch-a", "batch-b", "batch-a", "batch-c"]);
    assert.deepEqual(stored.map((job) => BigInt(job.id)), stored.map((job) => BigInt(job.id)).sort((a, b) => (a < b ? -1 : 1)));
    for (const job of stored) {
      const { duplicate, ...inserted } = job;
      assert.notEqual(duplicate, true);
      assert.deepEqual(inserted, await store.jobGet({ id: job.id }));
    }
  });

  test("releasing leased jobs makes them available at once and wakes listeners", async (t) => {
    const { store } = await freshStore(t);
    const recorder = wakeRecorder();
    const stop = await store.listen({ names: ["rel"], onWake: recorder.onWake, onError: () => undefined });
    t.after(stop);
    const inserted = recorder.next("rel");
    await store.jobInsertMany({ jobs: [newJob("rel")] });
    await inserted;
    const [claimed] = (await store.jobClaim({ requests: [{ name: "rel", limit: 1, leaseMs: 60_000 }] })).claimed;
    assert.ok(claimed);
    const released = recorder.next("rel");
    assert.deepEqual(await store.jobRelease({ items: [{ id: claimed.id, attempt: claimed.attempts }], reason: "shutting down", unstarted: false }), new Set([claimed.id]));
    await released;
    const job1 = await store.jobGet({ id: claimed.id });
    assert.equal(job1?.status, "enqueued");
    assert.equal(job1.reason, "shutting down");
    assert.equal(job1.attempts, 1);
    assert.equal(await store.jobNextAvailableIn({ names: ["rel"] }), 0);
  });

  describe("listener", () => {
    test("reconnects after its backend is terminated, wakes every name, then keeps working", async (t) => {
      const { store, schema, location } = await freshStore(t);
      const recorder = wakeRecorder();
      const errors: Error[] = [];
      const stop = await store.listen({ names: ["l-a", "l-b"], onWake: recorder.onWake, onError: (e) => errors.push(e) });
      t.after(stop);

      const findBackends = () => location.exec(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%' AND query LIKE $2",
        [LISTENER_APPLICATION_NAME, `%"${channelName(schema)}"%`]);
      const [backend] = await findBackends();
      assert.ok(backend, "listener session not found");
      const reconnected = Promise.all([recorder.next("l-a"), recorder.next("l-b")]);
      await location.exec("SELECT pg_terminate_backend($1)", [backend.pid]);
      await reconnected;
      assert.ok(errors.length >= 1, "onError was not told about the lost connection");
      assert.ok(errors.every((e) => e instanceof StoreError));

      const [after] = await findBackends();
      assert.ok(after && after.pid !== backend.pid, "no new listener session");
      const woken = recorder.next("l-b");
      await store.jobInsertMany({ jobs: [newJob("l-b")] });
      await woken;

      await stop();
      await stop();
      await until(async () => (await findBackends()).length === 0, "the listener session to close");
    });

    test("a listener stopped while reconnecting stays stopped", async (t) => {
      const { store, schema } = await freshStore(t);
      const sessions = `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE $2`;
      const params = [LISTENER_APPLICATION_NAME, `%"${channelName(schema)}"%`];
      const before = resources();
      const errors: Error[] = [];
      const stop = await store.listen({ names: ["s-a"], onWake: () => undefined, onError: (e) => errors.push(e) });
      assert.equal((await queryOnce(`SELECT pg_terminate_backend(pid) FROM (${sessions}) AS listener`, params)).length, 1);
      await until(() => errors.length > 0, "the loss to be reported");
      await stop();
      // Nothing of the listener is left in this process, no reconnect timer nor connection: nothing can
      // reconnect it later.
      assert.deepEqual(await leakedSince(before), []);
      await until(async () => (await queryOnce(sessions, params)).length === 0, "the terminated session to be gone");
    });
  });

  describe("time comes from the database", () => {
    test("availableAt and delays are computed from now() in SQL", async (t) => {
      const { store } = await freshStore(t);
      const [now] = await store.jobInsertMany({ jobs: [newJob("time")] });
      assert.ok(now);
      assert.equal(now.availableAt.getTime(), now.createdAt.getTime());

      const [claimed] = (await store.jobClaim({ requests: [{ name: "time", limit: 1, leaseMs: 30_000 }] })).claimed;
      assert.ok(claimed?.startedAt);
      assert.equal(claimed.availableAt.getTime() - claimed.startedAt.getTime(), 30_000);
      const failed = await store.jobFail({ id: claimed.id, attempt: claimed.attempts, reason: "boom", delayMs: 4_321, errors: "[]" });
      assert.ok(failed?.endedAt);
      assert.equal(failed.availableAt.getTime() - failed.endedAt.getTime(), 4_321);

      const [later] = await store.jobInsertMany({ jobs: [newJob("time-later", { delayMs: 60_000 })] });
      assert.equal(later && later.availableAt.getTime() - later.createdAt.getTime(), 60_000);
      const ms = await store.jobNextAvailableIn({ names: ["time-later"] });
      assert.ok(ms !== null && ms > 50_000 && ms <= 60_000, `msUntilNextAvailable = ${ms}`);
      const retryIn = await store.jobNextAvailableIn({ names: ["time"] });
      assert.ok(retryIn !== null && retryIn > 3_000 && retryIn <= 4_321, `msUntilNextAvailable = ${retryIn}`);
      await store.jobInsertMany({ jobs: [newJob("time")] });
      assert.equal(await store.jobNextAvailableIn({ names: ["time", "time-later"] }), 0);
      assert.equal(await store.jobNextAvailableIn({ names: ["nothing"] }), null);
    });
  });

  describe("options and close", () => {
    test("schema names are validated strictly", async () => {
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      try {
        for (const schema of ['bad-name"; drop', "Upper", "1abc", "", "a".repeat(64)]) {
          assert.throws(
            () => new PostgresStore({ pool, ownsPool: false, schema }),
            (e: unknown) => e instanceof ValidationError && e.field === "options.postgres.schema",
          );
        }
        const longest = new PostgresStore({ pool, ownsPool: false, schema: `hewn_t_${"a".repeat(56)}` });
        await longest.close();
      } finally {
        await pool.end();
      }
    });

    test("close() is idempotent, leaves a pool it does not own open, and idle-connection errors reach onError", async (t) => {
      const location = await postgresHarness.fresh();
      t.after(() => location.drop());
      const schema = location.schema ?? "";
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: `idle_${schema}` });
      t.after(() => pool.end());
      const errors: Error[] = [];
      const store = new PostgresStore({ pool, ownsPool: false, schema, onError: (e) => errors.push(e) });
      await store.migrate();
      await location.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [`idle_${schema}`]);
      await until(() => errors.length > 0, "the idle connection error");
      assert.ok(errors[0] instanceof StoreError);

      await Promise.all([store.close(), store.close()]);
      await store.close();
      assert.deepEqual((await pool.query("SELECT 1 AS one")).rows, [{ one: 1 }]);
      await assert.rejects(store.jobGet({ id: "1" }), StoreError);
      await assert.rejects(new PostgresStore({ pool, ownsPool: false, schema: "hewn_t_missing_0" }).jobGet({ id: "1" }), StoreError);
    });
  });
});
