/**
 * The SQLite harness: each location is a new database file in the OS temp directory.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store } from "../../src/store/store.js";
import type { StoreHarness, TestLocation } from "./harness.js";

export const sqliteHarness: StoreHarness = {
  kind: "sqlite",
  skipReason: () => Promise.resolve(null),
  async fresh() {
    const filename = path.join(os.tmpdir(), `hewn-test-${process.pid}-${randomUUID()}.db`);
    // An empty file is a valid empty database; "wx" guarantees it is ours alone.
    await fs.writeFile(filename, "", { flag: "wx" });
    return sqliteLocation(filename);
  },
};

function sqliteLocation(filename: string): TestLocation {
  const stores: Store[] = [];
  let direct: Database.Database | undefined;
  const connection = (): Database.Database => (direct ??= new Database(filename, { timeout: 5000 }));

  const exec = async (sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> => {
    const statement = connection().prepare(sql.replaceAll("{table}", "hewn_jobs"));
    if (statement.reader) return statement.all(...params) as Array<Record<string, unknown>>;
    statement.run(...params);
    return [];
  };

  return {
    url: `sqlite:${filename}`,
    queueOptions: {},
    async openStore() {
      const store = new SqliteStore({ filename });
      stores.push(store);
      await store.migrate();
      return store;
    },
    async makeAvailableNow(id) {
      await exec("UPDATE {table} SET available_at = ? WHERE id = ?", [Date.now() - 1000, id]);
    },
    async backdateFinished(id, ms) {
      await exec("UPDATE {table} SET finished_at = finished_at - ? WHERE id = ?", [ms, id]);
    },
    exec,
    async transaction(commit, fn) {
      // A handle of its own, as a user's would be; the store sees it only through `tx`.
      const db = new Database(filename, { timeout: 5000 });
      try {
        db.exec("BEGIN");
        try {
          await fn(db);
        } catch (error) {
          if (db.inTransaction) db.exec("ROLLBACK");
          throw error;
        }
        db.exec(commit ? "COMMIT" : "ROLLBACK");
      } finally {
        db.close();
      }
    },
    async drop() {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      direct?.close();
      direct = undefined;
      await Promise.all(["", "-wal", "-shm"].map((suffix) => fs.rm(filename + suffix, { force: true })));
    },
  };
}
