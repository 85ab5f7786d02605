/**
 * The public API's edges, on every store: defaults, what a closed queue answers, and payloads as a hurried
 * user writes them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { StoreHarness } from "../harness/harness.js";
import { QueueClosedError, TASK_DEFAULTS } from "../../src/index.js";
import { Signal, setup, taskName, within } from "../helpers.js";

export function apiSuite(harness: StoreHarness): void {
  test("the default lease is 30 s, renewed while the handler runs", async (t) => {
    const { queue } = await setup(t, harness);
    assert.equal(TASK_DEFAULTS.timeout, 30_000);
    const name = taskName();
    const running = new Signal<void>();
    const release = new Signal<void>();
    queue.define(name, async () => {
      running.resolve();
      await release.promise;
    });
    const { id } = await queue.enqueue(name);
    await queue.start();
    await within(running.promise, "the handler to start");
    const job = await queue.get(id);
    assert.ok(job?.startedAt);
    assert.equal(job.availableAt.getTime() - job.startedAt.getTime(), 30_000, "leased for the default 30 s");
    release.resolve();
  });

  test("undefined object properties are left out, as JSON does; undefined in arrays is still refused", async (t) => {
    const { queue } = await setup(t, harness);
    const body: { imageUrl?: string; nested: { a?: number; b: number } } = { imageUrl: undefined, nested: { a: undefined, b: 1 } };
    const job = await queue.enqueue(taskName(), { imageUrl: body.imageUrl, nested: body.nested });
    assert.deepEqual(job.data, { nested: { b: 1 } });
    assert.deepEqual((await queue.get(job.id))?.data, { nested: { b: 1 } });
    await assert.rejects(queue.enqueue(taskName(), { list: [1, undefined] } as unknown), /data\.list\[1\]/);
  });

  test("every call after close() fails with one typed error, QueueClosedError (code closed)", async (t) => {
    const { queue } = await setup(t, harness);
    const { id } = await queue.enqueue(taskName());
    await queue.close();
    const calls: Array<[string, () => unknown]> = [
      ["enqueue", () => queue.enqueue("x")],
      ["enqueueMany", () => queue.enqueueMany([{ name: "x" }])],
      ["get", () => queue.get(id)],
      ["list", () => queue.list()],
      ["count", () => queue.count()],
      ["cancel", () => queue.cancel(id, "late")],
      ["start", () => queue.start()],
      ["define", () => queue.define("x", () => null)],
    ];
    for (const [call, run] of calls) {
      await assert.rejects(async () => run(), (error: unknown) => {
        assert.ok(error instanceof QueueClosedError, `${call}: ${String(error)}`);
        assert.equal(error.code, "closed");
        assert.match(error.message, new RegExp(`queue\\.${call}\\(\\)`));
        return true;
      });
    }
    await queue.close(); // still idempotent
  });
}
