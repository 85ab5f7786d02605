/**
 * Enqueue → handler-start latency with idle workers, as S4 of `npm run bench` measures it, in one queue
 * and process, for looking into: prints p50/p95/p99/max in ms of the handler's start and, beside it, of
 * the enqueue call's own resolution (the insert's round trip and commit).
 *
 *   node --import tsx bench/profile/latency.ts pg|sqlite [jobs=250] [perSecond=50]
 * @module
 */
import { openPlace } from "./place.js";

const [storeArg = "sqlite", jobsArg = "250", rateArg = "50"] = process.argv.slice(2);
const jobs = Number(jobsArg);
const perSecond = Number(rateArg);
const place = await openPlace(storeArg, "latency");
const { queue } = place;
try {
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  /** How long each enqueue call took to resolve (the insert's round trip and commit). */
  const stored: number[] = [];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  queue.define<{ i: number }>("latency", (ctx) => {
    latencies.push(performance.now() - sentAt.get(ctx.job.data.i)!);
    if (latencies.length === jobs) finish();
    return null;
  }, { workers: 10 });
  await queue.start();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const started = performance.now();
  for (let i = 0; i < jobs; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sentAt.set(i, performance.now());
    const sent = performance.now();
    void queue.enqueue("latency", { i }).then(() => stored.push(performance.now() - sent));
  }
  await done;
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => +sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: +sorted.at(-1)!.toFixed(2) };
  };
  console.log(JSON.stringify({ store: storeArg, jobs, start: summary(latencies), enqueueResolved: summary(stored) }));
} finally {
  await place.close();
}
