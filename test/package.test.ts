/**
 * The package as an application installs it: the compiled `dist/` under `node_modules/hewn`, loaded with
 * `import` from an ES module, with `require` from a CommonJS one (Node ≥ 20.19 loads ES modules through
 * require), and type-checked from TypeScript in both module systems.
 */
import "./leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** A scratch application with hewn "installed": built from src/, its dependencies linked from ours. */
function installedApp(t: { after(fn: () => void): void }): string {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-app-"));
  t.after(() => fs.rmSync(app, { recursive: true, force: true }));
  const hewn = path.join(app, "node_modules", "hewn");
  fs.mkdirSync(hewn, { recursive: true });
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json"), "--outDir", path.join(hewn, "dist"), "--sourceMap", "false"]);
  fs.copyFileSync(path.join(root, "package.json"), path.join(hewn, "package.json"));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const dependency of [...Object.keys(pkg.dependencies), "@types/node", "@types/pg", "@types/better-sqlite3"]) {
    const target = path.join(app, "node_modules", dependency);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(path.join(root, "node_modules", dependency), target, "dir");
  }
  return app;
}

const RUN_A_JOB = `
  const queue = await Queue.open("sqlite::memory:");
  queue.define("hello", (ctx) => ({ hi: ctx.job.data.who }));
  const done = new Promise((resolve) => queue.on("job:complete", ({ result }) => resolve(result)));
  await queue.enqueue("hello", { who: "world" });
  await queue.start();
  console.log(JSON.stringify(await done));
  await queue.close();`;

test("the built package runs from ESM (import) and CommonJS (require), and type-checks from both", (t) => {
  const app = installedApp(t);
  fs.writeFileSync(path.join(app, "esm.mjs"), `import { Queue } from "hewn";\n${RUN_A_JOB}\n`);
  fs.writeFileSync(path.join(app, "cjs.cjs"), `const { Queue, ValidationError } = require("hewn");\nif (typeof ValidationError !== "function") throw new Error("no ValidationError");\n(async () => {${RUN_A_JOB}\n})();\n`);
  fs.writeFileSync(path.join(app, "testing.mjs"), `import { createTestQueue } from "hewn/testing";
  const tq = await createTestQueue();
  tq.queue.define("hello", (ctx) => ({ hi: ctx.job.data.who }));
  const job = await tq.queue.enqueue("hello", { who: "world" });
  await tq.drain();
  console.log(JSON.stringify((await tq.queue.get(job.id)).result));
  await tq.close();\n`);
  for (const script of ["esm.mjs", "cjs.cjs", "testing.mjs"]) {
    const output = execFileSync(process.execPath, [script], { cwd: app, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(output.trim(), '{"hi":"world"}', script);
  }

  const consumer = `import { Queue, JobError, type Job } from "hewn";
export async function main(): Promise<Job<{ to: string }> | null> {
  const queue = await Queue.open("sqlite::memory:");
  queue.define<{ to: string }>("send", (ctx) => { if (!ctx.job.data.to) throw new JobError("no address", { retry: false }); return { sent: true }; });
  const job = await queue.enqueue("send", { to: "a@b.c" });
  // @ts-expect-error a Date is not JSON: it would come back as a string
  await queue.enqueue("send", { at: new Date() });
  return queue.get<{ to: string }>(job.id);
}
`;
  fs.writeFileSync(path.join(app, "consumer.mts"), consumer);
  fs.writeFileSync(path.join(app, "consumer.cts"), consumer);
  fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true, types: ["node"] },
    files: ["consumer.mts", "consumer.cts"],
  }));
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", app], { cwd: app, encoding: "utf8" });
});
