#!/usr/bin/env node
/**
 * The `hewn` executable (package.json `bin`).
 * @module
 */
import { CommanderError } from "commander";
import { buildProgram } from "./program.js";

const program = buildProgram().exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Commander has printed its one-line message already (usage errors, --help, --version).
  if (!(error instanceof CommanderError)) throw error;
  process.exitCode = error.exitCode;
}
