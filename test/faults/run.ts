/**
 * `npm run test:faults [-- --soak] [-- <filter>…]`: runs the fault-injection scenarios (test/faults/*.fault.ts)
 * one file at a time with Node's test runner, then writes their results as the table of README.md's
 * "Reliability" section (between the reliability markers).
 *
 * --soak          longer runs: more jobs, more kills (sets HEWN_FAULTS_MODE=soak)
 * <filter>        only the scenario files whose name contains it (the README is then left alone)
 * HEWN_FAULTS_STORES=sqlite|postgres   only that store
 * HEWN_FAULTS_SEED=<n>                 the fast-check seed of scenario 6
 */
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readResults, renderTable, updateReadme } from "./lib/results.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const args = process.argv.slice(2);
const soak = args.includes("--soak");
const filters = args.filter((arg) => !arg.startsWith("--"));
const files = readdirSync(here)
  .filter((file) => file.endsWith(".fault.ts"))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort()
  .map((file) => path.join(here, file));
if (files.length === 0) {
  console.error(`no scenario matches ${filters.join(", ")}`);
  process.exit(2);
}

const resultsFile = path.join(os.tmpdir(), `hewn-faults-${process.pid}.jsonl`);
rmSync(resultsFile, { force: true });
const mode = soak ? "soak" : "CI";
const started = Date.now();
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, [
    "--import", "tsx", "--test", "--test-concurrency=1", `--test-timeout=${soak ? 4 * 3600_000 : 600_000}`, ...files,
  ], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, HEWN_FAULTS_MODE: soak ? "soak" : "ci", HEWN_FAULTS_RESULTS: resultsFile },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on("SIGINT", forward).on("SIGTERM", forward);
  child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});
const seconds = Math.round((Date.now() - started) / 1000);

const results = readResults(resultsFile);
rmSync(resultsFile, { force: true });
const date = new Date().toISOString().slice(0, 10);
const footer = [
  `runs: handler runs recorded (retries and re-runs after crashes included); lost: jobs not ending as their policy says;`,
  `duplicated: completion side-effects repeated with no crash or lost lease to explain them, or results written by a stale attempt.`,
  "",
  `_${date}, ${mode} mode (\`npm run test:faults${soak ? " -- --soak" : ""}\`), ${os.cpus().length} cores, Node ${process.versions.node}: `
    + `${results.length} scenario runs in ${seconds} s._`,
].join("\n");
const table = renderTable(results, footer);
console.log(`\n${table}\n`);

if (code !== 0) {
  console.error(`test:faults failed (exit ${code}) after ${seconds} s; README.md left unchanged`);
} else if (filters.length > 0 || process.env.HEWN_FAULTS_STORES) {
  console.log(`test:faults passed in ${seconds} s (a subset: README.md left unchanged)`);
} else {
  const readmePath = path.join(root, "README.md");
  writeFileSync(readmePath, updateReadme(readFileSync(readmePath, "utf8"), table));
  console.log(`test:faults passed in ${seconds} s; README.md's Reliability table updated`);
}
process.exit(code);
