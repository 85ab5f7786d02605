/**
 * Task definitions with Standard Schema validators (zod, valibot, arktype), on every store: payloads
 * checked at enqueue with the failing path named, stored as given, parsed for the handler.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import * as v from "valibot";
import { type } from "arktype";
import type { StoreHarness } from "../harness/harness.js";
import { ValidationError, task } from "../../src/index.js";
import { Signal, nextEvent, setup, taskName, within } from "../helpers.js";

const isInvalid = (field: string, message?: RegExp) => (error: unknown) =>
  error instanceof ValidationError && error.field === field && (message === undefined || message.test(error.message));

export function schemaSuite(harness: StoreHarness): void {
  test("zod, valibot and arktype: a bad payload is a ValidationError naming its path; nothing is stored", async (t) => {
    const { queue } = await setup(t, harness);
    const order = task(taskName(), z.object({ items: z.array(z.object({ sku: z.string(), qty: z.number().int().positive() })) }));
    const resize = task(taskName(), v.object({ file: v.string(), size: v.object({ width: v.number() }) }));
    const notify = task(taskName(), type({ user: { email: "string.email" } }));

    await assert.rejects(queue.enqueue(order, { items: [{ sku: "a", qty: 1 }, { sku: "b", qty: 0 }] }), isInvalid("data.items[1].qty"));
    await assert.rejects(queue.enqueue(resize, { file: "a.png", size: { width: "wide" as unknown as number } }), isInvalid("data.size.width"));
    await assert.rejects(queue.enqueue(notify, { user: { email: "not-an-address" } }), isInvalid("data.user.email"));
    for (const name of [order.name, resize.name, notify.name]) assert.equal((await queue.count(name)).enqueued, 0);

    const stored = await queue.enqueue(order, { items: [{ sku: "a", qty: 2 }] });
    assert.deepEqual(stored.data, { items: [{ sku: "a", qty: 2 }] });
  });

  test("the payload is stored as given and the handler receives what the schema makes of it", async (t) => {
    const { queue } = await setup(t, harness);
    const sendEmail = task(taskName(), z.object({ to: z.email(), cc: z.array(z.email()).default([]) })).returns<{ sent: number }>();
    const received = new Signal<unknown>();
    queue.define(sendEmail, (ctx) => {
      received.resolve(ctx.job.data);
      return { sent: 1 + ctx.job.data.cc.length };
    });
    const done = nextEvent(queue, "job:complete");
    const job = await queue.enqueue(sendEmail, { to: "ada@example.com" });
    assert.deepEqual(job.data, { to: "ada@example.com" }, "stored as given");
    await queue.start();
    assert.deepEqual(await within(received.promise, "the handler"), { to: "ada@example.com", cc: [] }, "parsed: the default filled in");
    assert.deepEqual((await done).result, { sent: 1 });
  });

  test("by name: once this queue defined a task from a definition, enqueue and enqueueMany by its name are checked too", async (t) => {
    const { queue } = await setup(t, harness);
    const ping = task(taskName(), v.object({ at: v.number() }));
    queue.define(ping, () => undefined);
    await assert.rejects(queue.enqueue(ping.name, { at: "now" }), isInvalid("data.at"));
    await assert.rejects(queue.enqueueMany<{ at?: number }>([{ name: ping.name, data: { at: 1 } }, { name: ping.name, data: {} }]), isInvalid("items[1].data.at"));
    assert.equal((await queue.count(ping.name)).enqueued, 0, "all or none");
  });

  test("a stored payload the schema rejects (enqueued without it) is cancelled at once as an invalid payload", async (t) => {
    const { queue } = await setup(t, harness);
    const strict = task(taskName(), z.object({ n: z.number() }));
    const job = await queue.enqueue(strict.name, { n: "one" });
    const ran = new Signal<void>();
    queue.define(strict, () => ran.resolve());
    const cancelled = nextEvent(queue, "job:cancel", ({ job: { id } }) => id === job.id);
    await queue.start();
    assert.match((await cancelled).reason, /^invalid payload: data\.n: /);
    assert.equal(ran.fired, false);
    assert.equal((await queue.get(job.id))?.attempts, 1, "not retried");
  });

  test("enqueueSync refuses a schema that can only validate asynchronously", { skip: harness.kind !== "sqlite" }, async (t) => {
    const { queue } = await setup(t, harness);
    const slow = task(taskName(), z.object({ id: z.string() }).refine(async () => true));
    await harness.fresh().then(async (loc) => {
      t.after(() => loc.drop());
      await loc.transaction(false, async (tx) => {
        assert.throws(() => queue.enqueueSync(slow, { id: "1" }, { tx }), isInvalid("data", /asynchronously/));
      });
    });
  });
}
