/**
 * The shop's worker process: runs the jobs the web service enqueues, and shuts down gracefully on SIGTERM.
 *
 *   DATABASE_URL=postgres://root@127.0.0.1:5432/test npx tsx examples/shop/worker.ts
 */
import { Queue } from "../../src/index.js";
import { defineTasks, salesReport } from "./tasks.js";

const queue = await Queue.open(process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test", {
  postgres: { schema: process.env.HEWN_SCHEMA ?? "hewn" },
});
defineTasks(queue);
// Every hour (REPORT_EVERY_MS to change it): stored once, so restarting or adding workers changes nothing.
await queue.schedule("shop-sales-report", salesReport.name, { every: Number(process.env.REPORT_EVERY_MS ?? 3_600_000) });
await queue.start();
console.log("worker ready");
process.once("SIGTERM", () => {
  void queue.close({ grace: 10_000 }).then(() => console.log("worker stopped"));
});
