/**
 * The conformance suite of periodic jobs on every store (a file of its own, so it runs beside the main per-store files).
 */
import "../leak-check.js";
import { describe } from "node:test";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { periodicSuite } from "./periodic-suite.js";

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: periodic jobs`, { skip }, () => periodicSuite(harness));
}
