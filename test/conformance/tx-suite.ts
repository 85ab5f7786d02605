/**
 * Job-scoped transactions (`ctx.transaction`) and checkpoints (`ctx.checkpoint`), on every store. The
 * handler writes into a table of its own in the queue's database (`tx_effects`), as an application would.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type Database from "better-sqlite3";
import type pg from "pg";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { JobError, LeaseLostError, ValidationError, type JobContext, type Json } from "../../src/index.js";
import { nextEvent, setup, taskName, within } from "../helpers.js";

/** What a handler does inside its transaction, whatever the store. */
interface Effects {
  /** Creates the table (once per location). */
  create(): Promise<void>;
  /** Rows written for `jobId`. */
  count(jobId: string): Promise<number>;
  /** In `ctx.transaction`: writes a row for the job, runs `more` on the same transaction, returns `result`. */
  write<T>(ctx: JobContext<Json>, result: T, more?: (run: (sql: string, params: unknown[]) => unknown) => void): Promise<T>;
}

function effects(harness: StoreHarness, loc: TestLocation): Effects {
  const table = harness.kind === "postgres" ? `"${loc.schema}".tx_effects` : "tx_effects";
  const jobs = harness.kind === "postgres" ? `"${loc.schema}".jobs` : "hewn_jobs";
  const mark = (sql: string) => (harness.kind === "postgres" ? sql : sql.replace(/\$\d/g, "?")).replaceAll("{jobs}", jobs);
  return {
    create: async () => void (await loc.exec(`CREATE TABLE ${table} (job_id TEXT NOT NULL)`)),
    count: async (jobId) => Number((await loc.exec(mark(`SELECT count(*) AS n FROM ${table} WHERE job_id = $1`), [jobId]))[0]?.n),
    write: (ctx, result, more) => {
      if (harness.kind === "postgres") {
        return ctx.transaction(async (tx: pg.PoolClient) => {
          const queries: Array<[string, unknown[]]> = [[`INSERT INTO ${table} (job_id) VALUES ($1)`, [ctx.job.id]]];
          more?.((sql, params) => queries.push([mark(sql), params]));
          for (const [sql, params] of queries) await tx.query(sql, params);
          return result;
        });
      }
      return ctx.transaction((tx: Database.Database) => {
        tx.prepare(`INSERT INTO ${table} (job_id) VALUES (?)`).run(ctx.job.id);
        more?.((sql, params) => tx.prepare(mark(sql)).run(...params));
        return result;
      });
    },
  };
}

export function txSuite(harness: StoreHarness): void {
  test("ctx.transaction: the handler's write and the completion commit together; what the handler returns after is ignored", async (t) => {
    const { queue, loc, errors } = await setup(t, harness);
    const fx = effects(harness, loc);
    await fx.create();
    const name = taskName();
    queue.define(name, async (ctx) => {
      await ctx.checkpoint({ step: 1 });
      const inside = await fx.write(ctx, { charged: 42 });
      assert.deepEqual(inside, { charged: 42 });
      await assert.rejects(ctx.progress(1), LeaseLostError, "the attempt is over once committed");
      return "ignored";
    });
    await queue.start();
    const completed = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(name);
    const done = await within(queue.waitFor(job.id), "the job");
    assert.deepEqual(done.result, { charged: 42 });
    assert.deepEqual((await completed).result, { charged: 42 });
    assert.equal(done.checkpoint, null, "a completion clears the checkpoint");
    assert.equal(await fx.count(job.id), 1);
    assert.deepEqual(errors.entries, []);
  });

  test("ctx.transaction: a throw inside rolls back and the attempt fails as usual; the retry writes once", async (t) => {
    const { queue, loc } = await setup(t, harness);
    const fx = effects(harness, loc);
    await fx.create();
    const name = taskName();
    queue.define(name, async (ctx) => fx.write(ctx, ctx.job.attempt, () => {
      if (ctx.job.attempt === 1) throw new JobError("not yet");
    }), { minDelay: 1, maxDelay: 5 });
    await queue.start();
    const job = await queue.enqueue(name);
    const done = await within(queue.waitFor(job.id), "the job");
    assert.equal(done.result, 2);
    assert.equal(done.attempts, 2);
    assert.equal(await fx.count(job.id), 1);
  });

  test("ctx.transaction: a fence that finds the lease lost rolls everything back; the handler sees LeaseLostError", async (t) => {
    const { queue, loc, errors } = await setup(t, harness);
    const fx = effects(harness, loc);
    await fx.create();
    const name = taskName();
    let seen: unknown;
    queue.define(name, async (ctx) => {
      try {
        // Another claim of the job, made inside the same transaction just before the fenced completion.
        await fx.write(ctx, "never", (run) => run("UPDATE {jobs} SET attempts = attempts + 1 WHERE id = $1", [ctx.job.id]));
      } catch (error) {
        seen = error;
        throw error;
      }
    });
    await queue.start();
    const lost = nextEvent(queue, "job:lease-lost");
    const job = await queue.enqueue(name);
    await lost;
    assert.ok(seen instanceof LeaseLostError);
    assert.equal(await fx.count(job.id), 0, "the handler's write was rolled back with the failed fence");
    const stored = await queue.get(job.id);
    assert.equal(stored?.status, "dequeued", "nothing was written: the job waits for its lease to expire");
    assert.equal(stored?.attempts, 1);
    assert.ok(errors.sources().includes("lease"));
  });

  test("ctx.transaction on SQLite refuses a returned promise; nothing is committed", { skip: harness.kind !== "sqlite" }, async (t) => {
    const { queue, loc } = await setup(t, harness);
    const fx = effects(harness, loc);
    await fx.create();
    const name = taskName();
    let seen: unknown;
    queue.define(name, async (ctx) => {
      try {
        await ctx.transaction(async (tx: Database.Database) => {
          tx.prepare("INSERT INTO tx_effects (job_id) VALUES (?)").run(ctx.job.id);
        });
      } catch (error) {
        seen = error;
        throw new JobError("gave up", { retry: false });
      }
    });
    await queue.start();
    const job = await queue.enqueue(name);
    await assert.rejects(within(queue.waitFor(job.id), "the job"), { name: "JobCancelledError" });
    assert.ok(seen instanceof ValidationError);
    assert.equal(seen.field, "fn");
    assert.equal(await fx.count(job.id), 0);
  });

  test("ctx.checkpoint: a later attempt resumes from the saved state; it is cleared on completion", async (t) => {
    const { queue } = await setup(t, harness);
    const name = taskName();
    const seenAt: Json[] = [];
    queue.define(name, async (ctx) => {
      seenAt.push(ctx.job.checkpoint);
      const start = (ctx.job.checkpoint as { step: number } | null)?.step ?? 0;
      for (let step = start; step < 10; step++) {
        if (step === 7 && ctx.job.attempt === 1) throw new Error("died at step 7");
        await ctx.checkpoint({ step: step + 1 });
      }
      return start;
    }, { minDelay: 1, maxDelay: 5 });
    await queue.start();
    const job = await queue.enqueue(name);
    const done = await within(queue.waitFor(job.id), "the job");
    assert.deepEqual(seenAt, [null, { step: 7 }]);
    assert.equal(done.result, 7, "the second attempt resumed at step 7");
    assert.equal(done.checkpoint, null);
  });
}
