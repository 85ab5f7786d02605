/**
 * The shop's tasks, imported by the web service (to enqueue) and the worker (to run them): names,
 * payload schemas and result types in one place.
 */
import { z } from "zod";
import { task, type Queue } from "../../src/index.js";

export const sendReceipt = task("shop-send-receipt", z.object({ orderId: z.number().int(), email: z.email() }))
  .returns<{ sentTo: string }>();

/** Ships an order once its receipt went out: a job that waits for another. */
export const ship = task("shop-ship", z.object({ orderId: z.number().int(), receiptJobId: z.string() }))
  .returns<{ shipped: number; receiptSentTo: string }>();

/** A periodic job: the worker schedules it (see worker.ts); one job per slot however many workers run. */
export const salesReport = task("shop-sales-report").returns<{ at: string }>();

export function defineTasks(queue: Queue): void {
  queue.define(salesReport, (ctx) => ({ at: ctx.job.createdAt.toISOString() }));

  queue.define(sendReceipt, async (ctx) => {
    // … send the e-mail here (pass ctx.job.id as the provider's idempotency key)
    return { sentTo: ctx.job.data.email };
  }, { workers: 2 });

  queue.define(ship, async (ctx) => {
    const receipt = await queue.waitFor<{ orderId: number }, { sentTo: string }>(ctx.job.data.receiptJobId, { signal: ctx.signal });
    return { shipped: ctx.job.data.orderId, receiptSentTo: receipt.result?.sentTo ?? "" };
  }, { workers: 2 });
}
