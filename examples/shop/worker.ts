/**
 * The shop's worker process: runs the jobs the web service enqueues, and shuts down gracefully on SIGTERM.
 *
 *   DATABASE_URL=postgres://root@127.0.0.1:5432/test npx tsx examples/shop/worker.ts
 */
import { Queue } from "../../src/index.js";
import { defineTasks } from "./tasks.js";

const queue = await Queue.open(process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test", {
  postgres: { schema: process.env.HEWN_SCHEMA ?? "hewn" },
});
defineTasks(queue);
await queue.start();
console.log("worker ready");
process.once("SIGTERM", () => {
  void queue.close({ grace: 10_000 }).then(() => console.log("worker stopped"));
});
