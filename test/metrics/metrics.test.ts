/**
 * Prometheus metrics: hewn's collectors in an application's own prom-client registry, and `/metrics`
 * on the dashboard server.
 */
import "../leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { JobError } from "../../src/index.js";
import { registerMetrics } from "../../src/metrics/index.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { postgresHarness } from "../harness/postgres.js";
import type { StoreHarness } from "../harness/harness.js";
import { Signal, setup, taskName, within } from "../helpers.js";

/** The value of one sample in a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  test(`metrics on ${harness.kind}: an app's registry and the dashboard's /metrics`, { skip }, async (t) => {
    const { queue } = await setup(t, harness);
    const registry = new Registry();
    const metrics = registerMetrics(queue, { registry, statsTtl: 0 });
    t.after(() => metrics.unregister());
    const name = taskName();
    const settled = new Signal<void>();
    let left = 3;
    const done = () => --left === 0 && settled.resolve();
    queue.on("job:complete", done).on("job:cancel", done);
    queue.define<{ ok: boolean }>(name, (ctx) => {
      if (!ctx.job.data.ok) throw new JobError("refused", { retry: false });
      return null;
    });
    await queue.enqueueMany([{ name, data: { ok: true } }, { name, data: { ok: true } }, { name, data: { ok: false } }]);
    await queue.enqueue(name, { ok: true }, { delay: 3_600_000 });
    await queue.pause(`${name}-other`);
    await queue.start();
    await within(settled.promise, "three jobs to settle");

    const text = await registry.metrics();
    const task = `task="${name}"`;
    assert.equal(sample(text, `hewn_jobs_enqueued_total{${task}}`), 4);
    assert.equal(sample(text, `hewn_jobs_started_total{${task}}`), 3);
    assert.equal(sample(text, `hewn_jobs_completed_total{${task}}`), 2);
    assert.equal(sample(text, `hewn_jobs_cancelled_total{${task}}`), 1);
    assert.equal(sample(text, `hewn_job_run_seconds_count{${task},outcome="completed"}`), 2);
    assert.equal(sample(text, `hewn_job_wait_seconds_count{${task}}`), 3);
    assert.equal(sample(text, `hewn_jobs{${task},status="completed"}`), 2);
    assert.equal(sample(text, `hewn_jobs{${task},status="cancelled"}`), 1);
    assert.equal(sample(text, `hewn_jobs{${task},status="enqueued"}`), 1);
    assert.equal(sample(text, `hewn_task_paused{task="${name}-other"}`), 1);
    assert.equal(sample(text, "hewn_running_jobs"), 0);
    assert.match(text, /# TYPE hewn_lease_losses_total counter/);
    assert.match(text, /# TYPE hewn_crashes_total counter/);

    const server = await serveDashboard(queue, { port: 0, statsTtl: 0 });
    t.after(() => server.close());
    const response = await fetch(`${server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const exposed = await response.text();
    assert.equal(sample(exposed, `hewn_jobs{${task},status="completed"}`), 2);
    assert.equal(sample(exposed, `hewn_task_paused{task="${name}-other"}`), 1);
    assert.match(exposed, /# TYPE hewn_oldest_ready_seconds gauge/);

    metrics.unregister();
    assert.equal((await registry.getMetricsAsJSON()).length, 0, "unregister removes every collector");
  });
}
