/**
 * `npm start`: hewn on its embedded default (a SQLite file, ./hewn.db), end to end.
 *
 * It defines four tasks, enqueues a mix of jobs (some delayed, some failing before they succeed, one
 * that its handler cancels), runs workers while printing progress, and ends with a table of this run's
 * jobs by task and status. Jobs an earlier, interrupted run left behind are processed too: nothing is lost.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { JOB_STATUSES, JobError, Queue, type JobStatus } from "../src/index.js";

const queue = await Queue.open(undefined, {
  // Plain errors are reported here; the demo expects some, so it prints them as notes, not stack traces.
  onError: (error, context) => notes.push(`${context.source} error in job ${context.job?.id ?? "-"}: ${error.message}`),
});
const notes: string[] = [];

queue.define<{ to: string }>("send-email", async (ctx) => {
  await sleep(20 + Math.random() * 80, undefined, { signal: ctx.signal });
  return { messageId: `msg-${ctx.job.id}`, to: ctx.job.data.to };
}, { workers: 4 });

queue.define<{ file: string }>("resize-image", async (ctx) => {
  // The first attempt meets a busy image service: an expected, retryable failure.
  if (ctx.job.attempt === 1) throw new JobError("image service busy");
  await ctx.progress(1);
  return { thumbnail: ctx.job.data.file.replace(/\.png$/, ".thumb.png") };
}, { workers: 2, minDelay: 300 });

queue.define<{ amount: number }>("charge-card", async (ctx) => {
  // Every third charge times out once: a plain error, reported and retried with backoff.
  if (ctx.job.attempt === 1 && Number(ctx.job.id) % 3 === 0) throw new Error("payment gateway timed out");
  return { charged: ctx.job.data.amount };
}, { workers: 2, maxAttempts: 3, minDelay: 200 });

queue.define<{ sku: string }>("sync-inventory", async (ctx) => {
  if (ctx.job.data.sku === "discontinued") throw new JobError("product discontinued", { retry: false });
  return { synced: ctx.job.data.sku };
});

const jobs = [
  ...(await queue.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ name: "send-email", data: { to: `user${i}@example.com` } })))),
  ...(await queue.enqueueMany(Array.from({ length: 4 }, (_, i) => ({ name: "send-email", data: { to: `later${i}@example.com` }, delay: 800 + i * 300 })))),
  ...(await queue.enqueueMany(Array.from({ length: 4 }, (_, i) => ({ name: "resize-image", data: { file: `photo${i}.png` } })))),
  ...(await queue.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ name: "charge-card", data: { amount: 10 * (i + 1) } })))),
  await queue.enqueue("sync-inventory", { sku: "A-100" }),
  await queue.enqueue("sync-inventory", { sku: "discontinued" }),
  await queue.enqueue("sync-inventory", { sku: "B-200" }, { delay: 1500 }),
];
const ids = new Set(jobs.map((job) => job.id));
const finished = new Set<string>();
let running = 0;
let retries = 0;
queue.on("job:start", ({ job }) => ids.has(job.id) && running++);
queue.on("job:fail", ({ job }) => {
  if (!ids.has(job.id)) return;
  running--;
  retries++;
});
for (const event of ["job:complete", "job:cancel"] as const) {
  queue.on(event, ({ job }) => {
    if (!ids.has(job.id)) return;
    running--;
    finished.add(job.id);
  });
}

console.log(`hewn demo: ${jobs.length} jobs on ./hewn.db (SQLite)\n`);
const started = Date.now();
await queue.start();

const tty = process.stdout.isTTY;
while (finished.size < ids.size) {
  const line = `  ${String(finished.size).padStart(2)}/${ids.size} finished · ${running} running · ${retries} retries · ${((Date.now() - started) / 1000).toFixed(1)} s`;
  if (tty) process.stdout.write(`\r${line}`);
  else console.log(line);
  await sleep(tty ? 100 : 400);
}
if (tty) process.stdout.write("\n");
await queue.close({ grace: 5_000 });

// The summary is read back from the database, not from the events.
const summary = await Queue.open();
const stored = await Promise.all([...ids].map((id) => summary.get(id)));
await summary.close();
const tasks = [...new Set(jobs.map((job) => job.name))];
const counts = new Map(tasks.map((task) => [task, Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>]));
for (const job of stored) if (job) counts.get(job.name)![job.status]++;

const header = ["task", ...JOB_STATUSES, "total"];
const rows = tasks.map((task) => {
  const byStatus = counts.get(task)!;
  return [task, ...JOB_STATUSES.map((status) => String(byStatus[status])), String(JOB_STATUSES.reduce((sum, s) => sum + byStatus[s], 0))];
});
const totals = ["all", ...JOB_STATUSES.map((_, i) => String(rows.reduce((sum, row) => sum + Number(row[i + 1]), 0))), String(ids.size)];
const widths = header.map((_, i) => Math.max(...[header, ...rows, totals].map((row) => row[i]!.length)));
const format = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
console.log(`\n${format(header)}\n${widths.map((w) => "─".repeat(w)).join("  ")}`);
for (const row of rows) console.log(format(row));
console.log(`${widths.map((w) => "─".repeat(w)).join("  ")}\n${format(totals)}`);

const cancelled = stored.filter((job) => job?.status === "cancelled");
for (const job of cancelled) console.log(`\ncancelled: job ${job!.id} (${job!.name}): ${job!.reason}`);
if (notes.length > 0) console.log(`\nreported to onError (then retried):\n${notes.map((note) => `  ${note}`).join("\n")}`);
console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
