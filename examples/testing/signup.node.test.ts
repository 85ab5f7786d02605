/** The sign-up flow tested with Node's test runner: `node --import tsx --test examples/testing/signup.node.test.ts`. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createTestQueue } from "../../src/testing/index.js";
import { defineTasks, memoryMailer, signUp } from "./signup.js";

test("sign-up sends one welcome email a minute later, even if the worker crashes", async (t) => {
  const tq = await createTestQueue();
  t.after(() => tq.close());
  const mailer = memoryMailer();
  defineTasks(tq.queue, mailer);

  await signUp(tq.queue, "ada@example.com");
  tq.expectEnqueued("welcome-email", { to: "ada@example.com" });

  await tq.drain();
  assert.equal(mailer.sent.size, 0, "not before the delay");

  tq.advance(60_000);
  const { job } = await tq.crash("welcome-email"); // sends, dies before the outcome, runs again
  assert.equal(job.status, "completed");
  assert.equal(mailer.sent.size, 1, "sent once, though the handler ran twice");
});
