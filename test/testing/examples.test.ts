/**
 * The documented example tests of hewn/testing (examples/testing/) pass, in Node's test runner and in
 * Vitest, each run as a user would run it.
 */
import "../leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../..", import.meta.url));
/** Runs node with `args` as a user would: outside this test runner (whose NODE_TEST_CONTEXT would make a child report to it). */
function run(args: string[]) {
  const { NODE_TEST_CONTEXT: _runner, ...env } = process.env;
  return promisify(execFile)(process.execPath, args, { cwd: root, env: { ...env, NO_COLOR: "1", FORCE_COLOR: "0" } });
}

test("the Node test runner example passes", async () => {
  const { stdout } = await run(["--import", "tsx", "--test", "--test-reporter=tap", "examples/testing/signup.node.test.ts"]);
  assert.match(stdout, /^# pass 1$/m);
  assert.match(stdout, /^# fail 0$/m);
});

test("the Vitest example passes", async () => {
  const { stdout } = await run([path.join(root, "node_modules/vitest/vitest.mjs"), "run", "examples/testing/signup.vitest.test.ts"]);
  assert.match(stdout, /Tests\s+1 passed/);
});
