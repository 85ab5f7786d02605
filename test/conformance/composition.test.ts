/**
 * The composition conformance suites (waitFor and dead letters, dependencies, job-scoped transactions
 * and checkpoints) on every store. A file of their own, so they run beside the main conformance files
 * rather than inside their time budget.
 */
import "../leak-check.js";
import { describe } from "node:test";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { afterSuite } from "./after-suite.js";
import { txSuite } from "./tx-suite.js";
import { waitSuite } from "./wait-suite.js";

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: waitFor and dead letters`, { skip }, () => waitSuite(harness));
  describe(`${harness.kind}: dependencies`, { skip }, () => afterSuite(harness));
  describe(`${harness.kind}: job-scoped transactions and checkpoints`, { skip }, () => txSuite(harness));
}
