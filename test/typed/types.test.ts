/**
 * Type tests of typed tasks. `npm test` type-checks this file first (tsc): every line must compile except
 * those marked `@ts-expect-error`, which must NOT compile (tsc fails on a directive that has nothing to
 * expect). The runtime test at the end runs the same code, so what compiles also works.
 */
import "../leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import * as v from "valibot";
import { type } from "arktype";
import { Queue, task, type AnyTaskJob, type EnqueuedJob, type TaskJob, type TasksOf, type TypedQueue } from "../../src/index.js";

/** `Equal<A, B>` is `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(_proof?: T): void {}

interface Tasks {
  "send-email": { data: { to: string; cc?: string[] }; result: { id: string } };
  resize: { data: { file: string; width: number } };
}

/** Compile-time checks only: the function is never called with a real queue. */
export async function typedMap(queue: TypedQueue<Tasks>): Promise<void> {
  // define: ctx.job.data is the task's data; the handler must return its result.
  queue.define("send-email", (ctx) => {
    expectType<Equal<typeof ctx.job.data, { to: string; cc?: string[] }>>();
    return { id: ctx.job.data.to };
  });
  queue.define("resize", async (ctx) => ({ done: ctx.job.data.width > 0 }));
  // @ts-expect-error the handler must return the task's result type
  queue.define("send-email", () => ({ id: 42 }));
  // @ts-expect-error an unknown task name
  queue.define("send-mail", () => ({ id: "x" }));
  // @ts-expect-error data has no such field
  queue.define("resize", (ctx) => ctx.job.data.height);

  // enqueue: the payload is checked against the task's data type.
  const job = await queue.enqueue("send-email", { to: "a@b.c" });
  expectType<Equal<typeof job.name, "send-email">>();
  expectType<Equal<typeof job.data, { to: string; cc?: string[] }>>();
  expectType<Equal<typeof job.result, { id: string } | null>>();
  // @ts-expect-error an unknown task name
  await queue.enqueue("send-mail", { to: "a@b.c" });
  // @ts-expect-error a wrong payload: `to` must be a string
  await queue.enqueue("send-email", { to: 1 });
  // @ts-expect-error a wrong payload: `width` is missing
  await queue.enqueue("resize", { file: "a.png" });
  // @ts-expect-error a payload with a field the task does not have
  await queue.enqueue("resize", { file: "a.png", width: 1, height: 2 });
  // @ts-expect-error the payload is required
  await queue.enqueue("resize");

  await queue.enqueueMany([{ name: "send-email", data: { to: "x" } }, { name: "resize", data: { file: "f", width: 2 } }]);
  // @ts-expect-error each item's data follows its name
  await queue.enqueueMany([{ name: "resize", data: { to: "x" } }]);

  // get/list: jobs of any task, narrowed by name.
  const found = await queue.get("1");
  if (found?.name === "send-email") {
    expectType<Equal<typeof found.result, { id: string } | null>>();
    expectType<Equal<typeof found, TaskJob<Tasks, "send-email">>>();
  }
  if (found?.name === "resize") {
    // @ts-expect-error a resize job has no `to`
    void found.data.to;
  }
  const finished = await queue.waitFor<"send-email">(job.id);
  expectType<Equal<typeof finished.result, { id: string } | null>>();
  const anyFinished = await queue.waitFor(job.id);
  expectType<Equal<typeof anyFinished, AnyTaskJob<Tasks>>>();
  // @ts-expect-error waitFor names a task of the map
  await queue.waitFor<"send-mail">(job.id);
  const all = await queue.list();
  expectType<Equal<typeof all, Array<AnyTaskJob<Tasks>>>>();
  // Everything else is the Queue's.
  expectType<Equal<ReturnType<typeof queue.count>, ReturnType<Queue["count"]>>>();
}

// Task definitions with Standard Schema validators: one value for producers and workers.
const sendEmail = task("send-email", z.object({ to: z.email(), cc: z.array(z.email()).default([]) })).returns<{ id: string }>();
const resize = task("resize", v.object({ file: v.string(), width: v.pipe(v.number(), v.integer()) }));
const notify = task("notify", type({ user: "string", "urgent?": "boolean" }));
const ping = task("ping").data<{ at: number }>();

export async function definitions(queue: Queue): Promise<void> {
  queue.define(sendEmail, (ctx) => {
    // The handler gets the schema's output: the default filled in.
    expectType<Equal<typeof ctx.job.data, { to: string; cc: string[] }>>();
    return { id: ctx.job.data.cc.join(",") };
  });
  // @ts-expect-error the result type declared with returns<>()
  queue.define(sendEmail, () => ({ id: 1 }));
  queue.define(resize, (ctx) => {
    expectType<Equal<typeof ctx.job.data, { file: string; width: number }>>();
  });
  queue.define(notify, (ctx) => {
    expectType<Equal<typeof ctx.job.data, { user: string; urgent?: boolean }>>();
  });
  queue.define(ping, (ctx) => ctx.job.data.at);

  // enqueue takes the schema's input: `cc` may be left out (the schema defaults it).
  const job = await queue.enqueue(sendEmail, { to: "a@b.c" });
  expectType<Equal<typeof job, EnqueuedJob<{ to: string; cc?: string[] | undefined }, { id: string }>>>();
  // @ts-expect-error `to` is required
  await queue.enqueue(sendEmail, {});
  // @ts-expect-error `width` must be a number
  await queue.enqueue(resize, { file: "a.png", width: "100" });
  // @ts-expect-error arktype: `user` must be a string
  await queue.enqueue(notify, { user: 1 });
  // @ts-expect-error ping's data type from .data<>()
  await queue.enqueue(ping, { at: "now" });
  // Untyped use keeps working.
  await queue.enqueue("anything", { free: ["form"] });
  queue.define<{ n: number }>("untyped", (ctx) => ctx.job.data.n + 1);
}

// A task map derived from definitions.
type Derived = TasksOf<typeof sendEmail | typeof resize | typeof ping>;
export async function derived(queue: TypedQueue<Derived>): Promise<void> {
  const job = await queue.enqueue("resize", { file: "a", width: 1 });
  expectType<Equal<typeof job.name, "resize">>();
  queue.define(sendEmail, (ctx) => ({ id: ctx.job.data.to }));
  queue.define("ping", (ctx) => ctx.job.data.at);
  // @ts-expect-error notify is not in this map
  queue.define(notify, () => undefined);
  // @ts-expect-error the map's input for send-email
  await queue.enqueue("send-email", { to: 5 });
}

export async function openTyped(): Promise<void> {
  const typed = await Queue.open<Tasks>("sqlite::memory:");
  expectType<Equal<typeof typed, TypedQueue<Tasks>>>();
  const untyped = await Queue.open("sqlite::memory:");
  expectType<Equal<typeof untyped, Queue>>();
  await Promise.all([typed.close(), untyped.close()]);
}

test("a typed queue is the plain queue at run time: what the type tests compile runs", async (t) => {
  const queue = await Queue.open<Tasks>("sqlite::memory:");
  t.after(() => queue.close());
  queue.define("send-email", (ctx) => ({ id: `mail-to-${ctx.job.data.to}` }));
  const done = new Promise<unknown>((resolve) => queue.on("job:complete", ({ result }) => resolve(result)));
  const job = await queue.enqueue("send-email", { to: "a@b.c" });
  await queue.start();
  assert.deepEqual(await done, { id: "mail-to-a@b.c" });
  const stored = await queue.get(job.id);
  assert.equal(stored?.name, "send-email");
  if (stored?.name === "send-email") assert.deepEqual(stored.result, { id: "mail-to-a@b.c" });
  const finished = await queue.waitFor<"send-email">(job.id);
  assert.equal(finished.result?.id, "mail-to-a@b.c");
});
