/**
 * The leak check itself: it is wired into every test file, and it sees what a test can leave behind.
 */
import "./leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { leakedSince, resources } from "./leak-check.js";

test("every test file imports the leak check", () => {
  const root = fileURLToPath(new URL(".", import.meta.url));
  const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".test.ts"));
  assert.ok(files.length >= 7, `found only ${files.join(", ")}`);
  const missing = files.filter((file) => !/^import "(\.\.?\/)+leak-check\.js";$/m.test(readFileSync(path.join(root, file), "utf8")));
  assert.deepEqual(missing, []);
});

test("the leak check sees a timer, a listening socket and an open file, and forgets them once closed", async (t) => {
  const before = resources();
  const timer = setTimeout(() => undefined, 60_000);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const filename = path.join(os.tmpdir(), `hewn-leak-check-${process.pid}-${Date.now()}.txt`);
  const file = await open(filename, "w");
  t.after(() => rm(filename, { force: true }));
  try {
    const openFile = process.platform === "linux" ? [`file ${filename}`] : []; // open files are read from /proc
    assert.deepEqual(await leakedSince(before), ["TCPServerWrap", "Timeout", ...openFile]);
  } finally {
    clearTimeout(timer);
    await new Promise((resolve) => server.close(resolve));
    await file.close();
  }
  assert.deepEqual(await leakedSince(before), []);
});
