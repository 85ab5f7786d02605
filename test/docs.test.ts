/**
 * The TypeScript examples in README.md and docs/*.md compile against the current API, so the docs cannot
 * drift from the code. Each ```ts block is checked as its own module; names the examples leave to the
 * reader (a mailer, a pool, the queue itself) are declared in one shared preamble below.
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

/** What the examples take as given. */
const PREAMBLE = `
import type pg from "pg";
import type { Queue } from "hewn";
declare global {
  const queue: Queue;
  const pool: pg.Pool;
  const mailer: { send(to: string, options: { signal: AbortSignal }): Promise<string | undefined> };
  const receipts: { send(orderId: number, options: { signal: AbortSignal }): Promise<void> };
}
export {};
`;

function examples(): Array<{ file: string; line: number; code: string }> {
  const files = ["README.md", ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const found: Array<{ file: string; line: number; code: string }> = [];
  for (const file of files) {
    const lines = fs.readFileSync(path.join(root, file), "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]?.trim() !== "```ts") continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && lines[end]?.trim() !== "```") end++;
      found.push({ file, line: start + 1, code: lines.slice(start, end).join("\n") });
      i = end;
    }
  }
  return found;
}

test("every ```ts example in README.md and docs/ type-checks against src/", (t) => {
  const blocks = examples();
  assert.ok(blocks.length >= 5, `found only ${blocks.length} examples`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-docs-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  fs.writeFileSync(path.join(dir, "preamble.ts"), PREAMBLE);
  const names = blocks.map((block, index) => {
    const name = `example-${index}.ts`;
    // A block without imports or exports would be a script sharing one global scope with the others.
    fs.writeFileSync(path.join(dir, name), `// ${block.file}:${block.line}\n${block.code}\nexport {};\n`);
    return name;
  });
  const modules = path.join(root, "node_modules");
  // Examples may import the libraries they show (Knex, Kysely, Drizzle, validators): resolve them from ours.
  fs.symlinkSync(modules, path.join(dir, "node_modules"), "dir");
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: "es2022", module: "nodenext", moduleResolution: "nodenext", skipLibCheck: true,
      lib: ["es2023", "ES2024.String"], types: ["node"], typeRoots: [path.join(modules, "@types")],
      paths: {
        hewn: [path.join(root, "src/index.ts")],
        "hewn/dashboard": [path.join(root, "src/dashboard/index.ts")],
        "hewn/metrics": [path.join(root, "src/metrics/index.ts")],
        "hewn/testing": [path.join(root, "src/testing/index.ts")],
        "hewn/tracing": [path.join(root, "src/tracing/index.ts")],
        pg: [path.join(modules, "@types/pg")],
        "better-sqlite3": [path.join(modules, "@types/better-sqlite3")],
      },
      allowImportingTsExtensions: true,
    },
    files: ["preamble.ts", ...names],
  }));
  try {
    execFileSync(process.execPath, [path.join(modules, "typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
  } catch (error) {
    const output = (error as { stdout?: string }).stdout ?? String(error);
    // Point at the doc, not the scratch file.
    const located = output.replace(/\S*example-(\d+)\.ts\((\d+),(\d+)\)/g, (_, index: string, line: string) => {
      const block = blocks[Number(index)];
      return block ? `${block.file}:${block.line + Number(line) - 2}` : `example-${index}`;
    });
    assert.fail(`documentation examples do not compile:\n${located}`);
  }
});
