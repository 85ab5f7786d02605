/**
 * The `hewn` CLI, run as the real compiled binary against both stores.
 */
import "../leak-check.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sqliteHarness } from "../harness/sqlite.js";
import { postgresHarness } from "../harness/postgres.js";
import type { StoreHarness, TestLocation } from "../harness/harness.js";
import { taskName, within } from "../helpers.js";
import { hewn, hewnProcess, type RunResult } from "./binary.js";
import { Queue } from "../../src/index.js";

/** The flags that point the CLI at a location. */
function target(loc: TestLocation): string[] {
  return loc.schema === undefined ? ["--url", loc.url] : ["--url", loc.url, "--schema", loc.schema];
}

/** A failed run: non-zero exit, and exactly one line on stderr matching `pattern`. */
function assertOneLineError(result: RunResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0, `exit code (stderr: ${result.stderr})`);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0] ?? "", /^hewn: /);
  assert.match(lines[0] ?? "", pattern);
}

function json<T>(result: RunResult): T {
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

// Probed before any suite starts: the first CLI run compiles the binary synchronously, which blocked the
// event loop past PostgreSQL's connect timeout and skipped every PostgreSQL case.
const harnesses = [sqliteHarness, postgresHarness] as StoreHarness[];
const skips = await Promise.all(harnesses.map(async (harness) => (await harness.skipReason()) ?? false));
for (const [index, harness] of harnesses.entries()) {
  const skip = skips[index] ?? false;
  describe(`hewn CLI on ${harness.kind}`, { skip }, () => {
    test("migrate, enqueue, list, show, stats, cancel: tables for people, --json for scripts", async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const at = target(loc);
      const name = taskName("cli");

      const before = await hewn([...at, "list"]);
      assertOneLineError(before, /lacks migrations .*hewn migrate/);

      const migrated = await hewn([...at, "migrate"]);
      assert.equal(migrated.code, 0, migrated.stderr);
      assert.match(migrated.stdout, /schema up to date/);

      const first = json<{ id: string; data: unknown; label: string }>(await hewn([...at, "--json", "enqueue", name, '{"to":"a@b.c"}', "--label", "one", "--group", "tenant-1"]));
      assert.deepEqual(first.data, { to: "a@b.c" });
      assert.equal(first.label, "one");
      const second = await hewn([...at, "enqueue", name, "--delay", "3600000"]);
      assert.equal(second.code, 0, second.stderr);
      const secondId = /enqueued job (\S+)/.exec(second.stdout)?.[1];
      assert.ok(secondId, second.stdout);

      const table = await hewn([...at, "list", "--name", name]);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split("\n");
      assert.match(lines[0] ?? "", /^ID\s+TASK\s+STATUS\s+ATTEMPTS\s+CREATED\s+AVAILABLE\s+LABEL$/);
      assert.equal(lines.length, 3);
      assert.match(lines[1] ?? "", new RegExp(`^${secondId}\\s+${name}\\s+enqueued`), "newest first");
      assert.ok(!table.stdout.includes("\u001b"), "no colour when stdout is not a terminal");
      const listed = json<Array<{ id: string }>>(await hewn([...at, "--json", "list", "--label", "one"]));
      assert.deepEqual(listed.map((job) => job.id), [first.id]);
      assert.deepEqual(json<Array<{ id: string }>>(await hewn([...at, "--json", "list", "--group", "tenant-1"])).map((job) => job.id), [first.id]);
      const page = json<Array<{ id: string }>>(await hewn([...at, "--json", "list", "--name", name, "--limit", "1", "--before", secondId]));
      assert.deepEqual(page.map((job) => job.id), [first.id]);

      const shown = await hewn([...at, "show", first.id]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /status\s+enqueued/);
      assert.match(shown.stdout, /data\s+\{"to":"a@b\.c"\}/);

      const stats = json<{ tasks: Array<{ name: string; counts: Record<string, number> }> }>(await hewn([...at, "--json", "stats"]));
      assert.equal(stats.tasks.find((task) => task.name === name)?.counts.enqueued, 2);
      const statsTable = await hewn([...at, "stats"]);
      assert.match(statsTable.stdout, new RegExp(`^${name}\\s+2\\s+0\\s+0\\s+0\\s+0\\s+`, "m"));

      assert.match((await hewn([...at, "pause", name])).stdout, new RegExp(`^paused ${name}$`, "m"));
      assert.match((await hewn([...at, "pause", name])).stdout, /was already paused/);
      assert.match((await hewn([...at, "stats"])).stdout, new RegExp(`^${name}\\s.*\\spaused$[\\s\\S]*^paused: ${name}$`, "m"));
      assert.deepEqual(json<{ paused: string[] }>(await hewn([...at, "--json", "stats"])).paused, [name]);
      assert.deepEqual(json(await hewn([...at, "--json", "resume", name])), { name, resumed: true });
      assert.deepEqual(json<{ paused: string[] }>(await hewn([...at, "--json", "stats"])).paused, []);

      const cancelled = await hewn([...at, "cancel", first.id, "--reason", "not needed"]);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.match(cancelled.stdout, new RegExp(`cancelled job ${first.id}`));
      const again = json<Array<{ cancelled: boolean; status: string }>>(await hewn([...at, "--json", "cancel", first.id]));
      assert.deepEqual(again, [{ id: first.id, cancelled: false, status: "cancelled" }]);
      const bulk = json<{ cancelled: number }>(await hewn([...at, "--json", "cancel", "--name", name]));
      assert.equal(bulk.cancelled, 1);
      const after = json<{ reason: string; status: string }>(await hewn([...at, "--json", "show", first.id]));
      assert.equal(after.reason, "not needed");

      // Dead letters: retry by id, then cancel and delete.
      assert.match((await hewn([...at, "retry", first.id])).stdout, new RegExp(`retried job ${first.id}`));
      assert.equal(json<{ status: string }>(await hewn([...at, "--json", "show", first.id])).status, "enqueued");
      assertOneLineError(await hewn([...at, "retry", first.id]), new RegExp(`job ${first.id} is enqueued \\(nothing was changed\\)`));
      assertOneLineError(await hewn([...at, "delete", first.id]), /only finished jobs can be deleted/);
      assert.equal((await hewn([...at, "cancel", first.id])).code, 0);
      assert.deepEqual(json(await hewn([...at, "--json", "delete", first.id])), [{ id: first.id, deleted: true }]);
      assertOneLineError(await hewn([...at, "show", first.id]), /no job with id/);
      assert.deepEqual(json(await hewn([...at, "--json", "retry", "--name", name])), { retried: 1 });
      assert.deepEqual(json(await hewn([...at, "--json", "cancel", "--name", name])), { cancelled: 1 });
      assert.deepEqual(json(await hewn([...at, "--json", "delete", "--name", name])), { deleted: 1 });
      assert.deepEqual(json(await hewn([...at, "--json", "list", "--name", name])), []);

      // Schedules, declared through the API.
      assert.match((await hewn([...at, "schedules"])).stdout, /no schedules/);
      const queue = await Queue.open(loc.url, { ...loc.queueOptions, migrate: false });
      let graph: Array<{ id: string }>;
      try {
        await queue.schedule(`${name}-every`, name, { every: 60_000 });
        graph = await queue.enqueueMany([{ name }, { name, after: [0] }, { name, after: [1] }]);
      } finally {
        await queue.close();
      }
      // Dependencies: a job's parents and children, as lines and as `parents`/`children` in --json.
      const [up, middle, down] = graph.map((job) => job.id);
      const shownGraph = (await hewn([...at, "show", middle!])).stdout;
      assert.match(shownGraph, new RegExp(`^parent\\s+${up}\\s+${name}\\s+enqueued$`, "m"));
      assert.match(shownGraph, new RegExp(`^child\\s+${down}\\s+${name}\\s+enqueued$`, "m"));
      const graphJson = json<{ parents: unknown; children: unknown }>(await hewn([...at, "--json", "show", middle!]));
      assert.deepEqual(graphJson.parents, [{ id: up, name, status: "enqueued" }]);
      assert.deepEqual(graphJson.children, [{ id: down, name, status: "enqueued" }]);
      const scheduleTable = await hewn([...at, "schedules"]);
      assert.match(scheduleTable.stdout, /^KEY\s+TASK\s+WHEN\s+NEXT\s+IN\s+LAST$/m);
      assert.match(scheduleTable.stdout, new RegExp(`^${name}-every\\s+${name}\\s+every 1 min\\s`, "m"));
      const schedules = json<Array<{ key: string; nextAt: string }>>(await hewn([...at, "--json", "schedules"]));
      assert.equal(schedules[0]?.key, `${name}-every`);
      assert.ok(Date.parse(schedules[0]?.nextAt ?? "") > Date.now() - 1000);
    });

    test("bad input: one clear line, a non-zero exit, and nothing changed", async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const at = target(loc);
      const name = taskName("cli");
      assert.equal((await hewn([...at, "migrate"])).code, 0);
      const { id } = json<{ id: string }>(await hewn([...at, "--json", "enqueue", name]));

      assertOneLineError(await hewn([...at, "frobnicate"]), /unknown command 'frobnicate'/);
      assertOneLineError(await hewn([...at, "list", "--colour"]), /unknown option '--colour'/);
      assertOneLineError(await hewn([...at, "list", "--status", "done"]), /--status.*done/);
      assertOneLineError(await hewn([...at, "list", "--limit", "many"]), /--limit must be an integer/);
      assertOneLineError(await hewn([...at, "enqueue", name, "{to:1}"]), /json: is not valid JSON/);
      assertOneLineError(await hewn([...at, "show", "987654321"]), /no job with id 987654321/);
      assertOneLineError(await hewn([...at, "cancel", id, "987654321"]), /no job with id 987654321 \(nothing was changed\)/);
      assertOneLineError(await hewn([...at, "cancel"]), /either job ids or --name/);
      if (harness.kind === "sqlite") assertOneLineError(await hewn([...at, "--schema", "x", "list"]), /--schema only applies/);
      else assertOneLineError(await hewn(["--url", "postgres://root@127.0.0.1:1/none", "list"]), /PostgreSQL|ECONNREFUSED|connect/);

      const jobs = json<Array<{ id: string; status: string }>>(await hewn([...at, "--json", "list"]));
      assert.deepEqual(jobs.map((job) => [job.id, job.status]), [[id, "enqueued"]], "only the one good job, untouched");
    });

    test("work <module> runs the module's tasks and stops gracefully on SIGTERM", async (t) => {
      const loc = await harness.fresh();
      t.after(() => loc.drop());
      const at = target(loc);
      const name = taskName("cli");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-work-"));
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      const module = path.join(dir, "tasks.mjs");
      fs.writeFileSync(module, `export const tasks = { ${JSON.stringify(name)}: (ctx) => ({ doubled: ctx.job.data.n * 2 }) };\n`);

      const worker = hewnProcess(t, [...at, "work", module]);
      await within(worker.waitFor(/working/), `the worker to start (stderr: ${worker.stderr()})`);
      const { id } = json<{ id: string }>(await hewn([...at, "--json", "enqueue", name, '{"n":21}']));
      await within((async () => {
        for (;;) {
          const job = json<{ status: string; result: unknown }>(await hewn([...at, "--json", "show", id]));
          if (job.status === "completed") return assert.deepEqual(job.result, { doubled: 42 });
        }
      })(), "the job to complete");
      worker.child.kill("SIGTERM");
      assert.equal(await within(worker.exited, "the worker to exit"), 0, worker.stderr());
      assert.match(worker.stderr(), /SIGTERM: finishing running jobs[\s\S]*stopped/);
    });
  });
}

test("without --url: $HEWN_DATABASE_URL, else sqlite:./hewn.db in the working directory", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-cwd-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  assert.equal((await hewn(["migrate"], { cwd: dir })).code, 0);
  assert.ok(fs.existsSync(path.join(dir, "hewn.db")));
  const other = path.join(dir, "other.db");
  assert.equal((await hewn(["migrate"], { cwd: dir, env: { HEWN_DATABASE_URL: `sqlite:${other}` } })).code, 0);
  assert.ok(fs.existsSync(other));
  const help = await hewn(["--help"]);
  assert.equal(help.code, 0);
  for (const command of ["migrate", "enqueue", "list", "show", "cancel", "retry", "delete", "pause", "resume", "stats", "schedules", "work", "dashboard"]) assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`));
});

test("dashboard serves the web dashboard until SIGTERM", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-dash-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const url = `sqlite:${path.join(dir, "jobs.db")}`;
  assert.equal((await hewn(["--url", url, "migrate"])).code, 0);
  const server = hewnProcess(t, ["--url", url, "dashboard", "--port", "0"]);
  await within(server.waitFor(/dashboard on http:\/\/\S+ \(read-only\)/), `the dashboard to listen (stderr: ${server.stderr()})`);
  const address = /dashboard on (http:\/\/\S+?)\/? /.exec(server.stderr())?.[1];
  const response = await fetch(`${address}/jobs`);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /No jobs match/);
  server.child.kill("SIGTERM");
  assert.equal(await within(server.exited, "the dashboard to exit"), 0);
});
