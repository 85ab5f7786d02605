/**
 * The conformance suite on sqlite.
 */
import "../leak-check.js";
import { describe } from "node:test";
import { sqliteHarness as harness } from "../harness/sqlite.js";
import { storeSuite } from "./store-suite.js";
import { traceSuite } from "./trace-suite.js";
import { queueSuite } from "./queue-suite.js";
import { validationSuite } from "./validation-suite.js";
import { apiSuite } from "./api-suite.js";
import { schemaSuite } from "./schema-suite.js";

const skip = (await harness.skipReason()) ?? false;

describe("sqlite: store", { skip }, () => storeSuite(harness));
describe("sqlite: trace context", { skip }, () => traceSuite(harness));
describe("sqlite: queue", { skip }, () => queueSuite(harness));
describe("sqlite: validation", { skip }, () => validationSuite(harness));
describe("sqlite: api", { skip }, () => apiSuite(harness));
describe("sqlite: schemas", { skip }, () => schemaSuite(harness));
