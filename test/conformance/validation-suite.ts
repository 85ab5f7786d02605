/**
 * Bad input gets a typed error at the boundary and stores nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { Queue, ValidationError, type TaskOptions, type TransactionHandle } from "../../src/index.js";
import { setup, taskName } from "../helpers.js";

function rejectsWith(field: string | RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    if (typeof field === "string") assert.equal(error.field, field);
    else assert.match(error.field, field);
    return true;
  };
}

export function validationSuite(harness: StoreHarness): void {
  test("enqueue rejects payloads that are not JSON, or too big, and stores nothing", async (t) => {
    const { another } = await setup(t, harness);
    const queue = await another({ maxPayloadBytes: 1000 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: Array<[unknown, RegExp]> = [
      [{ n: 10n }, /^data\.n$/],
      [circular, /^data\.self$/],
      [{ f: () => 1 }, /^data\.f$/],
      [{ s: Symbol("x") }, /^data\.s$/],
      [[1, undefined], /^data\[1\]$/],
      [{ x: Number.NaN }, /^data\.x$/],
      [{ x: Infinity }, /^data\.x$/],
      [{ when: new Date() }, /^data\.when$/],
      [{ m: new Map() }, /^data\.m$/],
      [{ s: "\ud800" }, /^data\.s$/],
      [{ big: "x".repeat(2000) }, /^data$/],
      [JSON.parse("[".repeat(300) + "]".repeat(300)), /^data/],
    ];
    for (const [data, field] of bad) {
      await assert.rejects(queue.enqueue("task", data), rejectsWith(field));
    }
    await assert.rejects(queue.enqueueMany([{ name: "ok" }, { name: "ok", data: { n: 1n } as unknown }]), rejectsWith(/^items\[1\]\.data/));
    assert.deepEqual(await queue.count(), { enqueued: 0, dequeued: 0, completed: 0, failed: 0, cancelled: 0 });
  });

  test("enqueue rejects bad names and options", async (t) => {
    const { queue } = await setup(t, harness);
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => queue.enqueue("", {}), "name"],
      [() => queue.enqueue(42 as unknown as string, {}), "name"],
      [() => queue.enqueue(undefined as unknown as string, {}), "name"],
      [() => queue.enqueue("x".repeat(256), {}), "name"],
      [() => queue.enqueue("tab\there", {}), "name"],
      [() => queue.enqueue("nul\u0000", {}), "name"],
      [() => queue.enqueue("ok", {}, { delay: Number.NaN }), "delay"],
      [() => queue.enqueue("ok", {}, { delay: Infinity }), "delay"],
      [() => queue.enqueue("ok", {}, { delay: "soon" as unknown as number }), "delay"],
      [() => queue.enqueue("ok", {}, { priority: 1.5 }), "priority"],
      [() => queue.enqueue("ok", {}, { dealy: 5 } as unknown as object), "options.dealy"],
      [() => queue.enqueue("ok", {}, "fast" as unknown as object), "options"],
      [() => queue.enqueue("ok", {}, { tx: { not: "a transaction" } as unknown as TransactionHandle }), "options.tx"],
      [() => queue.enqueueMany("nope" as unknown as []), "items"],
      [() => queue.get(""), "id"],
      [() => queue.list({ status: "done" as "completed" }), "options.status"],
      [() => queue.list({ limit: 0 }), "options.limit"],
      [() => queue.cancel("1", ""), "reason"],
    ];
    for (const [call, field] of cases) await assert.rejects(call(), rejectsWith(field), field);
    assert.equal(await queue.get("not-an-id-of-this-store"), null, "ids are opaque: an unknown one is simply not found");
    assert.equal((await queue.count()).enqueued, 0);
  });

  test("a negative delay means now, as in axe", async (t) => {
    const { queue } = await setup(t, harness);
    const job = await queue.enqueue("x", {}, { delay: -5000 });
    assert.ok(job.availableAt.getTime() - job.createdAt.getTime() === 0);
  });

  test("define rejects invalid task options and a name defined twice", async (t) => {
    const { queue } = await setup(t, harness);
    const handler = async () => null;
    const cases: Array<[TaskOptions, string]> = [
      [{ workers: 0 }, "taskOptions.workers"],
      [{ workers: 1.5 }, "taskOptions.workers"],
      [{ timeout: -1 }, "taskOptions.timeout"],
      [{ timeout: 0 }, "taskOptions.timeout"],
      [{ minDelay: 10_000, maxDelay: 1_000 }, "taskOptions.minDelay"],
      [{ delayFactor: 0.5 }, "taskOptions.delayFactor"],
      [{ maxAttempts: -1 }, "taskOptions.maxAttempts"],
      [{ jitter: 2 }, "taskOptions.jitter"],
      [{ interval: Number.NaN }, "taskOptions.interval"],
      [{ workrs: 3 } as TaskOptions, "taskOptions.workrs"],
    ];
    for (const [options, field] of cases) assert.throws(() => queue.define(taskName(), handler, options), rejectsWith(field), field);
    assert.throws(() => queue.define(taskName(), "nope" as unknown as typeof handler), rejectsWith("handler"));
    assert.throws(() => queue.define("", handler), rejectsWith("name"));
    const name = taskName();
    queue.define(name, handler);
    assert.throws(() => queue.define(name, handler), (error: unknown) => error instanceof ValidationError && /already defined/.test(error.message));
  });

  test("Queue.open rejects unknown URL schemes and invalid options", async (t) => {
    const loc = await harness.fresh();
    t.after(() => loc.drop());
    await assert.rejects(Queue.open("mysql://root@localhost/db"), rejectsWith("url"));
    await assert.rejects(Queue.open("not a url"), rejectsWith("url"));
    await assert.rejects(Queue.open("sqlite:"), rejectsWith("url"));
    await assert.rejects(Queue.open("sqlite:jobs.db?cache=shared"), rejectsWith("url"));
    await assert.rejects(Queue.open({} as unknown as string), rejectsWith("url"));
    await assert.rejects(Queue.open(loc.url, { ...loc.queueOptions, removeAfter: -1 }), rejectsWith("options.removeAfter"));
    await assert.rejects(Queue.open(loc.url, { ...loc.queueOptions, maxPayloadBytes: 0 }), rejectsWith("options.maxPayloadBytes"));
    await assert.rejects(Queue.open(loc.url, { ...loc.queueOptions, onError: "log" as unknown as () => void }), rejectsWith("options.onError"));
    await assert.rejects(Queue.open(loc.url, { ...loc.queueOptions, durability: "turbo" as "fast" }), rejectsWith("options.durability"));
  });

  test("names and payloads that look like SQL are stored and returned unchanged", async (t) => {
    const { queue } = await setup(t, harness);
    const name = "x'); DROP TABLE jobs; --";
    const data = { "'; DELETE FROM jobs; --": "$1", nested: ["\\", "\"", "{table}"], __proto__x: 1, unicode: "héllo ✓ 😀" };
    const job = await queue.enqueue(name, data, { label: "' OR '1'='1" });
    const stored = await queue.get(job.id);
    assert.equal(stored?.name, name);
    assert.equal(JSON.stringify(stored?.data), JSON.stringify(data));
    assert.equal(stored?.label, "' OR '1'='1");
  });
}
