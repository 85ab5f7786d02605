/** The sign-up flow tested with Vitest: `npx vitest run examples/testing/signup.vitest.test.ts`. */
import { afterEach, expect, test } from "vitest";
import { createTestQueue, type TestQueue } from "../../src/testing/index.js";
import { defineTasks, memoryMailer, signUp } from "./signup.js";

let tq: TestQueue;
afterEach(() => tq.close());

test("sign-up sends one welcome email a minute later, even if the worker crashes", async () => {
  tq = await createTestQueue();
  const mailer = memoryMailer();
  defineTasks(tq.queue, mailer);

  await signUp(tq.queue, "ada@example.com");
  tq.expectEnqueued("welcome-email", { to: "ada@example.com" });

  await tq.drain();
  expect(mailer.sent.size).toBe(0);

  tq.advance(60_000);
  const { job } = await tq.crash("welcome-email");
  expect(job.status).toBe("completed");
  expect(mailer.sent.size).toBe(1);
});
