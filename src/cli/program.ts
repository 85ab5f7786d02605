/**
 * The `hewn` command line: every command over the public `Queue` API, so it behaves the same on every store.
 * @module
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { HewnError, ValidationError, coerceError } from "../errors.js";
import { JOB_STATUSES, type Job, type JobStatus } from "../job.js";
import type { Queue } from "../queue.js";
import { connect, resolveUrl, type GlobalOptions } from "./connect.js";
import { formatDuration, formatTime } from "../format.js";
import { createOutput, type Output } from "./output.js";
import { describeWhen } from "../dashboard/pages/schedules.js";
import { runDashboard } from "./dashboard.js";
import { runWorker } from "./work.js";
import { graphSummary, showGraph } from "./graph.js";

/** The version printed by `hewn --version`. */
const VERSION = "0.1.0";

/** Builds the program; `main` parses `process.argv` with it. */
export function buildProgram(): Command {
  const program = new Command("hewn")
    .description("Operate a hewn job queue: inspect, enqueue, cancel, run workers, serve the dashboard.")
    .version(VERSION)
    .option("--url <url>", "database URL (default: $HEWN_DATABASE_URL, else sqlite:./hewn.db)")
    .option("--schema <name>", "PostgreSQL schema (default: $HEWN_SCHEMA, else hewn)")
    .option("--json", "print JSON for scripts instead of tables")
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (text, write) => write(`hewn: ${text.replace(/^error: /, "").trim()}\n`) });

  program.command("migrate")
    .description("create or upgrade the schema (the only command that changes it)")
    .action(action(program, true, async (_queue, out) => {
      if (out.json) out.data({ migrated: true });
      else out.line("schema up to date");
    }));

  program.command("enqueue <name> [json]")
    .description("store a job for task <name> with JSON data (default {})")
    .option("--delay <ms>", "run no earlier than this many ms from now", integer("--delay"))
    .option("--priority <n>", "higher runs first", integer("--priority"))
    .option("--label <label>", "a label stored with the job")
    .option("--group <group>", "its flow-control group (e.g. a tenant)")
    .action((name: string, json: string | undefined, options: { delay?: number; priority?: number; label?: string; group?: string }) =>
      action(program, false, async (queue, out) => {
        const data = parseJson(json);
        const job = await queue.enqueue(name, data as never, options);
        if (out.json) out.data(job);
        else out.line(`enqueued job ${job.id} (${job.name})`);
      })());

  program.command("list")
    .description("list jobs, newest first, a page at a time")
    .addOption(new Option("--status <status>", "only this status").choices(JOB_STATUSES))
    .option("--name <task>", "only this task")
    .option("--label <label>", "only this label")
    .option("--group <group>", "only this flow-control group")
    .option("--limit <n>", "at most this many (default 50)", integer("--limit"))
    .option("--before <id>", "older than this id (next page)")
    .option("--after <id>", "newer than this id (previous page)")
    .action((options: { status?: JobStatus; name?: string; label?: string; group?: string; limit?: number; before?: string; after?: string }) =>
      action(program, false, async (queue, out) => {
        const limit = options.limit ?? 50;
        const jobs = await queue.list({
          order: "desc", limit,
          ...(options.status !== undefined && { status: options.status }),
          ...(options.name !== undefined && { name: options.name }),
          ...(options.label !== undefined && { label: options.label }),
          ...(options.group !== undefined && { group: options.group }),
          ...(options.before !== undefined && { beforeId: options.before }),
          ...(options.after !== undefined && { afterId: options.after }),
        });
        if (out.json) return out.data(jobs);
        if (jobs.length === 0) return out.line("no jobs");
        out.table(["ID", "TASK", "STATUS", "ATTEMPTS", "CREATED", "AVAILABLE", "LABEL"], jobs.map((job) => [
          job.id, job.name, out.status(job.status), String(job.attempts), formatTime(job.createdAt), formatTime(job.availableAt), job.label ?? "",
        ]));
        if (jobs.length === limit) out.line(out.dim(`more: hewn list --before ${jobs.at(-1)?.id ?? ""}`));
      })());

  program.command("show <id>")
    .description("show one job: data, result, reason, errors, timeline, dependencies")
    .action((id: string) => action(program, false, async (queue, out) => {
      const job = await queue.get(id);
      if (!job) throw new CliError(`no job with id ${id}`);
      const graph = graphSummary(await queue.dependencies(job.id));
      if (out.json) return out.data({ ...job, ...graph });
      showJob(job, out);
      showGraph(graph, out);
    })());

  program.command("cancel [ids...]")
    .description("cancel jobs by id, or every unfinished job matching --name/--status/--label")
    .option("--reason <text>", "why (stored as the job's reason)", "cancelled by an operator")
    .option("--name <task>", "cancel the unfinished jobs of this task")
    .addOption(new Option("--status <status>", "only jobs in this status").choices(["enqueued", "dequeued", "failed"]))
    .option("--label <label>", "only jobs with this label")
    .action((ids: string[], options: { reason: string; name?: string; status?: JobStatus; label?: string }) =>
      action(program, false, async (queue, out) => {
        const filter = {
          ...(options.name !== undefined && { name: options.name }),
          ...(options.status !== undefined && { status: options.status }),
          ...(options.label !== undefined && { label: options.label }),
        };
        const byFilter = Object.keys(filter).length > 0;
        if (byFilter === ids.length > 0) throw new CliError("give either job ids or --name/--status/--label, not both (nor neither)");
        if (byFilter) {
          const count = await queue.cancel(filter, options.reason, { onProgress: (done) => out.progress(`cancelled ${done} jobs…`) });
          out.done();
          return out.json ? out.data({ cancelled: count }) : out.line(`cancelled ${count} jobs`);
        }
        const jobs = await existing(queue, ids);
        const results: Array<{ id: string; cancelled: boolean; status: JobStatus }> = [];
        for (const [i, job] of jobs.entries()) {
          const cancelled = await queue.cancel(job.id, options.reason);
          results.push({ id: job.id, cancelled, status: cancelled ? "cancelled" : job.status });
          if (jobs.length > 20) out.progress(`${i + 1}/${jobs.length}`);
        }
        out.done();
        if (out.json) return out.data(results);
        for (const r of results) out.line(r.cancelled ? `cancelled job ${r.id}` : `job ${r.id} not cancelled: already ${r.status}`);
      })());

  program.command("retry [ids...]")
    .description("run dead letters (cancelled jobs) again, by id or every one of --name")
    .option("--name <task>", "retry every cancelled job of this task")
    .action((ids: string[], options: { name?: string }) => action(program, false, (queue, out) => eachOrMatching(queue, out, ids, options.name, {
      done: "retried", states: ["cancelled"], why: "retry only applies to cancelled jobs",
      one: async (id) => void (await queue.retry(id)), matching: (name) => queue.retry({ name }),
    }))());

  program.command("delete [ids...]")
    .description("delete finished jobs for good, by id or every one of --name (cancelled, or --status completed)")
    .option("--name <task>", "delete the finished jobs of this task")
    .addOption(new Option("--status <status>", "with --name: which finished jobs").choices(["cancelled", "completed"]))
    .action((ids: string[], options: { name?: string; status?: "cancelled" | "completed" }) => action(program, false, (queue, out) => eachOrMatching(queue, out, ids, options.name, {
      done: "deleted", states: ["cancelled", "completed"], why: "only finished jobs can be deleted (cancel it first)",
      one: (id) => queue.delete(id), matching: (name) => queue.delete({ name, ...(options.status !== undefined && { status: options.status }) }),
    }))());

  const toggles = [
    { verb: "pause", doc: "stop starting jobs of task <name> in every process (running ones finish)", done: "paused", already: "was already paused" },
    { verb: "resume", doc: "start the jobs of a paused task again", done: "resumed", already: "was not paused" },
  ] as const;
  for (const { verb, doc, done, already } of toggles) {
    program.command(`${verb} <name>`)
      .description(doc)
      .action((name: string) => action(program, false, async (queue, out) => {
        const changed = verb === "pause" ? await queue.pause(name) : await queue.resume(name);
        if (out.json) return out.data({ name, [done]: changed });
        out.line(changed ? `${done} ${name}` : `${name} ${already}`);
      })());
  }

  program.command("stats")
    .description("jobs per task and status, running jobs, the oldest ready job's age")
    .action(action(program, false, async (queue, out) => {
      const stats = await queue.stats();
      if (out.json) return out.data(stats);
      if (stats.tasks.length === 0) out.line("no jobs");
      else {
        out.table(["TASK", ...JOB_STATUSES.map((s) => s.toUpperCase()), "OLDEST READY", "PAUSED"], stats.tasks.map((task) => [
          task.name, ...JOB_STATUSES.map((s) => String(task.counts[s])), formatDuration(task.oldestReadyAgeMs), task.paused ? "paused" : "",
        ]));
        out.line();
      }
      out.line(`${stats.running} running, oldest ready job waiting ${formatDuration(stats.oldestReadyAgeMs)}`);
      if (stats.paused.length > 0) out.line(`paused: ${stats.paused.join(", ")}`);
    }));

  program.command("schedules")
    .description("the periodic schedules, with their next slots")
    .action(action(program, false, async (queue, out) => {
      const schedules = await queue.schedules();
      if (out.json) return out.data(schedules);
      if (schedules.length === 0) return out.line("no schedules");
      const now = Date.now();
      out.table(["KEY", "TASK", "WHEN", "NEXT", "IN", "LAST"], schedules.map((s) => [
        s.key, s.name, describeWhen(s.when), formatTime(s.nextAt), formatDuration(Math.max(0, s.nextAt.getTime() - now)), formatTime(s.lastSlotAt),
      ]));
    }));

  program.command("work <module>")
    .description("run the tasks a module exports (default export: (queue) => define tasks); stops gracefully on SIGINT/SIGTERM")
    .option("--grace <ms>", "how long running jobs may finish on shutdown (default 10000)", integer("--grace"))
    .action((module: string, options: { grace?: number }) => action(program, true, async (queue, out) => {
      await runWorker(queue, module, { grace: options.grace ?? 10_000, log: (text) => (out.json ? undefined : process.stderr.write(`${text}\n`)) });
    })());

  program.command("dashboard")
    .description("serve the web dashboard (read-only unless a token is given); stops on SIGINT/SIGTERM")
    .option("--port <n>", "port to listen on (default 8080)", integer("--port"))
    .option("--host <host>", "interface to listen on (default 127.0.0.1)")
    .option("--token <token>", "enable actions for whoever signs in with it (default: $HEWN_DASHBOARD_TOKEN)")
    .action((options: { port?: number; host?: string; token?: string }) => action(program, false, async (queue) => {
      const token = options.token ?? (process.env.HEWN_DASHBOARD_TOKEN || undefined);
      await runDashboard(queue, { port: options.port ?? 8080, host: options.host ?? "127.0.0.1", ...(token !== undefined && { token }) });
    })());

  return program;
}

/** An error for the operator: printed as one line, exit code 1. */
export class CliError extends Error {}

/**
 * Wraps a command: opens the queue, runs, closes, and turns any failure into one line on stderr and a
 * non-zero exit code.
 */
function action(program: Command, migrate: boolean, run: (queue: Queue, out: Output) => Promise<void>): () => Promise<void> {
  return async () => {
    const globals = program.opts<GlobalOptions>();
    const out = createOutput({ json: globals.json === true });
    let queue: Queue | undefined;
    try {
      if (globals.schema !== undefined && !/^postgres(ql)?:/i.test(resolveUrl(globals))) {
        throw new CliError("--schema only applies to a postgres: URL");
      }
      queue = await connect(globals, migrate);
      await run(queue, out);
    } catch (error) {
      out.done();
      fail(error);
    } finally {
      await queue?.close().catch((error: unknown) => fail(error));
    }
  };
}

function fail(error: unknown): void {
  const e = coerceError(error);
  const message = e instanceof HewnError || e instanceof CliError ? e.message : `${e.name}: ${e.message}`;
  process.stderr.write(`hewn: ${message.split("\n")[0]}\n`);
  process.exitCode = 1;
}

/** The jobs with these ids; if any does not exist, an error naming them (and nothing is changed). */
async function existing(queue: Queue, ids: string[]): Promise<Job[]> {
  const jobs = await Promise.all(ids.map((id) => queue.get(id)));
  const missing = ids.filter((_, i) => jobs[i] === null);
  if (missing.length > 0) throw new CliError(`no job with id ${missing.join(", ")} (nothing was changed)`);
  return jobs as Job[];
}

/** How `retry` and `delete` apply to ids, or to every job of a task. */
interface BulkVerb {
  /** The past tense printed: "retried", "deleted". */
  done: string;
  /** The states every given id must be in, and why, if one is not. */
  states: readonly JobStatus[];
  why: string;
  one: (id: string) => Promise<void>;
  matching: (name: string) => Promise<number>;
}

/** Applies a verb to the given ids (all checked first: nothing changes if one does not fit) or to every job of `name`. */
async function eachOrMatching(queue: Queue, out: Output, ids: string[], name: string | undefined, verb: BulkVerb): Promise<void> {
  if ((name !== undefined) === ids.length > 0) throw new CliError("give either job ids or --name, not both (nor neither)");
  if (name !== undefined) {
    const count = await verb.matching(name);
    return out.json ? out.data({ [verb.done]: count }) : out.line(`${verb.done} ${count} jobs`);
  }
  const jobs = await inState(queue, ids, verb.states, verb.why);
  for (const [i, job] of jobs.entries()) {
    await verb.one(job.id);
    if (jobs.length > 20) out.progress(`${i + 1}/${jobs.length}`);
  }
  out.done();
  if (out.json) return out.data(jobs.map((job) => ({ id: job.id, [verb.done]: true })));
  for (const job of jobs) out.line(`${verb.done} job ${job.id}`);
}

/** The jobs with these ids, all in one of `states`; otherwise an error naming the others (and nothing is changed). */
async function inState(queue: Queue, ids: string[], states: readonly JobStatus[], why: string): Promise<Job[]> {
  const jobs = await existing(queue, ids);
  const wrong = jobs.filter((job) => !states.includes(job.status));
  if (wrong.length > 0) {
    throw new CliError(`${why}: ${wrong.map((job) => `job ${job.id} is ${job.status}`).join(", ")} (nothing was changed)`);
  }
  return jobs;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError("json", `is not valid JSON: ${coerceError(error).message}`);
  }
}

function integer(flag: string): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`${flag} must be an integer`);
    return Number(value);
  };
}

function showJob(job: Job, out: Output): void {
  const rows: Array<[string, string]> = [
    ["id", job.id], ["task", job.name], ["status", out.status(job.status)], ["attempts", String(job.attempts)],
    ["crashes", String(job.crashes)], ["priority", String(job.priority)], ["label", job.label ?? "—"],
    ["progress", job.progress === null ? "—" : String(job.progress)], ["reason", job.reason ?? "—"],
    ["created", formatTime(job.createdAt)], ["available", formatTime(job.availableAt)], ["started", formatTime(job.startedAt)],
    ["ended", formatTime(job.endedAt)], ["finished", formatTime(job.finishedAt)],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  for (const [key, value] of rows) out.line(`${out.dim(key.padEnd(width))}  ${value}`);
  out.line(`${out.dim("data".padEnd(width))}  ${JSON.stringify(job.data)}`);
  if (job.result !== null) out.line(`${out.dim("result".padEnd(width))}  ${JSON.stringify(job.result)}`);
  for (const error of job.errors) out.line(`${out.dim("error".padEnd(width))}  attempt ${error.attempt} at ${error.at}: ${error.message}`);
}
