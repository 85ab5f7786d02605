/**
 * The shop's web service (Express): places orders and enqueues their jobs in the same PostgreSQL
 * transaction, shows jobs, and mounts hewn's dashboard at /admin. It runs no jobs itself: worker.ts does.
 *
 *   DATABASE_URL=postgres://root@127.0.0.1:5432/test PORT=3000 npx tsx examples/shop/server.ts
 */
import express from "express";
import pg from "pg";
import { pathToFileURL } from "node:url";
import { Queue, ValidationError } from "../../src/index.js";
import { createDashboard } from "../../src/dashboard/index.js";
import { sendReceipt, ship } from "./tasks.js";

export interface ShopOptions {
  databaseUrl: string;
  /** The PostgreSQL schema of the queue and the orders table. Default `hewn`. */
  schema?: string;
}

export async function createShop({ databaseUrl, schema = "hewn" }: ShopOptions) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const queue = await Queue.open(undefined, { postgres: { pool, schema } });
  const orders = `"${schema}".orders`;
  await pool.query(`CREATE TABLE IF NOT EXISTS ${orders} (id serial PRIMARY KEY, item text NOT NULL CHECK (item <> ''), email text NOT NULL)`);

  const app = express();
  app.use(express.json());

  // The order and its jobs commit together, or none of them exists.
  app.post("/orders", async (req, res, next) => {
    const { item, email } = req.body as { item?: unknown; email?: unknown };
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const { rows: [order] } = await client.query<{ id: number }>(`INSERT INTO ${orders} (item, email) VALUES ($1, $2) RETURNING id`, [item, email]);
      if (!order) throw new Error("no order row");
      const receipt = await queue.enqueue(sendReceipt, { orderId: order.id, email: String(email) }, { tx: client });
      const shipment = await queue.enqueue(ship, { orderId: order.id, receiptJobId: receipt.id }, { tx: client });
      await client.query("COMMIT");
      res.status(201).json({ orderId: order.id, receiptJobId: receipt.id, shipJobId: shipment.id });
    } catch (error) {
      await client.query("ROLLBACK");
      if (error instanceof ValidationError || (error as { code?: string }).code === "23514") {
        res.status(400).json({ error: (error as Error).message });
      } else {
        next(error);
      }
    } finally {
      client.release();
    }
  });

  app.get("/jobs/:id", async (req, res) => {
    const job = await queue.get(req.params.id);
    if (job) res.json(job);
    else res.status(404).json({ error: "no such job" });
  });

  app.use("/admin", createDashboard(queue));

  return {
    app,
    queue,
    async close() {
      await queue.close();
      await pool.end();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const shop = await createShop({ databaseUrl: process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test" });
  const server = shop.app.listen(Number(process.env.PORT ?? 3000), () => console.log(`shop listening on ${JSON.stringify(server.address())}`));
  process.once("SIGTERM", () => server.close(() => void shop.close()));
}
