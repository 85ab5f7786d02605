/**
 * The operator's API (admin suite) on both stores, in a file of its own so that the per-store
 * conformance files stay under the per-file timeout on a loaded machine.
 */
import "../leak-check.js";
import { describe } from "node:test";
import { sqliteHarness } from "../harness/sqlite.js";
import { postgresHarness } from "../harness/postgres.js";
import type { StoreHarness } from "../harness/harness.js";
import { adminSuite } from "./admin-suite.js";

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: admin`, { skip }, () => adminSuite(harness));
}
