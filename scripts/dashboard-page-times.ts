/**
 * Dashboard page times on a large table: fills a fresh database with N jobs (default 1,000,000) straight
 * through SQL, serves the dashboard, and times each page (median of several requests).
 *
 *   tsx scripts/dashboard-page-times.ts sqlite [jobs]
 *   tsx scripts/dashboard-page-times.ts postgres [jobs]      # HEWN_TEST_DATABASE_URL or postgres://root@127.0.0.1:5432/test
 *
 * Not part of `npm test` (it takes minutes and wants a quiet machine). Jobs: 10 tasks, 90 % completed,
 * 5 % cancelled, 3 % enqueued, 1 % failed, 1 % dequeued, created over the last 30 days, every 100th labelled.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import pg from "pg";
import { Queue } from "../src/index.js";
import { serveDashboard } from "../src/dashboard/index.js";

const kind = process.argv[2] === "postgres" ? "postgres" : "sqlite";
const total = Number(process.argv[3] ?? 1_000_000);
const pgUrl = process.env.HEWN_TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test";
const schema = `hewn_pagetimes_${process.pid}`;
const file = path.join(os.tmpdir(), `hewn-pagetimes-${process.pid}.db`);
const DAY = 86_400_000;

/** status by i % 100, as SQL; the same on both stores. */
const STATUS = `CASE WHEN i % 100 < 90 THEN 'completed' WHEN i % 100 < 95 THEN 'cancelled' WHEN i % 100 < 98 THEN 'enqueued'
  WHEN i % 100 < 99 THEN 'failed' ELSE 'dequeued' END`;

async function fill(): Promise<void> {
  const started = performance.now();
  if (kind === "sqlite") {
    const db = new Database(file);
    const now = Date.now();
    db.exec(`INSERT INTO hewn_jobs (name, data, status, created_at, available_at, started_at, ended_at, finished_at, attempts, label, reason)
      WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${total})
      SELECT 'task-' || (i % 10), '{"n":' || i || ',"to":"user' || i || '@example.com"}', ${STATUS},
        ${now} - ${30 * DAY} + i * ${Math.floor((30 * DAY) / total)}, ${now} - ${30 * DAY} + i * ${Math.floor((30 * DAY) / total)} + 1000,
        NULL, NULL, CASE WHEN i % 100 < 95 THEN ${now} - ${30 * DAY} + i * ${Math.floor((30 * DAY) / total)} + 2000 END,
        CASE WHEN i % 100 < 95 THEN 1 ELSE 0 END, CASE WHEN i % 100 = 7 THEN 'order-' || i END,
        CASE WHEN i % 100 BETWEEN 90 AND 94 THEN 'gave up' END
      FROM seq`);
    db.exec("ANALYZE");
    db.close();
  } else {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`INSERT INTO "${schema}".jobs (name, data, status, created_at, available_at, finished_at, attempts, label, reason)
      SELECT 'task-' || (i % 10), json_build_object('n', i, 'to', 'user' || i || '@example.com'), ${STATUS},
        now() - interval '30 days' + i * (interval '30 days' / ${total}), now() - interval '30 days' + i * (interval '30 days' / ${total}) + interval '1 second',
        CASE WHEN i % 100 < 95 THEN now() - interval '30 days' + i * (interval '30 days' / ${total}) + interval '2 seconds' END,
        CASE WHEN i % 100 < 95 THEN 1 ELSE 0 END, CASE WHEN i % 100 = 7 THEN 'order-' || i END,
        CASE WHEN i % 100 BETWEEN 90 AND 94 THEN 'gave up' END
      FROM generate_series(1, ${total}) AS i`);
    await client.query(`VACUUM ANALYZE "${schema}".jobs`);
    await client.end();
  }
  console.log(`filled ${total.toLocaleString("en")} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function time(url: string, runs = 7): Promise<{ median: number; first: number; status: number; bytes: number }> {
  const times: number[] = [];
  let status = 0;
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const response = await fetch(url, { redirect: "manual" });
    const body = await response.text();
    times.push(performance.now() - t0);
    status = response.status;
    bytes = body.length;
  }
  const first = times[0] ?? 0;
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, first, status, bytes };
}

async function main(): Promise<void> {
  const url = kind === "sqlite" ? `sqlite:${file}` : pgUrl;
  const options = kind === "sqlite" ? {} : { postgres: { schema } };
  const setupQueue = await Queue.open(url, options);
  await setupQueue.close();
  await fill();
  const queue = await Queue.open(url, { ...options, migrate: false });
  const cached = await serveDashboard(queue, { port: 0, refreshInterval: 0 });
  const uncached = await serveDashboard(queue, { port: 0, refreshInterval: 0, statsTtl: 0 });
  try {
    const mid = (await queue.list({ order: "desc", limit: 1, createdBefore: new Date(Date.now() - 15 * DAY) }))[0];
    const label = (await queue.list({ label: `order-${Math.floor(total / 2 / 100) * 100 + 7}` }))[0];
    const pages: Array<[string, string]> = [
      ["overview, stats counted (statsTtl 0)", `${uncached.url}/`],
      ["overview, stats cached (default 5 s)", `${cached.url}/`],
      ["/metrics, stats cached", `${cached.url}/metrics`],
      ["job list, newest 50", `${cached.url}/jobs`],
      ["job list, status=failed", `${cached.url}/jobs?status=failed`],
      ["job list, task-3 + status=cancelled", `${cached.url}/jobs?name=task-3&status=cancelled`],
      ["job list, a page 15 days deep (before=<id>)", `${cached.url}/jobs?before=${mid?.id ?? "1"}`],
      ["job list, previous page (after=<id>)", `${cached.url}/jobs?after=${mid?.id ?? "1"}`],
      ["job list, search by label", `${cached.url}/jobs?q=${label?.label ?? "order-7"}`],
      ["job list, search by id (redirect)", `${cached.url}/jobs?q=${mid?.id ?? "1"}`],
      ["job detail", `${cached.url}/jobs/${mid?.id ?? "1"}`],
    ];
    console.log(`\n${kind}, ${total.toLocaleString("en")} jobs (${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(1)}): median of 7 requests\n`);
    console.log("| page | median ms | first ms | status |");
    console.log("|---|---:|---:|---:|");
    for (const [name, page] of pages) {
      const { median, first, status } = await time(page);
      console.log(`| ${name} | ${median.toFixed(1)} | ${first.toFixed(1)} | ${status} |`);
    }
  } finally {
    await cached.close();
    await uncached.close();
    await queue.close();
    if (kind === "sqlite") for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(`${file}${suffix}`, { force: true });
    else {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    }
  }
}

await main();
