/**
 * `npm run bench` — runs S1–S6 for hewn and its peers and writes bench/RESULTS.md and bench/throughput.svg.
 *
 *   npm run bench                        full sizes (about half an hour)
 *   npm run bench -- --quick             scaled down, under two minutes
 *   npm run bench -- --only=S1,S3        some scenarios
 *   npm run bench -- --systems=hewn-pg,bullmq-redis
 *                                        some systems: an id (`pg-boss-tuned`) or a family (`pg-boss` = both variants)
 *
 * Every (scenario, system) cell is capped in time (5 min; 30 s in quick mode; S6 25 min / 1 min); a cell that
 * fails or runs out of time is reported with its error and the run goes on. Everything the run creates
 * (schemas, SQLite files, Redis keys, worker processes) is removed as it goes.
 * @module
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { PG_URL, REDIS_URL, prepareStores, withPg, type Store, type System } from "./adapter.js";
import { SYSTEMS } from "./adapters/index.js";
import { writeReport, type Environment } from "./report.js";
import {
  Ctx, FULL, Incomplete, QUICK, RUNNERS, SCENARIOS, applies, fmt, message, withTimeout, type Cell, type ScenarioId,
} from "./scenarios.js";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function parseArgs(argv: string[]): { quick: boolean; only: ScenarioId[]; systems: System[]; filters: string } {
  let quick = false;
  let only: ScenarioId[] = [...SCENARIOS];
  let systems: System[] = [...SYSTEMS];
  const filters: string[] = [];
  for (const arg of argv) {
    if (arg === "--quick") quick = true;
    else if (arg.startsWith("--only=")) {
      const wanted = arg.slice("--only=".length).split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
      for (const id of wanted) if (!SCENARIOS.includes(id as ScenarioId)) throw new Error(`unknown scenario "${id}" (known: ${SCENARIOS.join(", ")})`);
      only = SCENARIOS.filter((id) => wanted.includes(id));
      filters.push(arg);
    } else if (arg.startsWith("--systems=")) {
      const wanted = arg.slice("--systems=".length).split(",").map((s) => s.trim()).filter(Boolean);
      for (const name of wanted) {
        if (!SYSTEMS.some((s) => s.id === name || s.family === name)) {
          throw new Error(`unknown system "${name}" (known: ${SYSTEMS.map((s) => s.id).join(", ")})`);
        }
      }
      systems = SYSTEMS.filter((s) => wanted.includes(s.id) || wanted.includes(s.family));
      filters.push(arg);
    } else if (arg === "--help" || arg === "-h") {
      console.log(readFileSync(here("./run.ts"), "utf8").split("\n").slice(1, 14).map((line) => line.replace(/^ \*\s?/, "")).join("\n"));
      process.exit(0);
    } else {
      throw new Error(`unknown argument "${arg}" (try --help)`);
    }
  }
  return { quick, only, systems, filters: filters.join(" ") };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(here(`../node_modules/${name}/package.json`), "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: here(".."), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

/** The hewn source the run measures: the commit, and whether src/ differs from it (a digest of the diff). */
function hewnSource(): string {
  const commit = git(["rev-parse", "--short", "HEAD"]) || "?";
  const diff = git(["diff", "HEAD", "--", "src"]);
  return diff === "" ? `git ${commit}` : `git ${commit} + uncommitted src/ changes (${createHash("sha256").update(diff).digest("hex").slice(0, 8)})`;
}

async function environment(mode: string, filters: string, stores: ReadonlySet<Store>, source: string): Promise<Environment> {
  const hewnVersion = (JSON.parse(readFileSync(here("../package.json"), "utf8")) as { version: string }).version;
  const versions: Array<[string, string]> = [
    ["hewn", `${hewnVersion} (${source})`],
    ["node", process.version],
  ];
  const settings: Array<[string, string]> = [];
  if (stores.has("postgres")) {
    await withPg(PG_URL, async (client) => {
      const show = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? "?";
      versions.push(["PostgreSQL server", await show("server_version")]);
      const values: string[] = [];
      for (const name of ["synchronous_commit", "fsync", "wal_sync_method", "shared_buffers", "max_connections"]) values.push(`${name}=${await show(name)}`);
      settings.push(["PostgreSQL settings", values.join(", ")]);
    });
  }
  if (stores.has("redis")) {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const info = await redis.info("server");
      versions.push(["Redis server", /redis_version:(\S+)/.exec(info)?.[1] ?? "?"]);
      const config = async (name: string) => ((await redis.config("GET", name)) as string[])[1] ?? "?";
      settings.push(["Redis persistence", `appendonly=${await config("appendonly")}, appendfsync=${await config("appendfsync")}, save="${await config("save")}"`]);
    } finally {
      redis.disconnect();
    }
  }
  for (const name of ["pg-boss", "graphile-worker", "bullmq", "ioredis", "pg", "better-sqlite3", "tsx"]) versions.push([name, packageVersion(name)]);
  // What a worker process weighs before loading any library: the floor under S6's RSS figures.
  const bare = execFileSync(process.execPath, ["--import", "tsx", "-e", "setTimeout(() => process.stdout.write(String(process.memoryUsage.rss())), 300)"], {
    cwd: here(".."), encoding: "utf8",
  });
  settings.push(["RSS of a bare `node --import tsx` process", `${(Number(bare) / 2 ** 20).toFixed(1)} MB (S6's worker processes run the same way)`]);
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    mode,
    filters,
    cpu: cpus[0]?.model ?? "unknown CPU",
    cores: cpus.length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    loadAverage: os.loadavg().map((load) => load.toFixed(2)).join(" / "),
    loadAverageEnd: "",
    versions,
    settings,
    durationSeconds: 0,
  };
}

let currentCell: Cell | undefined;
const stray = (kind: string) => (error: unknown) => {
  const text = `${kind}: ${message(error).slice(0, 200)}`;
  if (currentCell) currentCell.notes.push(text);
  else console.error(`bench: ${text}`);
};
process.on("unhandledRejection", stray("unhandled rejection"));
process.on("uncaughtException", stray("uncaught exception"));

/** When the PostgreSQL server last started: another process restarting it mid-cell spoils that cell. */
async function postmasterStart(): Promise<string> {
  try {
    return await withPg(PG_URL, async (client) => String((await client.query("SELECT pg_postmaster_start_time() AS t")).rows[0]?.t));
  } catch (error) {
    return `unreachable: ${message(error)}`;
  }
}

/** Runs a cell; a PostgreSQL cell during which the server was restarted (by someone else) is run once more. */
async function runCellWithRetry(scenario: ScenarioId, system: System, quick: boolean): Promise<Cell> {
  if (system.store !== "postgres") return runCell(scenario, system, quick);
  const before = await postmasterStart();
  const cell = await runCell(scenario, system, quick);
  const after = await postmasterStart();
  if (before === after) return cell;
  process.stdout.write(`PostgreSQL restarted during the run (${cell.error ?? "no error"}); again: `);
  await waitForPostgres();
  const again = await runCell(scenario, system, quick);
  again.notes.push(`first attempt discarded: the PostgreSQL server was restarted by another process during it${cell.error ? ` (${cell.error})` : ""}`);
  return again;
}

async function waitForPostgres(): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    if (!(await postmasterStart()).startsWith("unreachable")) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function runCell(scenario: ScenarioId, system: System, quick: boolean): Promise<Cell> {
  const sizes = quick ? QUICK : FULL;
  const cell: Cell = { scenario, system: system.id, metrics: {}, partial: [], checks: [], violations: [], notes: [], seconds: 0, phases: [] };
  const capMs = scenario === "S6" ? sizes.s6CapMs : sizes.capMs;
  const ctx = new Ctx(system, sizes, cell, capMs);
  currentCell = cell;
  const startedAt = performance.now();
  try {
    // The scenario stops itself at its deadline; this outer bound catches a call that never returns.
    await withTimeout(RUNNERS[scenario](ctx).then(() => ctx.finish()), capMs + 15_000, `${scenario} on ${system.id} (cap ${capMs / 1000} s)`);
  } catch (error) {
    cell.error = error instanceof Incomplete ? error.message : `failed: ${message(error)}`;
  } finally {
    await ctx.cleanup();
    cell.seconds = (performance.now() - startedAt) / 1000;
    currentCell = undefined;
  }
  return cell;
}

function summary(cell: Cell): string {
  const figures = Object.entries(cell.metrics).map(([key, value]) => `${key} ${cell.partial.includes(key) ? "≈" : ""}${fmt(value)}`).join(", ");
  const status = cell.violations.length > 0 ? `  ✗ EXACTLY-ONCE VIOLATION: ${cell.violations.join("; ")}` : "";
  const error = cell.error ? `  [${cell.error}]` : "";
  const phases = process.env.HEWN_BENCH_DEBUG ? ` [${cell.phases.map(([name, ms]) => `${name} ${Math.round(ms)}`).join(", ")}]` : "";
  return `${figures}${error}${status} (${cell.seconds.toFixed(1)} s)${phases}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const mode = args.quick ? "quick" : "full";
  const stores = new Set(args.systems.map((system) => system.store));
  const startedAt = performance.now();
  await prepareStores(stores);
  const source = hewnSource();
  const env = await environment(mode, args.filters, stores, source);
  console.log(`hewn bench, ${mode} mode: ${args.only.join(", ")} × ${args.systems.map((s) => s.id).join(", ")}`);

  const cells: Cell[] = [];
  for (const scenario of args.only) {
    for (const system of args.systems) {
      if (!applies(scenario, system)) continue;
      process.stdout.write(`[${scenario}] ${system.id.padEnd(22)} `);
      const cell = await runCellWithRetry(scenario, system, args.quick);
      cells.push(cell);
      console.log(summary(cell));
    }
  }
  env.durationSeconds = (performance.now() - startedAt) / 1000;
  env.loadAverageEnd = os.loadavg().map((load) => load.toFixed(2)).join(" / ");
  const sourceAtEnd = hewnSource();
  if (sourceAtEnd !== source) {
    // This process loaded src/ at start; worker processes (S5, S6) load it when spawned.
    env.settings.push(["⚠ hewn changed during the run", `started on ${source}, ended on ${sourceAtEnd}: in-process cells ran the first, worker processes spawned later may have run the second`]);
  }
  const markdown = writeReport({ env, sizes: args.quick ? QUICK : FULL, systems: args.systems, cells }, here("./RESULTS.md"), here("./throughput.svg"));
  console.log(`\n${markdown}`);
  console.log(`wrote bench/RESULTS.md and bench/throughput.svg in ${env.durationSeconds.toFixed(0)} s`);
  const violations = cells.filter((cell) => cell.violations.length > 0);
  if (violations.length > 0) {
    console.error(`\n✗ EXACTLY-ONCE VIOLATIONS in ${violations.map((cell) => `${cell.scenario} ${cell.system}`).join(", ")}`);
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0), // libraries may leave timers or sockets behind
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
