/**
 * Enqueueing inside a Prisma interactive transaction on PostgreSQL, against the real database.
 *
 * Prisma 7's client needs no query engine: it runs through `@prisma/adapter-pg` on the `pg` driver. It
 * does need generating, which this test does first (`prisma generate`, into the git-ignored
 * .generated/prisma). The CLI insists on locating its schema engine (a binary downloaded from Prisma's
 * own servers, which this machine cannot reach) before it generates anything, although generating never
 * runs it; PRISMA_SCHEMA_ENGINE_BINARY points it at a stub that exits with an error if it were ever run.
 * Migrations (`prisma migrate`), which do need that engine, are not used: the test creates its table in SQL.
 */
import "../leak-check.js";
import { before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ValidationError, fromPrisma, type EnqueueOptions, type EnqueuedJob, type Job, type Json, type Queue } from "../../src/index.js";
import { WAITING_FOR_PARENTS_AT } from "../../src/job.js";
import { postgresHarness, databaseUrl } from "../harness/postgres.js";
import { Signal, setup, taskName, within } from "../helpers.js";

const root = path.resolve(fileURLToPath(import.meta.url), "../../..");
const schemaFile = path.join(root, "test/tx/prisma/schema.prisma");
const clientFile = path.join(root, ".generated/prisma/client.js");

/** What the test uses of the generated client (imported at run time: it does not exist before `before`). */
interface OrderDelegate {
  create(args: { data: { id: number; item: string } }): Promise<unknown>;
  count(): Promise<number>;
}
interface PrismaTx {
  order: OrderDelegate;
  $queryRawUnsafe(query: string, ...values: unknown[]): Promise<unknown>;
}
interface PrismaClientLike extends PrismaTx {
  $transaction<T>(fn: (tx: PrismaTx) => Promise<T>): Promise<T>;
  $disconnect(): Promise<void>;
}
type PrismaClientClass = new (options: { adapter: unknown }) => PrismaClientLike;
type PrismaPgClass = new (config: { connectionString: string; max: number }, options: { schema: string }) => unknown;

const skip = (await postgresHarness.skipReason()) ?? false;

describe("Prisma on postgres: enqueue inside an interactive transaction", { skip }, () => {
  let PrismaClient: PrismaClientClass;
  let PrismaPg: PrismaPgClass;

  before(async () => {
    const stubDir = await fs.mkdtemp(path.join(os.tmpdir(), "hewn-prisma-"));
    try {
      const stub = path.join(stubDir, "schema-engine");
      await fs.writeFile(stub, "#!/bin/sh\necho 'the schema engine is not available here' >&2\nexit 1\n", { mode: 0o755 });
      await promisify(execFile)(process.execPath, [path.join(root, "node_modules/prisma/build/index.js"), "generate", "--schema", schemaFile], {
        cwd: root,
        env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: stub, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" },
      });
    } finally {
      await fs.rm(stubDir, { recursive: true, force: true });
    }
    ({ PrismaClient } = (await import(clientFile)) as { PrismaClient: PrismaClientClass });
    ({ PrismaPg } = (await import("@prisma/adapter-pg")) as unknown as { PrismaPg: PrismaPgClass });
  });

  async function openApp(t: TestContext) {
    const s = await setup(t, postgresHarness);
    const schema = s.loc.schema ?? "public";
    await s.loc.exec(`CREATE TABLE "${schema}".orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)`);
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 2 }, { schema }) });
    t.after(() => prisma.$disconnect());
    /** Inserts an order and enqueues, in one transaction; throws out of it to roll back. */
    const placeOrder = async (queue: Queue, name: string, order: number, commit: boolean): Promise<Job<{ order: number }>> => {
      let job: Job<{ order: number }> | undefined;
      const rollback = new Error("payment declined");
      await prisma.$transaction(async (tx) => {
        await tx.order.create({ data: { id: order, item: "book" } });
        job = await queue.enqueue(name, { order }, { tx: fromPrisma(tx) });
        if (!commit) throw rollback;
      }).catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
      if (!job) throw new Error("nothing was enqueued");
      return job;
    };
    /** In one transaction: enqueues `calls` in turn (each may name earlier ones' ids); throws out of it to roll back. */
    const enqueueIn = async (queue: Queue, commit: boolean, calls: Array<(before: EnqueuedJob[]) => [string, Json, Omit<EnqueueOptions, "tx">]>): Promise<EnqueuedJob[]> => {
      const jobs: EnqueuedJob[] = [];
      const rollback = new Error("rolled back");
      await prisma.$transaction(async (tx) => {
        for (const call of calls) {
          const [name, data, options] = call(jobs);
          jobs.push(await queue.enqueue<Json>(name, data, { ...options, tx: fromPrisma(tx) }));
        }
        if (!commit) throw rollback;
      }).catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
      return jobs;
    };
    return { ...s, prisma, placeOrder, enqueueIn };
  }

  test("rolled back: neither the order nor the job exists", async (t) => {
    const { queue, prisma, placeOrder } = await openApp(t);
    const name = taskName();
    const job = await placeOrder(queue, name, 1, false);
    assert.equal(await queue.get(job.id), null);
    assert.equal(await prisma.order.count(), 0);
  });

  test("committed: the job runs, woken by the commit rather than by polling", async (t) => {
    const { queue, prisma, placeOrder } = await openApp(t);
    const name = taskName();
    const ran = new Signal<unknown>();
    queue.define(name, (ctx) => ran.resolve(ctx.job.data), { interval: 60_000 });
    await queue.start();
    const job = await placeOrder(queue, name, 7, true);
    assert.deepEqual(job.data, { order: 7 });
    assert.deepEqual(await within(ran.promise, "the committed job to run", 10_000), { order: 7 });
    assert.equal(await prisma.order.count(), 1);
  });

  test("a labelled job meets the standing job (duplicate, same id); rolled back, it leaves nothing", async (t) => {
    const { queue, enqueueIn } = await openApp(t);
    const name = taskName();
    const standing = await queue.enqueue(name, { n: 1 }, { label: "L" });
    const [dup, fresh, again] = await enqueueIn(queue, true, [
      () => [name, { n: 2 }, { label: "L" }], () => [name, { n: 3 }, { label: "M" }], () => [name, { n: 4 }, { label: "M", onDuplicate: "replace" }],
    ]);
    assert.equal(dup?.duplicate, true);
    assert.equal(dup?.id, standing.id);
    assert.equal(fresh?.duplicate, false);
    assert.equal(again?.id, fresh?.id);
    assert.deepEqual(again?.data, { n: 4 }, "replaced within the transaction");
    const [gone] = await enqueueIn(queue, false, [() => [name, {}, { label: "R" }]]);
    assert.equal(await queue.get(gone!.id), null);
    assert.equal((await queue.enqueue(name, {}, { label: "R" })).duplicate, false, "the label is free");
  });

  test("after: the child waits for its parent and runs once the parent completed; rolled back, no edge is left", async (t) => {
    const { queue, enqueueIn } = await openApp(t);
    const name = taskName();
    const parent = await queue.enqueue(name, { step: "parent" });
    const [child, sibling, nephew] = await enqueueIn(queue, true, [
      () => [name, { step: "child" }, { after: [parent.id] }],
      () => [name, { step: "sibling" }, {}],
      (before) => [name, { step: "nephew" }, { after: [before[1]!.id] }],
    ]);
    assert.equal(child?.availableAt.getTime(), WAITING_FOR_PARENTS_AT);
    assert.deepEqual((await queue.dependencies(child!.id)).parents.map((job) => job.id), [parent.id]);
    assert.deepEqual((await queue.dependencies(nephew!.id)).parents.map((job) => job.id), [sibling!.id]);
    const [gone] = await enqueueIn(queue, false, [() => [name, {}, { after: [parent.id] }]]);
    assert.equal(await queue.get(gone!.id), null);
    assert.deepEqual((await queue.dependencies(parent.id)).children.map((job) => job.id), [child!.id]);

    const gate = new Signal();
    queue.define<{ step: string }>(name, async (ctx) => {
      if (ctx.job.data.step === "parent") await gate.promise;
    }, { workers: 4 });
    await queue.start();
    const parentDone = queue.waitFor(parent.id);
    await within(queue.waitFor(nephew!.id), "the nephew");
    assert.equal((await queue.get(child!.id))?.startedAt, null, "the child waits while its parent runs");
    gate.resolve();
    await within(parentDone, "the parent");
    const done = await within(queue.waitFor(child!.id), "the child");
    assert.ok(done.startedAt! >= (await queue.get(parent.id))!.finishedAt!);
  });

  test("the PrismaClient itself is refused: its queries would run outside the transaction", async (t) => {
    const { prisma } = await openApp(t);
    assert.throws(() => fromPrisma(prisma), (error: unknown) => error instanceof ValidationError && /not a transaction/.test(error.message));
  });
});

