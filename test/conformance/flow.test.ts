/**
 * The flow-control conformance suite on each store, in a file of its own so that it runs beside the
 * per-store files instead of lengthening them.
 */
import "../leak-check.js";
import { describe } from "node:test";
import type { StoreHarness } from "../harness/harness.js";
import { postgresHarness } from "../harness/postgres.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { flowSuite } from "./flow-suite.js";

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`${harness.kind}: flow control`, { skip }, () => flowSuite(harness));
}
