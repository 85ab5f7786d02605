/**
 * A worker in its own OS process, for S5 (two processes draining one queue) and S6 (peak RSS).
 *
 *   node --import tsx bench/worker-process.ts <system id> '<json WorkerConfig>'
 *
 * Only the system's own adapter file is loaded, so the RSS figures of S6 count no other library.
 *
 * Talks to the parent over IPC: sends `ready` once the system is open, starts the workers on `go`,
 * reports progress (handler runs so far, when the last one ran, RSS) every 25 ms while it changes, and
 * on `stop` stops the workers gracefully, writes the last runs and exits. Every handler run appends
 * the job's index to `runsFile` (one per line), so the parent can check exactly-once across processes.
 * @module
 */
import { appendFileSync } from "node:fs";
import { loadSystem } from "./adapters/load.js";
import { vmHwm, type FromChild, type ToChild, type WorkerConfig } from "./child.js";

const send = (message: FromChild) => process.send?.(message);

async function main(): Promise<void> {
  const [id, json] = process.argv.slice(2);
  if (!id || !json) throw new Error("usage: worker-process.ts <system id> <json config>");
  const config = JSON.parse(json) as WorkerConfig;
  const adapter = await (await loadSystem(config.family, id)).open(config.place);
  const errors = adapter.errors;

  let runs = 0;
  let lastAt = 0;
  let pending: number[] = [];
  let peakRss = process.memoryUsage.rss();
  const flush = () => {
    if (pending.length === 0) return;
    appendFileSync(config.runsFile, `${pending.join("\n")}\n`);
    pending = [];
  };
  let reported = -1;
  const tick = setInterval(() => {
    const rss = process.memoryUsage.rss();
    peakRss = Math.max(peakRss, rss);
    flush();
    if (runs !== reported) {
      reported = runs;
      send({ type: "progress", runs, lastAt, rss, peakRss });
    }
  }, 25);

  process.on("message", (message: ToChild) => {
    if (message.type === "go") {
      adapter.startWorkers(config.concurrency, (index) => {
        runs += 1;
        lastAt = performance.timeOrigin + performance.now();
        pending.push(index);
      }).catch((error: unknown) => send({ type: "failed", message: `startWorkers: ${String(error)}` }));
    } else if (message.type === "stop") {
      void (async () => {
        try {
          await adapter.stopWorkers();
          await adapter.close();
        } catch (error) {
          errors.push(`stop: ${String(error)}`);
        }
        clearInterval(tick);
        flush();
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
        send({ type: "stopped", runs, lastAt, peakRss, vmHwm: vmHwm(), errors: errors.slice(0, 20) });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50).unref();
      })();
    }
  });
  send({ type: "ready", rss: process.memoryUsage.rss() });
}

main().catch((error: unknown) => {
  send({ type: "failed", message: error instanceof Error ? error.stack ?? error.message : String(error) });
  setTimeout(() => process.exit(1), 100).unref();
});
