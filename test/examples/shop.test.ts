/**
 * Smoke test of examples/shop: its worker runs as a child process, its web service in this process, on
 * a fresh PostgreSQL schema. An order commits with its jobs, which the worker runs (the shipment after
 * waiting for the receipt); an invalid order rolls back with none; the periodic report runs; the
 * dashboard answers at /admin.
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { createShop } from "../../examples/shop/server.js";
import { postgresHarness, databaseUrl } from "../harness/postgres.js";
import { startWorker } from "../process/spawn.js";
import { until } from "../helpers.js";

const skip = (await postgresHarness.skipReason()) ?? false;

describe("examples/shop", { skip }, () => {
  test("orders commit with their jobs, a worker process runs them, the dashboard is mounted", async (t) => {
    const loc = await postgresHarness.fresh();
    t.after(() => loc.drop());
    const schema = loc.schema ?? "hewn";
    const shop = await createShop({ databaseUrl, schema });
    t.after(() => shop.close());
    const server = shop.app.listen(0);
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const worker = startWorker({}, {
      fixture: fileURLToPath(new URL("../../examples/shop/worker.ts", import.meta.url)),
      env: { DATABASE_URL: databaseUrl, HEWN_SCHEMA: schema, REPORT_EVERY_MS: "500" },
    });
    t.after(() => worker.kill());
    await worker.line(/worker ready/, "the worker to start");

    const post = (body: unknown) => fetch(`${base}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const placed = await post({ item: "book", email: "ada@example.com" });
    assert.equal(placed.status, 201);
    const { orderId, receiptJobId, shipJobId } = (await placed.json()) as { orderId: number; receiptJobId: string; shipJobId: string };
    const shipped = await shop.queue.waitFor(shipJobId, { timeout: 20_000 });
    assert.deepEqual(shipped.result, { shipped: orderId, receiptSentTo: "ada@example.com" });
    assert.equal((await shop.queue.get(receiptJobId))?.status, "completed");
    const shown = (await (await fetch(`${base}/jobs/${shipJobId}`)).json()) as { status: string };
    assert.equal(shown.status, "completed");

    // An invalid e-mail fails the task's schema at enqueue: the order rolls back, and no job exists.
    const refused = await post({ item: "pen", email: "not-an-address" });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: string }).error, /data\.email/);
    assert.deepEqual(await loc.exec(`SELECT count(*)::int AS n FROM "${schema}".orders`), [{ n: 1 }]);
    assert.equal((await shop.queue.count("shop-send-receipt")).enqueued + (await shop.queue.count("shop-ship")).enqueued, 0);

    // The periodic report, scheduled by the worker, runs in its slots.
    await until(async () => (await shop.queue.count("shop-sales-report")).completed >= 1, "a periodic report to run");

    const admin = await fetch(`${base}/admin/`);
    assert.equal(admin.status, 200);
    assert.match(admin.headers.get("content-type") ?? "", /text\/html/);
    await admin.text();

    assert.equal(await worker.stop(), 0, "the worker shut down gracefully");
  });
});
