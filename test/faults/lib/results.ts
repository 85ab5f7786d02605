/**
 * Scenario results: each scenario appends one JSON line to a results file; the launcher (run.ts) turns
 * them into the table of README.md's "Reliability" section.
 */
import { appendFileSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { MODE } from "./config.js";

export interface ScenarioResult {
  /** Scenario number and title, e.g. "1. worker killed". */
  scenario: string;
  store: "sqlite" | "postgres";
  /** Handler runs recorded (every start, re-runs and retries included). */
  runs: number;
  jobs: number;
  /** Jobs that did not reach the end their policy says (completed, or cancelled with a reason). */
  lost: number;
  /** Completion side-effects repeated without a crash or lost lease to explain them, plus stale writes. */
  duplicated: number;
  /** The scenario's key measure, as text (recovery time, peak RSS, throughput, …). */
  measure: string;
  seconds: number;
  mode?: string;
}

export const RESULTS_FILE = process.env.HEWN_FAULTS_RESULTS ?? path.join(os.tmpdir(), "hewn-faults-results.jsonl");

export function recordResult(result: ScenarioResult): void {
  appendFileSync(RESULTS_FILE, `${JSON.stringify({ ...result, mode: MODE })}\n`);
}

export function readResults(file = RESULTS_FILE): ScenarioResult[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as ScenarioResult);
}

const START = "<!-- reliability:start -->";
const END = "<!-- reliability:end -->";

/** Rows by scenario number ("3a"), then in the order the scenarios ran, then SQLite before PostgreSQL. */
export function renderTable(results: ScenarioResult[], footer: string): string {
  const firstSeen = new Map<string, number>();
  results.forEach((r, i) => firstSeen.has(r.scenario) || firstSeen.set(r.scenario, i));
  const number = (r: ScenarioResult) => r.scenario.split(".")[0] ?? "";
  const sorted = [...results].sort((a, b) =>
    number(a).localeCompare(number(b), "en", { numeric: true })
    || firstSeen.get(a.scenario)! - firstSeen.get(b.scenario)!
    || (a.store === b.store ? 0 : a.store === "sqlite" ? -1 : 1));
  const rows = sorted.map((r) =>
    `| ${r.scenario} | ${r.store} | ${r.runs.toLocaleString("en")} | ${r.jobs.toLocaleString("en")} | ${r.lost} | ${r.duplicated} | ${r.measure.replaceAll("|", "\\|")} |`);
  return [
    "| scenario | store | runs | jobs | lost | duplicated | key measure |",
    "|---|---|---:|---:|---:|---:|---|",
    ...rows,
    "",
    footer,
  ].join("\n");
}

/** Replaces what is between the markers (adding a "## Reliability" section with them at the end if absent). */
export function updateReadme(readme: string, table: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start >= 0 && end > start) {
    return `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
  }
  const base = readme.endsWith("\n") ? readme : `${readme}\n`;
  const intro = [
    "`npm run test:faults` (CI, after `npm test`) kills workers, cuts database connections, stalls and poisons",
    "handlers, fuzzes the inputs and loads the queue, then checks the same invariants after every scenario",
    "(test/faults/lib/checker.ts). `npm run test:faults -- --soak` runs the longer version. The table below is",
    "written by the suite itself.",
  ].join("\n");
  return `${base}\n## Reliability\n\n${intro}\n\n${START}\n${table}\n${END}\n`;
}
