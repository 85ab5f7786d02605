/**
 * The PostgreSQL side of the store harness: every location is a fresh schema in one test database.
 * Outside CI a missing server skips the suites (loudly); in CI it fails them, so a broken service
 * container can never turn into a green build.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import type { Store } from "../../src/store/store.js";
import type { StoreHarness, TestLocation } from "./harness.js";

export const databaseUrl = process.env.HEWN_TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test";

let availability: Promise<string | null> | undefined;

async function probe(): Promise<string | null> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (error) {
    const reason = `PostgreSQL unreachable at ${redact(databaseUrl)}: ${(error as Error).message}`;
    if (process.env.CI === "true") throw new Error(`PostgreSQL is required in CI (set HEWN_TEST_DATABASE_URL). ${reason}`, { cause: error });
    process.stderr.write(`!!!!! SKIPPING ALL POSTGRESQL TESTS: ${reason} (set HEWN_TEST_DATABASE_URL) !!!!!\n`);
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable URL>";
  }
}

export const postgresHarness: StoreHarness = {
  kind: "postgres",

  skipReason() {
    // Once per process: one probe, one warning line, however many suites ask.
    availability ??= probe();
    return availability;
  },

  async fresh(): Promise<TestLocation> {
    const schema = `hewn_t_${randomBytes(6).toString("hex")}`;
    const table = `"${schema}".jobs`;
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    admin.on("error", () => undefined);
    const stores = new Set<Store>();
    let dropped: Promise<void> | undefined;

    const exec = async (text: string, params: unknown[] = []) =>
      (await admin.query(text.replaceAll("{table}", table), params)).rows as Array<Record<string, unknown>>;

    return {
      url: databaseUrl,
      schema,
      queueOptions: { postgres: { schema } },
      async openStore() {
        const store = new PostgresStore({ pool: new pg.Pool({ connectionString: databaseUrl, max: 4 }), ownsPool: true, schema });
        stores.add(store);
        await store.migrate();
        return store;
      },
      async makeAvailableNow(id) {
        await exec("UPDATE {table} SET available_at = now() - interval '1 second' WHERE id = $1", [id]);
      },
      async backdateFinished(id, ms) {
        await exec("UPDATE {table} SET finished_at = finished_at - $2 * interval '1 millisecond' WHERE id = $1", [id, ms]);
      },
      exec,
      async transaction(commit, fn) {
        // A plain client of its own, like an application's: the store must not need anything else as `tx`.
        const client = new pg.Client({ connectionString: databaseUrl });
        client.on("error", () => undefined);
        await client.connect();
        try {
          await client.query("BEGIN");
          try {
            await fn(client);
          } catch (error) {
            await client.query("ROLLBACK");
            throw error;
          }
          await client.query(commit ? "COMMIT" : "ROLLBACK");
        } finally {
          await client.end();
        }
      },
      drop() {
        dropped ??= (async () => {
          await Promise.all([...stores].map((store) => store.close()));
          try {
            await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await admin.end();
          }
        })();
        return dropped;
      },
    };
  },
};
