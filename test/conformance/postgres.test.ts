/**
 * The conformance suite on postgres.
 */
import "../leak-check.js";
import { describe } from "node:test";
import { postgresHarness as harness } from "../harness/postgres.js";
import { storeSuite } from "./store-suite.js";
import { traceSuite } from "./trace-suite.js";
import { queueSuite } from "./queue-suite.js";
import { validationSuite } from "./validation-suite.js";
import { apiSuite } from "./api-suite.js";
import { schemaSuite } from "./schema-suite.js";

const skip = (await harness.skipReason()) ?? false;

describe("postgres: store", { skip }, () => storeSuite(harness));
describe("postgres: trace context", { skip }, () => traceSuite(harness));
describe("postgres: queue", { skip }, () => queueSuite(harness));
describe("postgres: validation", { skip }, () => validationSuite(harness));
describe("postgres: api", { skip }, () => apiSuite(harness));
describe("postgres: schemas", { skip }, () => schemaSuite(harness));
