/**
 * The application code the example tests exercise: a sign-up that enqueues a welcome email, and the
 * email task, whose handler is idempotent (it passes the job id to the mailer as an idempotency key).
 */
import type { Queue } from "../../src/index.js";

export interface Mailer {
  /** Sends at most once per `key`, like a provider's idempotency key. */
  send(to: string, key: string): Promise<void>;
}

export function defineTasks(queue: Queue, mailer: Mailer): void {
  queue.define<{ to: string }>("welcome-email", async (ctx) => {
    await mailer.send(ctx.job.data.to, ctx.job.id);
  }, { timeout: 30_000 });
}

export async function signUp(queue: Queue, email: string): Promise<void> {
  // … store the user, then:
  await queue.enqueue("welcome-email", { to: email }, { delay: 60_000 });
}

/** A mailer that remembers what it sent, by key. */
export function memoryMailer(): Mailer & { sent: Map<string, string> } {
  const sent = new Map<string, string>();
  return { sent, send: async (to, key) => void (sent.has(key) || sent.set(key, to)) };
}
