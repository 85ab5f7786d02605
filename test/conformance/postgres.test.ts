/**
 * The conformance suite on postgres.
 */
import "../leak-check.js";
import { describe } from "node:test";
import { postgresHarness as harness } from "../harness/postgres.js";
import { storeSuite } from "./store-suite.js";
import { queueSuite } from "./queue-suite.js";
import { validationSuite } from "./validation-suite.js";
import { apiSuite } from "./api-suite.js";
import { schemaSuite } from "./schema-suite.js";
import { flowSuite } from "./flow-suite.js";

const skip = (await harness.skipReason()) ?? false;

describe("postgres: store", { skip }, () => storeSuite(harness));
describe("postgres: queue", { skip }, () => queueSuite(harness));
describe("postgres: validation", { skip }, () => validationSuite(harness));
describe("postgres: api", { skip }, () => apiSuite(harness));
describe("postgres: schemas", { skip }, () => schemaSuite(harness));
describe("postgres: flow control", { skip }, () => flowSuite(harness));
