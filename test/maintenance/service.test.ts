/**
 * The maintenance service contract, on a bare periodic service: idempotent start and stop, stop safe
 * before start, every error reported (and the next run still comes), stop waits for the run in progress.
 */
import "../leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { TypedEmitter, type QueueEvents } from "../../src/events.js";
import { PeriodicService, type ServiceDeps } from "../../src/maintenance/service.js";
import type { ErrorContext } from "../../src/report.js";
import type { Store } from "../../src/store/store.js";
import { Signal, within } from "../helpers.js";

/** Runs `body` on every run, counting them. */
class Probe extends PeriodicService {
  runs = 0;
  constructor(deps: ServiceDeps, readonly body: (run: number, signal: AbortSignal) => Promise<void>) {
    super(deps, { source: "retention", firstRunMs: 0, everyMs: 1 });
  }

  protected async run(signal: AbortSignal): Promise<void> {
    await this.body(++this.runs, signal);
  }
}

function deps(reported: Array<{ error: Error; context: ErrorContext }>): ServiceDeps {
  return {
    store: {} as Store,
    events: new TypedEmitter<QueueEvents>(() => undefined),
    clock: { now: () => Date.now() },
    report: (error, context) => reported.push({ error, context }),
  };
}

test("stop() before start() resolves, and start() after stop() does nothing", async () => {
  const probe = new Probe(deps([]), async () => undefined);
  await probe.stop();
  await probe.stop();
  probe.start();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(probe.runs, 0);
});

test("errors are reported with the service's source and the next run still comes; stop waits for the run in progress", async () => {
  const reported: Array<{ error: Error; context: ErrorContext }> = [];
  const third = new Signal();
  const proceed = new Signal();
  const probe = new Probe(deps(reported), async (run) => {
    if (run === 1) throw new Error("first run failed");
    if (run === 3) {
      third.resolve();
      await proceed.promise;
    }
  });
  probe.start();
  probe.start();
  await within(third.promise, "the third run");
  let stopped = false;
  const stopping = probe.stop().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, "stop waits for the run in progress");
  proceed.resolve();
  await within(stopping, "stop");
  assert.equal(probe.runs, 3, "no run after stop, and start() twice did not double the runs");
  assert.deepEqual(reported.map((entry) => [entry.error.message, entry.context.source]), [["first run failed", "retention"]]);
});

test("a run sees its signal abort when the service stops", async () => {
  const started = new Signal();
  let abortedDuringRun = false;
  const probe = new Probe(deps([]), async (_run, signal) => {
    started.resolve();
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    abortedDuringRun = signal.aborted;
  });
  probe.start();
  await within(started.promise, "the first run");
  await within(probe.stop(), "stop");
  assert.equal(abortedDuringRun, true);
});

/** Returns the wait before its next run (an hour), and counts runs. */
class Timed extends PeriodicService {
  runs = 0;
  readonly ran = [new Signal(), new Signal(), new Signal()];
  constructor(deps: ServiceDeps, readonly during?: (run: number) => void) {
    super(deps, { source: "schedule", firstRunMs: 0, everyMs: 1 });
  }

  protected async run(): Promise<number> {
    const run = ++this.runs;
    this.during?.(run);
    this.ran[run - 1]?.resolve();
    return 3_600_000;
  }
}

test("a run may set the wait before the next; wake() brings it forward, also from inside a run", async () => {
  let timed: Timed | undefined;
  // The first run wakes the service while it runs: the second run follows at once, not in an hour.
  timed = new Timed(deps([]), (run) => run === 1 && timed?.wake());
  timed.wake(); // before start: nothing
  timed.start();
  await within(timed.ran[1]!.promise, "the run woken during the first");
  timed.wake();
  await within(timed.ran[2]!.promise, "the run woken after the second");
  assert.equal(timed.runs, 3);
  await timed.stop();
  timed.wake(); // after stop: nothing
  assert.equal(timed.runs, 3);
});
