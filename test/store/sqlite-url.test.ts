/**
 * `sqlite:` URLs as users write them: relative and absolute paths, percent-escapes, query parameters,
 * and the in-memory database.
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Queue, StoreError, ValidationError } from "../../src/index.js";
import { parseSqliteUrl } from "../../src/store/sqlite/open.js";
import { Signal, taskName, within } from "../helpers.js";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-url-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("sqlite: URLs", () => {
  test("paths are resolved and percent-decoded; query parameters are parsed, not kept in the name", () => {
    const cwd = process.cwd();
    assert.deepEqual(parseSqliteUrl("sqlite:./jobs.db"), { filename: path.join(cwd, "jobs.db"), readonly: false, mustExist: false });
    assert.equal(parseSqliteUrl("sqlite:data/jobs.db").filename, path.join(cwd, "data", "jobs.db"));
    assert.equal(parseSqliteUrl("sqlite:/abs/jobs.db").filename, "/abs/jobs.db");
    assert.equal(parseSqliteUrl("sqlite:///abs/jobs.db").filename, "/abs/jobs.db");
    assert.equal(parseSqliteUrl("sqlite:my%20jobs.db").filename, path.join(cwd, "my jobs.db"));
    assert.equal(parseSqliteUrl("sqlite:what%3F.db").filename, path.join(cwd, "what?.db"));
    assert.deepEqual(parseSqliteUrl("sqlite:data/jobs.db?mode=ro"), { filename: path.join(cwd, "data", "jobs.db"), readonly: true, mustExist: true });
    assert.deepEqual(parseSqliteUrl("sqlite:jobs.db?mode=rw"), { filename: path.join(cwd, "jobs.db"), readonly: false, mustExist: true });
    assert.deepEqual(parseSqliteUrl("sqlite::memory:"), { filename: ":memory:", readonly: false, mustExist: false });
  });

  test("malformed URLs are a ValidationError on url", () => {
    for (const url of ["sqlite:", "sqlite:jobs.db?cache=shared", "sqlite:jobs.db?mode=wr", "sqlite:bad%zz.db", "sqlite:a#b", "sqlite::memory:?mode=ro", "sqlite:file:x.db"]) {
      assert.throws(() => parseSqliteUrl(url), (error: unknown) => error instanceof ValidationError && error.field === "url", url);
    }
  });

  test("a file named with an escape is created under its decoded name, in a relative directory", async (t) => {
    const dir = tempDir(t);
    const queue = await Queue.open(`sqlite:${path.relative(process.cwd(), dir)}/my%20jobs.db`);
    t.after(() => queue.close());
    await queue.enqueue(taskName());
    assert.ok(fs.existsSync(path.join(dir, "my jobs.db")));
    assert.deepEqual(fs.readdirSync(dir).filter((file) => file.includes("%") || file.includes("?")), []);
  });

  test("mode=ro reads an existing queue file and refuses writes; mode=rw and mode=ro need the file", async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, "jobs.db");
    await assert.rejects(Queue.open(`sqlite:${file}?mode=ro`), (error: unknown) => error instanceof ValidationError && /does not exist/.test(error.message));
    await assert.rejects(Queue.open(`sqlite:${file}?mode=rw`), (error: unknown) => error instanceof ValidationError && /does not exist/.test(error.message));
    const writer = await Queue.open(`sqlite:${file}`);
    const job = await writer.enqueue("report", { n: 1 });
    await writer.close();

    const reader = await Queue.open(`sqlite:${file}?mode=ro`);
    t.after(() => reader.close());
    assert.deepEqual((await reader.get(job.id))?.data, { n: 1 });
    assert.equal((await reader.count()).enqueued, 1);
    await assert.rejects(reader.enqueue("report"), StoreError);
    assert.equal((await reader.count()).enqueued, 1);
  });

  test("sqlite::memory: is a private database with the same semantics: jobs run", async (t) => {
    const queue = await Queue.open("sqlite::memory:");
    t.after(() => queue.close());
    const other = await Queue.open("sqlite::memory:");
    t.after(() => other.close());
    const name = taskName();
    const done = new Signal<unknown>();
    queue.define(name, (ctx) => ({ doubled: (ctx.job.data as { n: number }).n * 2 }));
    queue.on("job:complete", ({ result }) => done.resolve(result));
    const job = await queue.enqueue(name, { n: 21 });
    await queue.start();
    assert.deepEqual(await within(done.promise, "the job to complete"), { doubled: 42 });
    assert.equal((await queue.get(job.id))?.status, "completed");
    assert.equal(await other.get(job.id), null, "another in-memory queue is another database");
  });
});
