/**
 * Store-level levers of the fault suite: reading leases, terminating PostgreSQL backends, restarting the
 * PostgreSQL cluster, and checking a SQLite file's integrity.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import type { TestLocation } from "../../harness/harness.js";
import { databaseUrl } from "../../harness/postgres.js";
import { waitFor } from "./wait.js";

const run = promisify(execFile);

export interface Lease {
  id: string;
  attempts: number;
  /** The lease expiry, epoch ms. */
  expiresAt: number;
}

/** Every `dequeued` job with its lease expiry. */
export async function leases(loc: TestLocation, kind: "sqlite" | "postgres"): Promise<Lease[]> {
  const rows = kind === "postgres"
    ? await loc.exec("SELECT id::text AS id, attempts, (extract(epoch FROM available_at) * 1000)::float8 AS at FROM {table} WHERE status = 'dequeued'")
    : await loc.exec("SELECT CAST(id AS TEXT) AS id, attempts, available_at AS at FROM {table} WHERE status = 'dequeued'");
  return rows.map((row) => ({ id: String(row.id), attempts: Number(row.attempts), expiresAt: Number(row.at) }));
}

/** Makes every waiting job available now (delays are irrelevant to what is checked). */
export async function makeAllAvailable(loc: TestLocation, kind: "sqlite" | "postgres"): Promise<void> {
  if (kind === "postgres") await loc.exec("UPDATE {table} SET available_at = now() - interval '1 second' WHERE status IN ('enqueued', 'failed')");
  else await loc.exec("UPDATE {table} SET available_at = ? WHERE status IN ('enqueued', 'failed')", [Date.now() - 1000]);
}

/** A URL whose connections (pool and LISTEN alike: pg lets the URL's parameters win) carry `appName`. */
export function urlWithApplicationName(url: string, appName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("application_name", appName);
  return parsed.toString();
}

/**
 * Terminates the backends of this test database whose application_name is `appName` (never this
 * connection, never anyone else's). Returns how many were terminated.
 */
export async function terminateBackends(appName: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "hewn-faults-admin" });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`,
      [appName],
    );
    return rows.filter((row) => row.ok).length;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** How many backends of this database carry `appName`. */
export async function countBackends(appName: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "hewn-faults-admin" });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
      [appName],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function cluster(): string {
  const versions = readdirSync("/etc/postgresql");
  if (versions.length !== 1) throw new Error(`expected one PostgreSQL version in /etc/postgresql, found ${versions.join(", ")}`);
  return versions[0]!;
}

async function ready(): Promise<boolean> {
  try {
    await run("pg_isready", ["-h", "127.0.0.1", "-p", "5432", "-q"]);
    return true;
  } catch {
    return false;
  }
}

/** Restarts the PostgreSQL cluster (fast mode: connections are cut at once) and waits until it answers. */
export async function restartPostgres(): Promise<void> {
  await run("pg_ctlcluster", ["--skip-systemctl-redirect", cluster(), "main", "restart"], { timeout: 60_000 });
  await waitFor(ready, "PostgreSQL to accept connections after the restart", 60_000, 100);
}

/** Starts PostgreSQL if it is down (every scenario that restarts it leaves it running). */
export async function ensurePostgresRunning(): Promise<void> {
  if (await ready()) return;
  await run("pg_ctlcluster", ["--skip-systemctl-redirect", cluster(), "main", "start"], { timeout: 60_000 }).catch(() => undefined);
  await waitFor(ready, "PostgreSQL to accept connections", 60_000, 100);
}

/** `PRAGMA integrity_check` of a SQLite file, on a connection of its own: "ok" when consistent. */
export function integrityCheck(file: string): string {
  const db = new Database(file, { timeout: 10_000 });
  try {
    return (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((row) => row.integrity_check).join("; ");
  } finally {
    db.close();
  }
}
