/**
 * OpenTelemetry across processes: a producer process enqueues inside an active span, a worker process
 * runs the jobs; each exports its finished spans in memory and prints them. The attempt's consumer span
 * links to the enqueue's producer span (same trace id and span id, carried by the stored W3C context).
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { taskName, within } from "../helpers.js";
import { startWorker } from "./spawn.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/traced-process.ts", import.meta.url));
const PRODUCER = 3;
const CONSUMER = 4;

interface PrintedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  links: Array<{ traceId: string; spanId: string }>;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: string[];
}

async function run(config: Record<string, unknown>): Promise<{ lines: readonly string[]; spans: PrintedSpan[] }> {
  const child = startWorker(config, { fixture: FIXTURE });
  try {
    const line = await child.line(/^spans /, `${String(config.role)} spans`);
    const exit = await within(child.exited, `${String(config.role)} exit`);
    assert.equal(exit.code, 0, child.stderr());
    return { lines: child.lines(), spans: JSON.parse(line.slice("spans ".length)) as PrintedSpan[] };
  } finally {
    await child.kill();
  }
}

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: tracing across processes`, { skip }, () => {
    test("the attempt's consumer span links to the enqueue's producer span, with id, task, attempt, outcome and the error", async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const name = taskName("traced");
      const base = { url: loc.url, ...loc.queueOptions, name };
      const producer = await run({ ...base, role: "producer" });
      const ids = JSON.parse(producer.lines.find((line) => line.startsWith("enqueued "))?.slice("enqueued ".length) ?? "[]") as string[];
      const worker = await run({ ...base, role: "worker", jobs: 2 });

      const request = producer.spans.find((span) => span.name === "request");
      const enqueues = producer.spans.filter((span) => span.name === `enqueue ${name}`);
      assert.ok(request);
      assert.equal(enqueues.length, 2);
      for (const [index, enqueue] of enqueues.entries()) {
        assert.equal(enqueue.kind, PRODUCER);
        assert.equal(enqueue.traceId, request.traceId, "the enqueue span belongs to the caller's trace");
        assert.equal(enqueue.parentSpanId, request.spanId);
        assert.equal(enqueue.attributes["hewn.job.id"], ids[index]);
        assert.equal(enqueue.attributes["hewn.task"], name);
      }
      const processes = worker.spans.filter((span) => span.name === `process ${name}`);
      assert.equal(processes.length, 2);
      for (const [index, id] of ids.entries()) {
        const consumer = processes.find((span) => span.attributes["hewn.job.id"] === id);
        const enqueue = enqueues[index];
        assert.ok(consumer && enqueue);
        t.diagnostic(`${harness.kind}: "${enqueue.name}" (${enqueue.traceId}/${enqueue.spanId}, parent "request") ← link ← "${consumer.name}" (${consumer.traceId}/${consumer.spanId}), ${JSON.stringify(consumer.attributes)}`);
        assert.equal(consumer.kind, CONSUMER);
        assert.deepEqual(consumer.links, [{ traceId: enqueue.traceId, spanId: enqueue.spanId }]);
        assert.equal(consumer.attributes["hewn.task"], name);
        assert.equal(consumer.attributes["hewn.attempt"], 1);
      }
      const [ok, failed] = ids.map((id) => processes.find((span) => span.attributes["hewn.job.id"] === id));
      assert.equal(ok?.attributes["hewn.outcome"], "completed");
      assert.equal(ok?.status.code, 0);
      assert.equal(failed?.attributes["hewn.outcome"], "failed");
      assert.equal(failed?.status.code, 2);
      assert.equal(failed?.status.message, "the handler failed on purpose");
      assert.deepEqual(failed?.events, ["exception"]);
    });
  });
}
